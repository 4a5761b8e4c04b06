import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { Notifier } from '../async/notifier.js';
import { ClusterSetupError } from './errors.js';
import type { CollectorStatusEvent } from '../sinks/sink.js';
import { BARRIER_KEY_PREFIX, type StoredClusterCheckpoint } from './slot-writer.js';
import { type ControlRecord, parseControl } from './control.js';

/** The latest status record of a collector, as any instance of the cluster published it. */
export type ClusterCollectorStatus = CollectorStatusEvent & { instance?: string };

export interface StateViewOptions {
  kafka: Kafka;
  instance: string;
  group: string;
  checkpointsTopic: string;
  statusTopic: string;
  /** The config topic (operators' target states and requests); omitted: not followed. */
  configTopic?: string;
  /**
   * The correlation changelog (cluster correlation on): followed like the checkpoints, so the
   * instance that takes a slot restores its open windows from memory (a hot standby).
   */
  changelogTopic?: string;
  /** Each config-topic record, in order, with its offset (history first, then as they arrive). */
  onControl?(record: ControlRecord, offset: number): void;
  logger: Logger;
}

const MAX_RECORD_BYTES = 1 << 20;
const MAX_INSTANCES_PER_COLLECTOR = 64;

function oldestOf(byInstance: Map<string, ClusterCollectorStatus>): string {
  let oldest: [string, string] | undefined;
  for (const [instance, s] of byInstance) if (!oldest || s['@timestamp'] < oldest[1]) oldest = [instance, s['@timestamp']];
  return oldest![0];
}

function parseObject(buf: Buffer | null): Record<string, unknown> | null | undefined {
  if (buf === null) return null;
  if (buf.length > MAX_RECORD_BYTES) return undefined;
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every instance's copy of the cluster's shared state: the checkpoints topic (read_committed, so
 * only committed positions) and the status topic, read from the beginning and followed. A new
 * owner of a slot reads the slot's checkpoints from here after it fenced the old owner and this
 * view reached the partition's end (`caughtUp`). The consumer is in a group of its own (kafkajs
 * has no manual partition assignment) and never commits offsets.
 */
export class ClusterStateView {
  private consumer: Consumer | undefined;
  private readonly checkpoints = new Map<string, StoredClusterCheckpoint>();
  /** Latest status record per collector and per instance that published it. */
  private readonly statuses = new Map<string, Map<string, ClusterCollectorStatus>>();
  /** Next offset to read, per `topic:partition`. */
  private readonly positions = new Map<string, number>();
  private readonly moved = new Notifier();
  /** `topic NUL token` of the barrier records read. */
  private readonly barriers = new Set<string>();
  /** Changelog records by partition, then key (raw: parsed only by the instance that takes the slot). */
  private readonly changelog = new Map<number, Map<string, Buffer>>();
  private ignored = 0;

  constructor(private readonly o: StateViewOptions) {}

  /** Compacted topics of shared state (enrichment) and who applies their records; set by followShared(). */
  private shared: { topics: Set<string>; onRecord(key: string, value: Buffer | null): void } | undefined;

  /** Follow these topics too and hand each record to `onRecord`, in order (shared-state.ts); before start(). */
  followShared(topics: string[], onRecord: (key: string, value: Buffer | null) => void): void {
    this.shared = { topics: new Set(topics), onRecord };
  }

  /** Follow the correlation changelog too (cluster correlation on); before start(). */
  followChangelog(topic: string): void {
    this.o.changelogTopic = topic;
  }

  async start(): Promise<void> {
    const consumer = this.o.kafka.consumer({
      groupId: `fabric.${this.o.group}.view.${this.o.instance}.${randomUUID()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 250,
      sessionTimeout: 30_000,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({
      topics: [
        this.o.checkpointsTopic,
        this.o.statusTopic,
        ...(this.o.configTopic ? [this.o.configTopic] : []),
        ...(this.o.changelogTopic ? [this.o.changelogTopic] : []),
        ...(this.shared?.topics ?? []),
      ],
      fromBeginning: true,
    });
    // A fetch that holds only transaction markers (the end of a transactional log) never reaches
    // eachBatch; its END_BATCH_PROCESS still carries the marker's offset (docs/cluster-spike.md).
    // Not the high watermark: read_committed stops at the last stable offset, which can be below it.
    // kafkajs reports lastOffset = high watermark when nothing of the fetch was at or past the fetch
    // offset; that says nothing about how far we read, so it is skipped.
    // A consumer kafkajs will not restart would leave the view (and every slot take waiting on it)
    // frozen: start a new one; records it reads again are skipped by position (onBatch).
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.o.logger.error({ err: payload.error?.message, restart: payload.restart }, 'the cluster state view consumer crashed');
      if (!payload.restart && !this.stopping) void this.restart();
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const last = Number(payload.lastOffset);
      if (Number.isFinite(last) && last < Number(payload.highWatermark)) this.advance(payload.topic, payload.partition, last + 1);
    });
    await consumer.run({ autoCommit: false, eachBatch: (p) => this.onBatch(p) });
  }

  private stopping = false;

  private async restart(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    if (this.stopping) return;
    await this.start().catch((err: Error) => {
      this.o.logger.error({ err: err.message }, 'the cluster state view consumer could not be started again; retrying');
      setTimeout(() => void this.restart(), 2000).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect().catch(() => undefined);
    this.moved.notify();
  }

  checkpoint(collector: string): StoredClusterCheckpoint | undefined {
    return this.checkpoints.get(collector);
  }

  /**
   * The collector's latest state as `owner` published it when given (an instance that lost the
   * collector may still report it stopping after the new owner reported it running), else the
   * latest of any instance.
   */
  status(collector: string, owner?: string): ClusterCollectorStatus | undefined {
    const byInstance = this.statuses.get(collector);
    if (!byInstance) return undefined;
    if (owner !== undefined) return byInstance.get(owner);
    let latest: ClusterCollectorStatus | undefined;
    for (const s of byInstance.values()) if (!latest || s['@timestamp'] > latest['@timestamp']) latest = s;
    return latest;
  }

  /** Records skipped because they were not what this version writes (hostile or foreign data). */
  get ignoredRecords(): number {
    return this.ignored;
  }

  /** The changelog records of a partition (a copy: the view goes on following the topic). */
  changelogOf(partition: number): Map<string, Buffer> {
    return new Map(this.changelog.get(partition));
  }

  /**
   * Resolves once the view has read the barrier record with `token` (SlotWriter.barrier()) in each
   * of `topics` (default the checkpoints topic): then it holds everything committed to that
   * partition of them before it.
   */
  async barrier(token: string, timeoutMs = 30_000, topics: readonly string[] = [this.o.checkpointsTopic]): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const topic of topics) {
      while (!this.barriers.has(`${topic}\u0000${token}`)) {
        const left = until - Date.now();
        if (left <= 0)
          throw new ClusterSetupError(
            `the cluster state view did not read back its own barrier record within ${timeoutMs / 1000} s (topic ${topic}): the broker or this instance's view consumer is stuck; the slot is taken again`,
          );
        await this.moved.wait(AbortSignal.timeout(Math.min(left, 1000)));
      }
    }
  }

  private sawBarrier(topic: string, token: string): void {
    this.barriers.add(`${topic}\u0000${token}`);
    // Only the latest few matter (each reader waits for its own, just written).
    if (this.barriers.size > 1000) this.barriers.delete(this.barriers.values().next().value!);
    this.moved.notify();
  }

  /** Resolves once everything before `offset` in `topic`/`partition` was read. */
  async caughtUp(topic: string, partition: number, offset: number, signal?: AbortSignal): Promise<void> {
    while ((this.positions.get(`${topic}:${partition}`) ?? 0) < offset) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      await this.moved.wait(signal);
    }
  }

  private advance(topic: string, partition: number, next: number): void {
    const k = `${topic}:${partition}`;
    if ((this.positions.get(k) ?? 0) >= next) return;
    this.positions.set(k, next);
    this.moved.notify();
  }

  private async onBatch({ batch }: EachBatchPayload): Promise<void> {
    const isCheckpoint = batch.topic === this.o.checkpointsTopic;
    const isConfig = batch.topic === this.o.configTopic;
    const isChangelog = batch.topic === this.o.changelogTopic;
    const shared = this.shared?.topics.has(batch.topic) ? this.shared : undefined;
    // The consumer never commits, so after any rejoin of its group (a restart after an error, a
    // session lost while the process was stopped) kafkajs reads the partitions from the beginning
    // again. Records before the position were applied already, and so were the later ones of the
    // same keys: applying them again would move a checkpoint back while caughtUp() says the view
    // is at the end — a new owner would then start from an old position and emit duplicates.
    const from = this.positions.get(`${batch.topic}:${batch.partition}`) ?? 0;
    for (const m of batch.messages) {
      if (Number(m.offset) < from) continue;
      const key = m.key?.toString('utf8');
      // Shared and changelog records are parsed by whoever uses them, not here.
      if (shared) {
        if (key && (m.value === null || m.value.length <= MAX_RECORD_BYTES)) shared.onRecord(key, m.value);
        else this.ignored++;
        continue;
      }
      if (isChangelog) {
        if (key) this.onChangelog(batch.partition, key, m.value);
        else this.ignored++;
        continue;
      }
      const value = parseObject(m.value);
      if (!key || value === undefined) this.ignored++;
      else if (isConfig) {
        const record = value === null ? undefined : parseControl(key, value);
        if (record) this.o.onControl?.(record, Number(m.offset));
        else if (value !== null) this.ignored++;
      } else if (isCheckpoint) {
        if (key.startsWith(BARRIER_KEY_PREFIX)) {
          if (value !== null && typeof value.barrier === 'string') this.sawBarrier(batch.topic, value.barrier);
        } else if (value === null) this.checkpoints.delete(key);
        else if (typeof value.commit === 'string' && typeof value.instance === 'string' && 'value' in value) this.checkpoints.set(key, value as unknown as StoredClusterCheckpoint);
        else this.ignored++;
      } else if (value !== null && typeof value.state === 'string' && value.collector === key && typeof value['@timestamp'] === 'string') {
        const byInstance = this.statuses.get(key) ?? new Map<string, ClusterCollectorStatus>();
        byInstance.set(typeof value.instance === 'string' ? value.instance : '', value as unknown as ClusterCollectorStatus);
        // Anyone who can write to the topic can invent instances: keep the most recent few per collector.
        if (byInstance.size > MAX_INSTANCES_PER_COLLECTOR) byInstance.delete(oldestOf(byInstance));
        this.statuses.set(key, byInstance);
      } else if (value === null) this.statuses.delete(key);
      else this.ignored++;
    }
    const last = batch.lastOffset();
    if (last !== undefined && batch.messages.length > 0) this.advance(batch.topic, batch.partition, Number(last) + 1);
  }

  /** Parsing waits for the instance that restores the partition; only barriers are read here. */
  private onChangelog(partition: number, key: string, raw: Buffer | null): void {
    if (key.startsWith(BARRIER_KEY_PREFIX)) {
      const value = parseObject(raw);
      if (value && typeof value.barrier === 'string') this.sawBarrier(this.o.changelogTopic!, value.barrier);
      return;
    }
    let records = this.changelog.get(partition);
    if (raw === null) {
      records?.delete(key);
      return;
    }
    if (raw.length > MAX_RECORD_BYTES) {
      this.ignored++;
      return;
    }
    if (!records) this.changelog.set(partition, (records = new Map()));
    // A copy: the record is a view into the whole fetch response, which it would otherwise keep alive.
    records.set(key, Buffer.from(raw));
  }
}
