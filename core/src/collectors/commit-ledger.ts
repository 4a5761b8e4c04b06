import type { Logger } from 'pino';
import type { Checkpoint } from '../plugin-api/index.js';
import type { CheckpointSummary } from '../host.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { CheckpointStore } from '../state/checkpoint-store.js';
import { Notifier } from '../async/notifier.js';
import type { CodesOf } from '../errors/codes.js';
import type { ErrorInfo } from './machine.js';

/** Error codes the collector itself raises (besides the plugin's). */
export const CollectorErrorCodes = {
  /** The checkpoint could not be written (disk full, unwritable state_dir): replay after a restart grows. */
  CHECKPOINT_WRITE_FAILED: 'CHECKPOINT_WRITE_FAILED',
  /** A batch was not acknowledged by the sink: nothing from it on is committed; it is read again. */
  BATCH_NOT_ACKNOWLEDGED: 'BATCH_NOT_ACKNOWLEDGED',
} as const satisfies Partial<CodesOf<'collector'>>;

/** One polled batch on its way to the sink. */
export interface PendingCommit {
  readonly checkpoint: Checkpoint;
  readonly events: number;
  done: boolean;
  /** submit() rejected: this position, and every later one, must never be committed. */
  failed: boolean;
}

export interface CommitLedgerOptions {
  collectorId: string;
  checkpoints: CheckpointStore;
  metrics: FabricMetrics;
  logger: Logger;
  /** Most batches read ahead of the written checkpoint (= the most a crash can repeat). */
  maxUncommittedBatches: number;
  /** The stored checkpoint when the collector was created. */
  initial: CheckpointSummary;
  /** The first failed write after a good one (or ever): the collector must not look healthy. */
  onWriteFailed(error: ErrorInfo): void;
}

/**
 * Keeps checkpoints honest: a position is written only after every batch before it and the
 * batch itself were acknowledged by the sink, and never past a batch the sink refused. Writes
 * are coalesced (while one is on disk, only the newest position is worth writing next), and
 * polling waits while too many batches are read but not yet covered by a written position.
 */
export class CommitLedger {
  /** The last checkpoint written to the store. */
  committed: CheckpointSummary;
  /** Set while checkpoint writes fail; cleared by the next write that succeeds. */
  writeError: ErrorInfo | undefined;
  /** Events polled but not yet acknowledged by the sink. */
  inFlightEvents = 0;
  private commits: PendingCommit[] = [];
  private chain: Promise<void> = Promise.resolve();
  private next: { value: Checkpoint; batches: number } | undefined;
  private writing = false;
  /** Batches polled whose position is not yet written. */
  private uncommitted = 0;
  /** Wakes waiters when a batch settles, a write ends or room frees up. */
  private readonly changed = new Notifier();

  constructor(private readonly opts: CommitLedgerOptions) {
    this.committed = opts.initial;
  }

  /** Record a polled batch; settle it with `acknowledge` or `fail` when the pipeline answers. */
  track(checkpoint: Checkpoint, events: number): PendingCommit {
    const entry: PendingCommit = { checkpoint, events, done: false, failed: false };
    this.commits.push(entry);
    this.uncommitted++;
    this.inFlightEvents += events;
    this.updateLag();
    return entry;
  }

  acknowledge(entry: PendingCommit): void {
    entry.done = true;
    let latest: PendingCommit | undefined;
    let batches = 0;
    // A failed entry is never done: commits stop in front of it.
    while (this.commits[0]?.done) {
      latest = this.commits.shift()!;
      batches++;
      this.inFlightEvents -= latest.events;
    }
    this.updateLag();
    this.changed.notify();
    if (!latest) return;
    if (this.opts.checkpoints.committedWithBatch) {
      // The sink committed this position with the batch's events: nothing left to write.
      this.committed = { value: latest.checkpoint, updatedAt: new Date().toISOString() };
      this.uncommitted -= batches;
      this.changed.notify();
      return;
    }
    this.next = { value: latest.checkpoint, batches: (this.next?.batches ?? 0) + batches };
    if (!this.writing) this.chain = this.writeCommits();
  }

  /**
   * The sink did not take the batch. The entry stays as a barrier: neither its position nor any
   * later one is ever committed, so the batch is read again (after a rewind, or a restart).
   */
  fail(entry: PendingCommit): void {
    entry.failed = true;
    this.changed.notify();
  }

  /** A batch was refused and not yet rewound past. */
  get hasFailed(): boolean {
    return this.commits.some((c) => c.failed);
  }

  /** Every tracked batch was acknowledged or refused, and no write is on disk. */
  private get settled(): boolean {
    return !this.commits.some((c) => !c.done && !c.failed) && !this.writing;
  }

  /**
   * Resolves once another batch may be polled: fewer than `maxUncommittedBatches` are unwritten,
   * or a batch failed (nothing after it commits until the collector rewinds), or `signal` aborts.
   */
  async waitForRoom(signal: AbortSignal): Promise<void> {
    while (this.uncommitted >= this.opts.maxUncommittedBatches && !signal.aborted && !this.hasFailed) await this.changed.wait(signal);
  }

  /**
   * After a refused batch: wait until every tracked batch has settled and what is before the
   * failure is written, then forget them all. Returns how many batches were dropped (they are
   * read again from `committed`), or undefined when `signal` aborted first.
   */
  async rewind(signal: AbortSignal): Promise<number | undefined> {
    while (!signal.aborted && !this.settled) await this.changed.wait(signal);
    if (signal.aborted) return undefined;
    const dropped = this.commits;
    this.commits = [];
    for (const c of dropped) this.inFlightEvents -= c.events;
    this.uncommitted -= dropped.length;
    this.updateLag();
    this.changed.notify();
    return dropped.length;
  }

  /**
   * Resolves when every tracked batch was acknowledged (or refused) and the checkpoint written —
   * up to, never past, the first batch that was refused.
   */
  async drained(): Promise<void> {
    while (!this.settled) await this.changed.wait();
    await this.chain;
  }

  /** An operator set (or reset) the stored checkpoint. */
  reset(summary: CheckpointSummary): void {
    this.committed = summary;
  }

  private async writeCommits(): Promise<void> {
    this.writing = true;
    try {
      while (this.next) {
        const { value, batches } = this.next;
        this.next = undefined;
        try {
          await this.opts.checkpoints.write(this.opts.collectorId, value);
          this.committed = { value, updatedAt: new Date().toISOString() };
          if (this.writeError) {
            this.writeError = undefined;
            this.opts.logger.info({ collector: this.opts.collectorId }, 'checkpoint written again');
          }
        } catch (err) {
          this.onWriteFailed(err as Error);
        }
        this.uncommitted -= batches;
        this.changed.notify();
      }
    } finally {
      this.writing = false;
      this.changed.notify();
    }
  }

  /**
   * Polling goes on (nothing is lost: the sink has the events), but every batch read without a
   * saved position is read again after a restart, so the collector must not look healthy.
   */
  private onWriteFailed(err: Error): void {
    const id = this.opts.collectorId;
    const file = this.opts.checkpoints.where(id);
    const code = (err as NodeJS.ErrnoException).code;
    const first = !this.writeError;
    this.writeError = {
      code: CollectorErrorCodes.CHECKPOINT_WRITE_FAILED,
      message: `checkpoint ${file} could not be written (${code ?? err.message}): events read since the last saved position are read again after a restart; ${this.opts.checkpoints.writeFailureFix(id, err)}`,
      retriable: false,
    };
    this.opts.metrics.checkpointWriteFailures.inc({ collector: id });
    this.opts.logger.error({ collector: id, file, err: err.message }, 'checkpoint write failed; events may be read again after a restart');
    if (first) this.opts.onWriteFailed(this.writeError);
  }

  private updateLag(): void {
    this.opts.metrics.checkpointLag.set({ collector: this.opts.collectorId }, this.inFlightEvents);
  }
}
