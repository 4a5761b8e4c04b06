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
