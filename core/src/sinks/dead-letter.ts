import type { Logger } from 'pino';
import type { DeadLetterRecord } from '../host.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import { asRefused, describeValue, type RejectCode } from '../events/sanitize.js';
import { RECORD_SCHEMA_VERSION } from './sink.js';

export type { DeadLetterRecord } from '../host.js';

/** Where dead letters are made durable: a JSONL file, or the Kafka sink's dead-letter topic. */
export interface DeadLetterTarget {
  readonly type: string;
  /** Where records go, for logs and the admin API (a path or a topic). */
  readonly location: string;
  start(): Promise<void>;
  /** Resolves once the records are durable. */
  write(records: readonly DeadLetterRecord[]): Promise<void>;
  close(deadlineMs: number): Promise<void>;
}

export interface DeadLetterOptions {
  /** None: records are only counted, logged and kept in memory (tests, `dead_letter.enabled: false`). */
  target?: DeadLetterTarget;
  metrics?: FabricMetrics;
  logger: Logger;
  /** Most recent records kept in memory for `GET /dead-letters`. */
  recent?: number;
  /** Cap on `original` (UTF-16 code units). */
  maxOriginalBytes?: number;
}

export interface DeadLetterInput {
  collector: string;
  plugin: string;
  stage: DeadLetterRecord['stage'];
  code: RejectCode | string;
  message: string;
  original: unknown;
}

const LOG_BURST = 20;
/** Characters of `original` kept in memory per record (GET /dead-letters); the file or topic has more. */
const RING_ORIGINAL = 8192;
const LOG_WINDOW_MS = 60_000;

/**
 * The dead-letter queue: counts (metrics and per collector), a bounded ring of recent records
 * for the admin API, and the durable target. `add` never rejects and never throws: a failure to
 * write a dead letter is logged and counted, and must not cost the valid events of its batch.
 */
export class DeadLetterQueue {
  private readonly ring: DeadLetterRecord[] = [];
  private readonly ringSize: number;
  private readonly maxOriginal: number;
  private readonly perCollector = new Map<string, Map<string, number>>();
  private writeFailures = 0;
  /** Per collector: log lines written in the current window, and records not logged. */
  private readonly logWindow = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(private readonly opts: DeadLetterOptions) {
    this.ringSize = Math.max(0, opts.recent ?? 1000);
    this.maxOriginal = Math.max(256, opts.maxOriginalBytes ?? 65_536);
  }

  get location(): string | undefined {
    return this.opts.target?.location;
  }

  async start(): Promise<void> {
    await this.opts.target?.start();
  }

  async close(deadlineMs: number): Promise<void> {
    await this.opts.target?.close(deadlineMs).catch((err: Error) => this.opts.logger.error({ err: err.message }, 'closing the dead-letter target failed'));
  }

  /** Record refused events; resolves when they are durable, or when writing them failed (logged). */
  async add(inputs: readonly DeadLetterInput[]): Promise<void> {
    if (inputs.length === 0) return;
    const records: DeadLetterRecord[] = [];
    for (const i of inputs) {
      try {
        records.push(this.toRecord(i));
      } catch (err) {
        // describeValue does not throw; this is the last line of defence for the batch.
        this.opts.logger.error({ collector: i.collector, err: safeMessage(err) }, 'could not build a dead-letter record');
      }
    }
    const target = this.opts.target;
    if (!target) return;
    try {
      await target.write(records);
    } catch (err) {
      this.writeFailures += records.length;
      this.opts.metrics?.deadLetterWriteFailures.inc(records.length);
      this.opts.logger.error(
        { target: target.location, records: records.length, err: safeMessage(err) },
        'dead-letter records could not be written; they are in the log and GET /dead-letters only',
      );
    }
  }

  private toRecord(i: DeadLetterInput): DeadLetterRecord {
    // An event refused in a plugin's worker arrives as its text form; describing the marker would lose it.
    const seen = asRefused(i.original)?.original;
    const original = seen
      ? { text: seen.text.slice(0, this.maxOriginal), truncated: seen.truncated || seen.text.length > this.maxOriginal, length: seen.length }
      : describeValue(i.original, this.maxOriginal);
    const record: DeadLetterRecord = {
      '@timestamp': new Date().toISOString(),
      collector: i.collector,
      plugin: i.plugin,
      stage: i.stage,
      reason: { code: i.code, message: i.message },
      original: original.text,
      original_length: original.length,
      original_truncated: original.truncated,
      schema_version: RECORD_SCHEMA_VERSION,
    };
    const counts = this.perCollector.get(i.collector) ?? new Map<string, number>();
    counts.set(i.code, (counts.get(i.code) ?? 0) + 1);
    this.perCollector.set(i.collector, counts);
    this.opts.metrics?.eventsDeadLettered.inc({ collector: i.collector, reason: i.code });
    if (this.ringSize > 0) {
      // The durable copy keeps up to max_original_bytes; memory keeps less, so the ring stays small.
      this.ring.push(record.original.length > RING_ORIGINAL ? { ...record, original: record.original.slice(0, RING_ORIGINAL), original_truncated: true } : record);
      if (this.ring.length > this.ringSize) this.ring.shift();
    }
    this.log(i);
    return record;
  }

  /**
   * One warn line per record, but at most LOG_BURST per collector per LOG_WINDOW_MS: a source
   * full of bad lines must not flood the log (the metric and the file count every one).
   */
  private log(i: DeadLetterInput): void {
    const now = Date.now();
    let w = this.logWindow.get(i.collector);
    if (!w || now - w.start >= LOG_WINDOW_MS) {
      if (w && w.suppressed > 0)
        this.opts.logger.warn(
          { collector: i.collector, suppressed: w.suppressed, target: this.opts.target?.location },
          `${w.suppressed} more event(s) dead-lettered without a log line; see fabric_events_dead_lettered_total and GET /dead-letters`,
        );
      w = { start: now, logged: 0, suppressed: 0 };
      this.logWindow.set(i.collector, w);
    }
    if (w.logged >= LOG_BURST) {
      w.suppressed++;
      return;
    }
    w.logged++;
    this.opts.logger.warn(
      { collector: i.collector, plugin: i.plugin, stage: i.stage, code: i.code, reason: i.message, target: this.opts.target?.location },
      'event dead-lettered; the rest of its batch goes on',
    );
  }

  /** Most recent first, optionally of one collector. */
  recent(limit = 100, collector?: string): DeadLetterRecord[] {
    const out: DeadLetterRecord[] = [];
    for (let i = this.ring.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.ring[i]!;
      if (!collector || r.collector === collector) out.push(r);
    }
    return out;
  }

  /** Dead letters of one collector since start, by reason code. */
  countsOf(collector: string): { total: number; byReason: Record<string, number> } {
    const byReason: Record<string, number> = {};
    let total = 0;
    for (const [code, n] of this.perCollector.get(collector) ?? []) {
      byReason[code] = n;
      total += n;
    }
    return { total, byReason };
  }

  /** Totals since start: records, and records that could not be made durable. */
  totals(): { total: number; writeFailures: number } {
    let total = 0;
    for (const counts of this.perCollector.values()) for (const n of counts.values()) total += n;
    return { total, writeFailures: this.writeFailures };
  }
}

function safeMessage(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}
