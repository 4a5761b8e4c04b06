import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message } from 'kafkajs';
import type { Logger } from 'pino';
import type { FabricEvent, Priority } from '../../plugin-api/index.js';
import type { ClusterMetrics } from '../../cluster/metrics.js';
import type { SlotWork } from '../../cluster/node.js';
import type { SlotWriter } from '../../cluster/slot-writer.js';
import type { ClusterStateView } from '../../cluster/state-view.js';
import { priorityOf } from '../../events/normalize.js';
import { PRIORITY_ORDER } from '../../events/priority.js';
import { eventMessage } from '../../sinks/kafka/messages.js';
import type { OutboundRecord } from '../../sinks/sink.js';
import type { EngineDelta, EngineSnapshot, SnapshotGroup } from '../checkpoint.js';
import type { CorrelationConfig } from '../config.js';
import { CorrelationEngine, engineLimits } from '../engine.js';
import type { CorrelationRule } from '../rule.js';
import { sanitizeState } from '../state-sanitize.js';
import { groupKey } from '../window-state.js';

/** Checkpoint key of a correlation partition's consumed position ('!' is never in a collector id). */
export const CORRELATION_CHECKPOINT_PREFIX = '!correlation/';

/**
 * How often each partition's engine is run with nothing new: wall time alone retires idle
 * collectors and closes windows (rules decided at window close fire then), as every batch of any
 * collector does in one process.
 */
const TICK_MS = 1000;

/**
 * Correlated batches of one partition whose transaction may still be open. The slot writer puts
 * what queued meanwhile into one transaction, so correlation does not wait a commit per fetch.
 */
const MAX_UNCOMMITTED = 32;

/** Largest record of the correlation topic read; a larger one is counted and skipped. */
const MAX_RECORD_BYTES = 4 << 20;

export interface CorrelatorOptions {
  kafka: Kafka;
  group: string;
  instance: string;
  /** The re-keyed detections and watermark records (partition = slot). */
  topic: string;
  /** Compacted: each partition's open groups, fired alert ids and event time. */
  changelogTopic: string;
  rules: readonly CorrelationRule[];
  config: CorrelationConfig;
  minPriority: Priority;
  /**
   * `orchestrator.event_deduplication_window_seconds` in ms: a detection whose fingerprint this
   * partition correlated within it is not counted again (the same line read by collectors on two
   * instances, which each instance's own de-duplication cannot see).
   */
  dedupWindowMs: number;
  view: ClusterStateView;
  metrics: ClusterMetrics;
  logger: Logger;
  now?: () => number;
}

/** One correlation partition this instance owns: its engine and the slot writer it commits with. */
interface Part {
  slot: number;
  engine: CorrelationEngine;
  writer: SlotWriter;
  /** Next offset of the correlation topic to correlate. */
  next: number;
  closed: boolean;
  /** The batch being correlated and committed (one at a time per partition). */
  busy: Promise<void>;
  /** Fingerprints correlated within the de-duplication window → when they expire (wall clock), oldest first. */
  seen: Map<string, number>;
  /** A tick waits in `busy` already. */
  ticking: boolean;
  /** Settles when every batch correlated so far is committed (or its commit failed). */
  committed: Promise<void>;
  uncommitted: number;
}

type Parsed = { kind: 'detection'; event: FabricEvent; rules: Set<string> } | { kind: 'watermark'; collector: string; t: number } | { kind: 'ignored' };

/** One record of the correlation topic, refused (`ignored`) unless it has the shape this version writes. */
export function parseRecord(m: Pick<KafkaMessage, 'value'>): Parsed {
  const raw = m.value;
  if (!raw || raw.length > MAX_RECORD_BYTES) return { kind: 'ignored' };
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    return { kind: 'ignored' };
  }
  if (v === null || typeof v !== 'object') return { kind: 'ignored' };
  const rec = v as { d?: unknown; r?: unknown; w?: unknown };
  if (rec.w !== null && typeof rec.w === 'object') {
    const w = rec.w as { c?: unknown; t?: unknown };
    if (typeof w.c === 'string' && typeof w.t === 'number' && Number.isFinite(w.t)) return { kind: 'watermark', collector: w.c, t: w.t };
    return { kind: 'ignored' };
  }
  const d = rec.d as FabricEvent | undefined;
  if (!d || typeof d !== 'object' || !Array.isArray(rec.r) || typeof d.fabric !== 'object' || d.fabric === null || typeof d.event !== 'object' || d.event === null)
    return { kind: 'ignored' };
  return { kind: 'detection', event: d, rules: new Set(rec.r.filter((x): x is string => typeof x === 'string')) };
}

/** Changelog keys: one record per group, per fired alert id, and one for the partition's event time. */
const GROUP = 'g\u0000';
const FIRED = 'a\u0000';
const META = 'm';
const SEEN = 'f\u0000';

/** What changed in an engine, as changelog records of its partition (a tombstone for a forgotten group). */
export function changelogRecords(topic: string, partition: number, delta: EngineDelta): OutboundRecord[] {
  const out: OutboundRecord[] = [];
  for (const [rule, key] of delta.deleted) out.push({ topic, partition, key: `${GROUP}${rule}\u0000${key}`, value: null });
  for (const g of delta.groups) out.push({ topic, partition, key: `${GROUP}${g[0]}\u0000${groupKey(g[1])}`, value: JSON.stringify(g) });
  for (const id of delta.alerts) out.push({ topic, partition, key: `${FIRED}${id}`, value: '1' });
  out.push({ topic, partition, key: META, value: JSON.stringify({ watermark: delta.watermark, collectors: delta.collectors, rules: delta.rules }) });
  return out;
}

/** The engine snapshot a partition's changelog records hold (the view keeps the latest per key). */
export function snapshotOf(records: ReadonlyMap<string, Buffer>, now: number): { snapshot: EngineSnapshot; seen: Map<string, number>; ignored: number } {
  const snapshot: EngineSnapshot = { watermark: null, collectors: {}, rules: {}, alerts: [], groups: [] };
  const seen: Array<[string, number]> = [];
  let ignored = 0;
  for (const [key, raw] of records) {
    try {
      if (key.startsWith(FIRED)) snapshot.alerts.push(key.slice(FIRED.length));
      else if (key.startsWith(SEEN)) {
        const expires = Number(raw.toString('utf8'));
        if (Number.isFinite(expires) && expires > now) seen.push([key.slice(SEEN.length), expires]);
      } else if (key.startsWith(GROUP)) {
        const g: unknown = JSON.parse(raw.toString('utf8'));
        if (Array.isArray(g) && g.length === 6 && typeof g[0] === 'string' && Array.isArray(g[1]) && Array.isArray(g[5])) snapshot.groups.push(g as SnapshotGroup);
        else ignored++;
      } else if (key === META) {
        const m = JSON.parse(raw.toString('utf8')) as Partial<EngineSnapshot>;
        if (typeof m.watermark === 'number' || m.watermark === null) snapshot.watermark = m.watermark ?? null;
        if (m.collectors && typeof m.collectors === 'object') snapshot.collectors = m.collectors;
        if (m.rules && typeof m.rules === 'object') snapshot.rules = m.rules;
      } else ignored++;
    } catch {
      ignored++;
    }
  }
  // Expiry order, which purging relies on.
  seen.sort((a, b) => a[1] - b[1]);
  return { snapshot, seen: new Map(seen), ignored };
}

/**
 * Correlation in a cluster: the owner of slot n correlates partition n of the correlation topic,
 * where every instance re-keyed the detections of that partition's groups (correlation-forwarder.ts),
 * so one engine sees every detection of a group whichever instances read them. Each correlated
 * batch — its alerts, what changed in the engine (changelog records) and the position after it —
 * is committed in one transaction of the slot's writer: the Kafka Streams exactly-once pattern. A
 * new owner fences the old one (taking the slot), reads the changelog partition to its end (the
 * view follows it), restores the engine and goes on from the committed position: every open window
 * survives, no alert is lost or fired twice.
 */
export class Correlator implements SlotWork {
  private consumer: Consumer | undefined;
  private readonly parts = new Map<number, Part>();
  private stopping = false;
  private ticker: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly o: CorrelatorOptions) {
    this.log = o.logger.child({ component: 'cluster-correlation' });
    this.now = o.now ?? Date.now;
  }

  get changelogTopic(): string {
    return this.o.changelogTopic;
  }

  async start(): Promise<void> {
    // A group of its own (kafkajs has no manual assignment): it is given every partition, pauses
    // them all, and reads only the ones this instance owns, from their committed positions.
    const consumer = this.o.kafka.consumer({
      groupId: `fabric.${this.o.group}.correlator.${this.o.instance}.${randomUUID()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: 30_000,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.o.topic], fromBeginning: false });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error?.message, restart: payload.restart }, 'the correlation consumer crashed');
      if (!payload.restart && !this.stopping) void this.restart();
    });
    await consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 4, eachBatch: (p) => this.onBatch(p) });
    this.ticker ??= setInterval(() => this.tick(), TICK_MS).unref();
    consumer.pause([{ topic: this.o.topic }]);
    for (const part of this.parts.values()) this.resumeAt(part);
  }

  private async restart(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    if (this.stopping) return;
    await this.start().catch((err: Error) => {
      this.log.error({ err: err.message }, 'the correlation consumer could not be started again; retrying');
      setTimeout(() => void this.restart(), 2000).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    await Promise.all([...this.parts.keys()].map((s) => this.release(s)));
    await this.consumer?.disconnect().catch(() => undefined);
  }

  /**
   * Correlate partition `slot`, committing with `writer`. The caller has fenced the old owner with
   * that writer and the view has read the slot's checkpoints and changelog to their end.
   */
  take(slot: number, writer: SlotWriter): void {
    if (this.stopping || this.parts.has(slot)) return;
    const engine = this.newEngine();
    const { snapshot, seen, ignored } = snapshotOf(this.o.view.changelogOf(slot), this.now());
    // The same checks as a state file's: one impossible time must not decide (or block) every window.
    const warnings = sanitizeState(snapshot, `${this.o.changelogTopic} partition ${slot}`, {
      now: this.now(),
      maxClockSkewMs: this.o.config.max_clock_skew_seconds * 1000,
      warn: () => {},
    });
    for (const w of warnings.slice(0, 20)) this.log.warn({ slot, field: w.field }, w.message);
    try {
      const r = engine.restore(snapshot);
      if (r.groups > 0 || r.dropped > 0 || ignored > 0) this.log.info({ slot, groups: r.groups, dropped: r.dropped, ignored }, 'correlation partition restored from the changelog');
    } catch (err) {
      // A broken changelog must not stop correlation: start the partition empty, loudly.
      this.log.error({ slot, err: (err as Error).message }, 'correlation changelog of the partition unusable; its open windows are lost');
    }
    engine.markClean();
    const stored = this.o.view.checkpoint(`${CORRELATION_CHECKPOINT_PREFIX}${slot}`)?.value as { offset?: unknown } | null | undefined;
    const next = typeof stored?.offset === 'string' && /^\d+$/.test(stored.offset) ? Number(stored.offset) : 0;
    const part: Part = { slot, engine, writer, next, closed: false, busy: Promise.resolve(), seen, ticking: false, committed: Promise.resolve(), uncommitted: 0 };
    this.parts.set(slot, part);
    this.updateGroups();
    this.resumeAt(part);
  }

  /** Stop correlating `slot` (it moved, or its writer was fenced): what is in flight finishes or fails first. */
  async release(slot: number): Promise<void> {
    const part = this.parts.get(slot);
    if (!part) return;
    part.closed = true;
    this.parts.delete(slot);
    try {
      this.consumer?.pause([{ topic: this.o.topic, partitions: [slot] }]);
    } catch {
      // Not running (stopping): nothing to pause.
    }
    await part.busy.catch(() => undefined);
    await part.committed;
    this.updateGroups();
  }

  private resumeAt(part: Part): void {
    if (!this.consumer) return;
    try {
      // Earliest when nothing was committed yet: the topic's retention may have removed offset 0.
      this.consumer.seek({ topic: this.o.topic, partition: part.slot, offset: part.next === 0 ? '-2' : String(part.next) });
      this.consumer.resume([{ topic: this.o.topic, partitions: [part.slot] }]);
    } catch (err) {
      this.log.warn({ slot: part.slot, err: (err as Error).message }, 'could not position the correlation consumer; retried when it restarts');
    }
  }

  private newEngine(): CorrelationEngine {
    return new CorrelationEngine(this.o.rules, {
      ...engineLimits(this.o.config),
      now: this.now,
      hooks: { alert: (rule, emitted) => emitted && this.o.metrics.correlationAlerts.inc({ rule: rule.name ?? rule.key }) },
    });
  }

  private tick(): void {
    for (const part of this.parts.values()) {
      if (part.closed || part.ticking) continue;
      part.ticking = true;
      const run = part.busy.then(() => {
        part.ticking = false;
        return this.correlate(part, []);
      });
      part.busy = run.catch(() => undefined);
      void run.catch((err: Error) => {
        this.log.warn({ slot: part.slot, err: err.message }, 'correlation state not committed: the partition stops here (its next owner correlates it again)');
        void this.release(part.slot);
      });
    }
  }

  private async onBatch({ batch }: EachBatchPayload): Promise<void> {
    const part = this.parts.get(batch.partition);
    if (!part || part.closed || batch.messages.length === 0) return;
    const run = part.busy.then(() => this.correlate(part, batch.messages));
    part.busy = run.catch(() => undefined);
    await run.catch((err: Error) => {
      this.log.warn({ slot: part.slot, err: err.message }, 'correlated batch not committed: the partition stops here (its next owner correlates it again)');
      void this.release(part.slot);
    });
  }

  /**
   * Correlate records in order: detections between two watermark records go through the engine
   * together, then the watermark moves, so a collector's event time never overtakes its own data.
   */
  private async correlate(part: Part, messages: KafkaMessage[]): Promise<void> {
    if (part.closed) return;
    const alerts: FabricEvent[] = [];
    let pending: FabricEvent[] = [];
    let only = new Map<FabricEvent, ReadonlySet<string>>();
    let processed = 0;
    let last = -1;
    const wall = this.now();
    const seenNow: OutboundRecord[] = [];
    // Expired fingerprints leave the changelog too (tombstones), so it holds only the window.
    for (const [fp, expires] of part.seen) {
      if (expires > wall) break;
      part.seen.delete(fp);
      seenNow.push({ topic: this.o.changelogTopic, partition: part.slot, key: `${SEEN}${fp}`, value: null });
    }
    const flush = () => {
      alerts.push(...part.engine.process(pending, only));
      processed++;
      pending = [];
      only = new Map();
    };
    for (const m of messages) {
      const offset = Number(m.offset);
      // A fetch from before a seek can still arrive: what was correlated stays correlated.
      if (offset < part.next) continue;
      last = offset;
      if (m.key?.toString('utf8').startsWith('!barrier/')) continue;
      const r = parseRecord(m);
      this.o.metrics.correlationRecords.inc({ kind: r.kind });
      if (r.kind === 'detection') {
        const fp = r.event.fabric.fingerprint;
        if (this.o.dedupWindowMs > 0 && typeof fp === 'string') {
          const expires = part.seen.get(fp);
          if (expires !== undefined && expires > wall) {
            this.o.metrics.correlationRecords.inc({ kind: 'duplicate' });
            continue;
          }
          part.seen.delete(fp);
          part.seen.set(fp, wall + this.o.dedupWindowMs);
          seenNow.push({ topic: this.o.changelogTopic, partition: part.slot, key: `${SEEN}${fp}`, value: String(wall + this.o.dedupWindowMs) });
        }
        pending.push(r.event);
        only.set(r.event, r.rules);
      } else if (r.kind === 'watermark') {
        if (pending.length > 0) flush();
        part.engine.observeTime(r.collector, r.t);
      }
    }
    // Records that were all correlated before: nothing to do. No records at all: a tick.
    if (last < 0 && messages.length > 0) return;
    // Also with nothing pending: the watermarks read, or the wall clock, may close windows (lt/lte/eq rules fire then).
    flush();
    if (last < 0 && alerts.length === 0 && !part.engine.changed && seenNow.length === 0) {
      for (let i = 0; i < processed; i++) part.engine.acknowledge();
      return;
    }
    const position = last < 0 ? part.next : last + 1;
    const min = PRIORITY_ORDER[this.o.minPriority];
    const published: Message[] = alerts.filter((a) => PRIORITY_ORDER[priorityOf(a)] >= min).map((a) => eventMessage(a));
    const { delta } = part.engine.delta();
    const records = [...seenNow, ...changelogRecords(this.o.changelogTopic, part.slot, delta)];
    let bytes = 0;
    for (const r of records) bytes += r.key.length + (r.value?.length ?? 0);
    const write = part.writer.write(published, { collector: `${CORRELATION_CHECKPOINT_PREFIX}${part.slot}`, value: { offset: String(position) } }, records);
    part.next = position;
    part.uncommitted++;
    // Commits complete in the order they were queued, so the engine's acknowledgements stay in order.
    const done = write.then(
      () => {
        this.o.metrics.changelogBytes.inc(bytes);
        for (let i = 0; i < processed; i++) part.engine.acknowledge();
        this.updateGroups();
      },
      (err: Error) => {
        // The engine is ahead of what is committed: the partition stops, and its next owner (this
        // instance again, if the slot comes back) restores it from the changelog.
        if (part.closed) return;
        this.log.warn({ slot: part.slot, err: err.message }, 'correlated batch not committed: the partition stops here (its next owner correlates it again)');
        void this.release(part.slot);
      },
    );
    part.committed = part.committed.then(() => done).finally(() => part.uncommitted--);
    if (part.uncommitted >= MAX_UNCOMMITTED) await part.committed;
  }

  private updateGroups(): void {
    let n = 0;
    for (const p of this.parts.values()) n += p.engine.groupCount;
    this.o.metrics.correlationGroups.set(n);
  }
}
