import type { Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Checkpoint } from '../plugin-api/index.js';
import type { OutboundRecord } from '../sinks/sink.js';
import { Notifier } from '../async/notifier.js';
import { sleep } from '../async/time.js';
import { describeKafkaError } from '../sinks/kafka/errors.js';
import { SlotFencedError } from './errors.js';
import type { ClusterMetrics } from './metrics.js';

/** A checkpoint as the checkpoints topic holds it (the record value; key = collector id). */
export interface StoredClusterCheckpoint {
  value: Checkpoint | null;
  updatedAt: string;
  /** The instance that committed it. */
  instance: string;
  /** Unique per transaction: how a writer whose commit's outcome is unknown finds out (recover()). */
  commit: string;
}

/** One collector's new position; `null` = reset (a tombstone: read from the configured start). */
export interface CheckpointUpdate {
  collector: string;
  value: Checkpoint | null;
}

interface PendingWrite {
  events: Message[];
  checkpoint: CheckpointUpdate | undefined;
  records?: readonly OutboundRecord[];
  /** A read barrier's token (see barrier()). */
  barrier?: string;
  resolve(): void;
  reject(err: Error): void;
}

export interface SlotWriterOptions {
  kafka: Kafka;
  /** `<prefix>slot-<n>` (or `<prefix>pinned-<collector>`): one holder at a time, Kafka fences the others. */
  transactionalId: string;
  /** Partition of the checkpoints topic this writer's collectors keep their positions in (their slot). */
  partition: number;
  eventsTopic: string;
  checkpointsTopic: string;
  /**
   * Topics a barrier record is written to, besides the checkpoints topic (partition = this writer's
   * partition): the correlation changelog, which a new owner must also have read to its end.
   */
  barrierTopics?: readonly string[];
  instance: string;
  metrics: ClusterMetrics;
  logger: Logger;
  /**
   * The instance's view of the checkpoints topic: after a commit whose outcome is unknown (the
   * broker did not answer), the writer re-initialises (which completes or aborts the transaction),
   * writes a barrier and reads the collector's stored checkpoint once the view has seen it.
   */
  view: { barrier(token: string): Promise<void>; checkpoint(collector: string): StoredClusterCheckpoint | undefined };
  /**
   * Whether this instance still owns the slot (or pin) as far as it knows. A failed transaction is
   * retried, and a commit of unknown outcome re-initialised, only while it does: re-initialising takes
   * the transactional id, and would fence a new owner that already started from the last committed
   * checkpoint — the retried batch would then be published twice.
   */
  owned(): boolean;
  /** The writer was fenced: another instance owns the slot now. Called once. */
  onFenced(err: SlotFencedError): void;
  /** Most events in one transaction. */
  maxEventsPerTransaction?: number;
  /** How long open() retries taking the transactional id (default 30 s). */
  openTimeoutMs?: number;
}

/** Key prefix of barrier records in the checkpoints topic ('!' is never in a collector id). */
export const BARRIER_KEY_PREFIX = '!barrier/';

/** Broker answers meaning a newer holder of the transactional id exists. */
const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

export function isFencedError(err: unknown): boolean {
  return describeKafkaError(err).types.some((t) => FENCED_TYPES.has(t));
}

/**
 * What became of a transaction whose commit went unanswered, judged from the collector's stored
 * checkpoint once the view has read past a barrier: `stored` is the stored record's commit id
 * ('' when there is none), `attempted` the unanswered one, `lastOwn` the last this writer committed
 * for the collector ('' for a reset; undefined when it has committed none). Neither ours nor our
 * last: another writer committed since — the slot moved while this process was not looking, and
 * the new owner started from that position, so retrying would publish the batch twice.
 */
export function unknownCommitOutcome(stored: string, attempted: string, lastOwn: string | undefined): 'committed' | 'aborted' | 'superseded' {
  if (stored === attempted) return 'committed';
  if (lastOwn !== undefined && stored !== lastOwn) return 'superseded';
  return 'aborted';
}

/**
 * Writes a slot's events and its collectors' checkpoints in Kafka transactions, so a
 * `read_committed` consumer sees each batch's events exactly when its checkpoint moved past them
 * (Kafka Connect's exactly-once source, KIP-618). Opening the writer (InitProducerId) fences any
 * earlier holder of the slot's transactional id: a stalled old owner's late writes are aborted and
 * never visible. Writes queued while a transaction runs go together into the next one (one
 * transaction costs about 20 ms here: bench/cluster/transactions.mjs), last position per collector
 * wins. A failed transaction is retried until it commits; only fencing or close() rejects.
 */
export class SlotWriter {
  private producer: Producer;
  private readonly queue: PendingWrite[] = [];
  private readonly wake = new Notifier();
  private running: Promise<void> | undefined;
  private closing = false;
  /** close() gave up waiting: the loop stops retrying. */
  private closed = false;
  private fenced: SlotFencedError | undefined;
  private seq = 0;
  /** Per collector, the commit id of the last checkpoint this writer committed ('' for a reset). */
  private readonly ownCommits = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly o: SlotWriterOptions) {
    this.log = o.logger.child({ transactionalId: o.transactionalId });
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.o.kafka.producer({
      transactionalId: this.o.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      // A stalled owner's open transaction is aborted by the broker after this, even if nobody takes the slot.
      transactionTimeout: 60_000,
      // kafkajs waits 300 ms before retrying CONCURRENT_TRANSACTIONS by default, which a transaction
      // started right after a commit often meets: 10 ms cuts p99 from 375 to 41 ms (docs/cluster-spike.md).
      retry: { initialRetryTime: 10, retries: 8 },
    });
  }

  /**
   * Take the transactional id: from here on, an earlier holder's writes fail (it is fenced).
   * Retried for a while: the transaction coordinator can be briefly unavailable (a broker's
   * first transactional client creates __transaction_state; a coordinator moving or loading),
   * and a slot whose writer never opened would have no collectors running at all.
   */
  async open(): Promise<void> {
    const until = Date.now() + (this.o.openTimeoutMs ?? 30_000);
    let backoff = 100;
    for (;;) {
      try {
        await this.initTransactions();
        break;
      } catch (err) {
        if (isFencedError(err) || this.closing || Date.now() + backoff > until) throw err;
        const facts = describeKafkaError(err);
        this.log.warn({ code: facts.code, err: facts.message }, 'taking the transactional id failed; retrying');
        await this.producer.disconnect().catch(() => undefined);
        this.producer = this.newProducer();
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
    this.running ??= this.loop();
  }

  /**
   * kafkajs' connect() asks for a producer id without the transactional id (that fences nobody);
   * the transactional InitProducerId — which bumps the epoch, fences every earlier holder and
   * completes or aborts its open transaction — is sent by the first transaction(). An empty
   * transaction aborted at once sends nothing more.
   */
  private async initTransactions(): Promise<void> {
    await this.producer.connect();
    const txn = await this.producer.transaction();
    await txn.abort();
  }

  /**
   * Resolves once `events`, `checkpoint` and `records` are committed together; rejects only when
   * fenced or closed.
   */
  write(events: Message[], checkpoint?: CheckpointUpdate, records?: readonly OutboundRecord[]): Promise<void> {
    if (this.fenced) return Promise.reject(this.fenced);
    if (this.closing) return Promise.reject(new SlotFencedError(`slot writer ${this.o.transactionalId} is closed: the slot moved; the batch is read again by its new owner`));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ events, checkpoint, ...(records && records.length > 0 ? { records } : {}), resolve, reject });
      this.wake.notify();
    });
  }

  /**
   * Write a barrier record to this writer's checkpoint partition, in a transaction after everything
   * queued before it, and resolve with its token once committed. A reader that has seen the token
   * has seen every record committed to the partition before it — including an earlier owner's last
   * transaction, which the broker completed or aborted before this writer's open() returned. The
   * partition's end offset cannot say that: kafkajs' ListOffsets asks read_committed, which answers
   * the last stable offset, and right after a commit that lags until the markers are written.
   */
  barrier(): Promise<string> {
    const token = this.nextBarrierToken();
    if (this.fenced) return Promise.reject(this.fenced);
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ events: [], checkpoint: undefined, barrier: token, resolve: () => resolve(token), reject });
      this.wake.notify();
    });
  }

  private nextBarrierToken(): string {
    return `${this.o.instance}:${process.pid}:${Date.now().toString(36)}:b${++this.seq}`;
  }

  private barrierMessage(token: string): Message {
    return { key: `${BARRIER_KEY_PREFIX}${this.o.partition}`, partition: this.o.partition, value: JSON.stringify({ barrier: token }) };
  }

  /** The barrier's records for the other topics that must be read to their end (barrierTopics). */
  private barrierRecords(token: string): OutboundRecord[] {
    return (this.o.barrierTopics ?? []).map((topic) => ({
      topic,
      partition: this.o.partition,
      key: `${BARRIER_KEY_PREFIX}${this.o.partition}`,
      value: JSON.stringify({ barrier: token }),
    }));
  }

  get isFenced(): boolean {
    return this.fenced !== undefined;
  }

  /** Commit what is queued (within `deadlineMs`), then release the transactional id. */
  async close(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.wake.notify();
    const until = Date.now() + deadlineMs;
    while (this.queue.length > 0 && Date.now() < until && !this.fenced) await sleep(20);
    this.closed = true;
    this.wake.notify();
    const left = this.queue.splice(0);
    for (const w of left) w.reject(new SlotFencedError(`slot writer ${this.o.transactionalId} closed before committing: the batch is read again by the slot's next owner`));
    await this.producer.disconnect().catch(() => undefined);
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    const max = this.o.maxEventsPerTransaction ?? 10_000;
    while (!this.fenced) {
      if (this.queue.length === 0 || this.closed) {
        if (this.closing) return;
        await this.wake.wait();
        continue;
      }
      let events = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || events + this.queue[n]!.events.length <= max)) events += this.queue[n++]!.events.length;
      const batch = this.queue.slice(0, n);
      const ok = await this.commitUntilDone(batch);
      this.queue.splice(0, n);
      if (ok) for (const w of batch) w.resolve();
      else for (const w of batch) w.reject(this.fenced ?? new SlotFencedError(`slot writer ${this.o.transactionalId} closed`));
    }
    for (const w of this.queue.splice(0)) w.reject(this.fenced!);
  }

  /** True once committed; false when fenced or closed past its deadline. */
  private async commitUntilDone(batch: PendingWrite[]): Promise<boolean> {
    const commit = `${this.o.instance}:${process.pid}:${Date.now().toString(36)}:${++this.seq}`;
    const latest = new Map<string, CheckpointUpdate>();
    for (const w of batch) if (w.checkpoint) latest.set(w.checkpoint.collector, w.checkpoint);
    const updatedAt = new Date().toISOString();
    const checkpointMessages: Message[] = [...latest.values()].map((c) => ({
      key: c.collector,
      partition: this.o.partition,
      value: c.value === null ? null : JSON.stringify({ value: c.value, updatedAt, instance: this.o.instance, commit } satisfies StoredClusterCheckpoint),
    }));
    const others = new Map<string, Message[]>();
    const addRecord = (r: OutboundRecord) => {
      const list = others.get(r.topic) ?? [];
      list.push({ key: r.key, partition: r.partition, value: r.value });
      others.set(r.topic, list);
    };
    for (const w of batch) {
      for (const r of w.records ?? []) addRecord(r);
      if (w.barrier) {
        checkpointMessages.push(this.barrierMessage(w.barrier));
        for (const r of this.barrierRecords(w.barrier)) addRecord(r);
      }
    }
    const topicMessages = [
      { topic: this.o.eventsTopic, messages: batch.flatMap((w) => w.events) },
      { topic: this.o.checkpointsTopic, messages: checkpointMessages },
      ...[...others].map(([topic, messages]) => ({ topic, messages })),
    ].filter((t) => t.messages.length > 0);
    let backoff = 50;
    for (let attempt = 0; ; attempt++) {
      if (this.closed || (attempt > 0 && !this.o.owned())) return false;
      const started = performance.now();
      let phase: 'send' | 'commit' = 'send';
      try {
        const txn = await this.producer.transaction();
        try {
          await txn.sendBatch({ topicMessages, acks: -1 });
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw err;
        }
        phase = 'commit';
        await txn.commit();
        this.noteOwn(latest.values(), commit);
        this.o.metrics.transactions.inc({ outcome: 'committed' });
        this.o.metrics.transactionSeconds.observe((performance.now() - started) / 1000);
        return true;
      } catch (err) {
        if (isFencedError(err)) {
          this.fence(err);
          return false;
        }
        const facts = describeKafkaError(err);
        this.log.warn({ phase, code: facts.code, err: facts.message }, 'transaction failed; retrying');
        this.o.metrics.transactions.inc({ outcome: 'aborted' });
        if ((phase === 'commit' || facts.connection) && this.o.owned()) {
          // The commit may have reached the coordinator: re-initialising completes or aborts it,
          // and the checkpoint it carried tells which (every transaction of events carries one).
          const outcome = await this.recover(commit, [...latest.values()]).catch((e: unknown) => {
            if (isFencedError(e)) this.fence(e);
            return 'unknown' as const;
          });
          if (this.fenced) return false;
          if (outcome === 'committed') {
            this.noteOwn(latest.values(), commit);
            return true;
          }
          if (outcome === 'superseded') {
            this.fence(new Error('another writer committed this slot after this one'));
            return false;
          }
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }

  /** Re-initialise the producer (bumping its epoch ends the unknown transaction) and look for our commit. */
  private noteOwn(checkpoints: Iterable<CheckpointUpdate>, commit: string): void {
    for (const c of checkpoints) this.ownCommits.set(c.collector, c.value === null ? '' : commit);
  }

  private async recover(commit: string, checkpoints: CheckpointUpdate[]): Promise<'committed' | 'aborted' | 'superseded' | 'unknown'> {
    await this.producer.disconnect().catch(() => undefined);
    this.producer = this.newProducer();
    await this.initTransactions();
    const probe = checkpoints.find((c) => c.value !== null);
    if (!probe) return 'unknown';
    // Not through the queue: this runs inside the loop, which would wait for itself.
    const token = this.nextBarrierToken();
    const txn = await this.producer.transaction();
    try {
      await txn.sendBatch({ topicMessages: [{ topic: this.o.checkpointsTopic, messages: [this.barrierMessage(token)] }], acks: -1 });
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    await txn.commit();
    await this.o.view.barrier(token);
    return unknownCommitOutcome(this.o.view.checkpoint(probe.collector)?.commit ?? '', commit, this.ownCommits.get(probe.collector));
  }

  private fence(err: unknown): void {
    if (this.fenced) return;
    this.fenced = new SlotFencedError(
      `instance ${this.o.instance} was fenced out of ${this.o.transactionalId}: another instance took the slot (after a rebalance, or because this one stalled past the session timeout); its uncommitted batches are read again by the owner`,
    );
    this.o.metrics.fencedWrites.inc();
    this.o.metrics.transactions.inc({ outcome: 'fenced' });
    this.log.warn({ err: describeKafkaError(err).code, detail: (err as Error).message }, 'fenced: another instance took this slot');
    for (const w of this.queue.splice(0)) w.reject(this.fenced);
    this.o.onFenced(this.fenced);
  }
}
