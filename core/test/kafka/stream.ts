import { appendFileSync } from 'node:fs';
import { setInterval as every, setTimeout as delay } from 'node:timers/promises';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

/** An sshd failure line as a honeypot logs it; `seq=` makes every line identifiable in the topic. */
export function syslogLine(seq: number): string {
  const ts = new Date(Date.UTC(2026, 10, 27, 8, 0, 0) + seq * 10);
  const stamp = `${ts.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(ts.getUTCDate()).padStart(2, ' ')} ${ts.toISOString().slice(11, 19)}`;
  return `${stamp} honeypot sshd[${1000 + (seq % 5000)}]: Failed password for root from 198.51.100.${(seq % 250) + 1} port ${20000 + (seq % 40000)} ssh2 seq=${seq}\n`;
}

/** How many times each line (by seq) is in the records read back. */
export function seqsIn(records: Array<{ value: string }>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const r of records) {
    const m = /seq=(\d+)/.exec(r.value);
    if (m) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  }
  return counts;
}

/** Records in a topic (sum of high watermarks); 0 before it exists. */
export async function topicCount(bootstrap: string, topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'fabric-test-count', brokers: [bootstrap], connectionTimeout: 2000, retry: { retries: 1 }, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, o) => n + Number(o.high), 0);
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * The gap between two steps of a load generator or a sampler. It sets a rate and waits for
 * nothing: the tests wait on events or conditions, never on a guessed time.
 */
export function pace(ms: number): Promise<void> {
  return delay(ms);
}

export interface HoneypotLog {
  /** Lines appended so far. */
  readonly written: number;
  /** Settles once all lines are appended. */
  readonly finished: Promise<void>;
  /** Settles at the next append (at once if all lines are appended). */
  grown(): Promise<void>;
}

/**
 * A honeypot logging at a steady rate: `total` syslog lines appended to `file`, `perTick` lines
 * every `tickMs`, the first batch at once. The rate is the load the test puts on fabric, not a
 * wait: tests wait on grown() / finished, or on what fabric did with the lines.
 */
export function honeypotLog(file: string, total: number, perTick: number, tickMs: number): HoneypotLog {
  let written = 0;
  let waiters: Array<() => void> = [];
  const append = () => {
    let chunk = '';
    for (let i = 0; i < perTick && written < total; i++) chunk += syslogLine(written++);
    appendFileSync(file, chunk);
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  };
  const finished = (async () => {
    append();
    if (written >= total) return;
    for await (const _ of every(tickMs)) {
      append();
      if (written >= total) return;
    }
  })();
  return {
    get written() {
      return written;
    },
    finished,
    grown: () => (written >= total ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
  };
}
