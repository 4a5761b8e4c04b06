import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createActor, fromCallback, fromPromise, type Actor, type AnyEventObject } from 'xstate';
import type { Logger } from 'pino';
import {
  ErrorCodes,
  PluginError,
  toPluginError,
  type Checkpoint,
  type CollectorDescription,
  type EnricherInstance,
  type HealthReport,
  type PluginContext,
  type PollResult,
  type SourceInstance,
} from '../plugin-api/index.js';
import type { CheckpointSummary, CollectorDetail, CollectorState, CollectorSummary, LastError, TransitionRecord } from '../host.js';
import type { LoadedPlugin } from '../plugins/loader.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { CheckpointStore } from '../state/checkpoint-store.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { Semaphore } from '../supervisor/semaphore.js';
import { collectorMachine, type CollectorEvent, type ErrorInfo, type MachinePolicy } from './machine.js';
import { friendlyEvent } from './graph.js';
import { isInstanceLost } from '../isolation/codes.js';
import type { CodesOf } from '../errors/codes.js';
import { WorkerPlugin, type WorkerResources } from '../isolation/worker-plugin.js';
import type { Isolation } from '../isolation/policy.js';
import { redactDeep, redactSecrets, registerSecret } from '../logging.js';
import type { SupervisedEnricher } from '../enrichment/supervised.js';

export interface CollectorTiming {
  intervalMs: number;
  /** Fraction of the interval added at random. */
  jitter: number;
  batchSize: number;
  pollTimeoutMs: number;
  stallAfterMs: number;
  healthIntervalMs: number;
  /** Most batches read ahead of the written checkpoint (= the most a crash can repeat). */
  maxUncommittedBatches: number;
}

export interface CollectorOptions {
  id: string;
  loaded: LoadedPlugin;
  /** The plugin config after validation and defaults. */
  pluginConfig: unknown;
  /** Secret values of this collector's config, for scrubbing plugin error messages. */
  secrets: string[];
  timing: CollectorTiming;
  policy: MachinePolicy;
  pipeline: Pipeline;
  checkpoints: CheckpointStore;
  slots: Semaphore;
  metrics: FabricMetrics;
  logger: Logger;
  stateDir: string;
  configDir: string;
  hostSignal: AbortSignal;
  /** The stored checkpoint when the collector was created. */
  initialCheckpoint: CheckpointSummary;
  onTransition(record: TransitionRecord & { collector: string }, summary: CollectorSummary, error?: LastError): void;
  /**
   * For enrichers: instead of polling, progress is reported by the enrichment stage. The
   * returned function unsubscribes.
   */
  /**
   * For enrichers: the handle the enrichment stage holds. This collector owns the instance behind
   * it (the first one was created while the pipeline was built) and starts, checks, restarts
   * and stops it; the stage's lookups reach it only while it is started.
   */
  enricher?: SupervisedEnricher;
  progressFeed?: (report: (ok: boolean, error?: ErrorInfo) => void) => () => void;
  /**
   * `worker`: the plugin instance lives in its own worker thread (what the orchestrator passes
   * unless the config says `isolation: inline`); `inline`: in the host thread (trusted, hot
   * plugins). Absent = inline (tests that drive a Collector with an in-memory definition).
   */
  isolation?: Isolation;
  /** The host could not read the plugin's config schema: its worker validates the config at each start. */
  validateConfigInWorker?: boolean;
  random?: () => number;
}

/** How the collector's plugin instance runs, and what its worker reports (admin API). */
export type CollectorResources = { isolation: 'inline' } | ({ isolation: 'worker' } & Partial<WorkerResources>);

const HISTORY_LIMIT = 200;

interface PendingCommit {
  checkpoint: Checkpoint;
  done: boolean;
  /** submit() rejected: this position, and every later one, must never be committed. */
  failed: boolean;
  events: number;
}

/** Error codes the collector itself raises (besides the plugin's). */
export const CollectorErrorCodes = {
  /** The checkpoint could not be written (disk full, unwritable state_dir): replay after a restart grows. */
  CHECKPOINT_WRITE_FAILED: 'CHECKPOINT_WRITE_FAILED',
  /** A batch was not acknowledged by the sink: nothing from it on is committed; it is read again. */
  BATCH_NOT_ACKNOWLEDGED: 'BATCH_NOT_ACKNOWLEDGED',
} as const satisfies Partial<CodesOf<'collector'>>;

/**
 * One configured collector: a plugin instance driven by its own xstate actor. The actor decides
 * *when* (start, poll, degrade, restart, give up); this class does the I/O the actor invokes and
 * keeps checkpoints honest — a position is committed only after every batch before it and the
 * batch itself were acknowledged by the sink.
 */
export class Collector {
  readonly id: string;
  private readonly actor: Actor<typeof collectorMachine>;
  private instance: SourceInstance | EnricherInstance | undefined;
  private history: TransitionRecord[] = [];
  private state: CollectorState = 'idle';
  private since = new Date().toISOString();
  /** Position after the last poll: where the next poll continues. */
  private position: Checkpoint | undefined;
  /** The last checkpoint written to the store. */
  private committed: CheckpointSummary;
  private commits: PendingCommit[] = [];
  private commitChain: Promise<void> = Promise.resolve();
  private nextCommit: { value: Checkpoint; batches: number } | undefined;
  private writing = false;
  /** Batches polled whose position is not yet written to the checkpoint store. */
  private uncommitted = 0;
  private uncommittedWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private lastHealth: HealthReport | undefined;
  /** start() of the current instance succeeded (an enricher's lookups are served only then). */
  private instanceStarted = false;
  /** Wall-clock time before which the next poll should not start. */
  private nextPollAt = 0;
  private counters = { eventsCollected: 0, eventsPublished: 0, eventsDeduplicated: 0, eventsDeadLettered: 0, polls: 0, pollErrors: 0, inFlight: 0 };
  /** Set while checkpoint writes fail; cleared by the next write that succeeds. */
  private checkpointError: ErrorInfo | undefined;
  /** Wakes `rewind` when a pending batch settles. */
  private settleWaiters: Array<() => void> = [];
  /**
   * Bumped whenever the position is reset (rewind, operator): a poll that started before must
   * not move the position or submit what it read, or it would commit past the reset.
   */
  private epoch = 0;
  private lastPollAt: string | undefined;
  private lastSuccessAt: string | undefined;
  private description: CollectorDescription = { backend: 'unknown' };

  constructor(private readonly opts: CollectorOptions) {
    this.id = opts.id;
    // The config's secrets (also registered by the orchestrator): scrubbing goes through the one redactor.
    for (const secret of opts.secrets) registerSecret(secret);
    this.committed = opts.initialCheckpoint;
    this.position = opts.initialCheckpoint.value;
    const machine = collectorMachine.provide({
      actors: {
        startPlugin: fromPromise(() => this.startPlugin()),
        stopPlugin: fromPromise(() => this.stopPlugin()),
        pollLoop: fromCallback<AnyEventObject>(({ sendBack }) => this.runLoop(sendBack as (e: CollectorEvent) => void)),
        healthLoop: fromCallback<AnyEventObject>(({ sendBack }) => this.runHealthLoop(sendBack as (e: CollectorEvent) => void)),
      },
    });
    this.actor = createActor(machine, {
      input: { policy: opts.policy, random: opts.random },
      inspect: (ev) => {
        if (ev.type !== '@xstate.snapshot' || ev.actorRef !== this.actor) return;
        this.onSnapshot(ev.event.type);
      },
    });
    // Without an error listener xstate rethrows actor errors into a timer and crashes Node.
    this.actor.subscribe({ error: (err) => this.opts.logger.error({ collector: this.id, err: (err as Error).message }, 'collector actor error') });
    opts.enricher?.attach(() => (this.instanceStarted ? (this.instance as EnricherInstance | undefined) : undefined), this.workerHooks());
    this.actor.start();
    opts.metrics.setState(this.id, 'idle');
  }

  get plugin(): LoadedPlugin {
    return this.opts.loaded;
  }

  get currentState(): CollectorState {
    return this.state;
  }

  send(event: CollectorEvent): void {
    this.actor.send(event);
  }

  /** Whether `event` would change anything from the current state (for 409 answers). */
  can(event: CollectorEvent): boolean {
    return this.actor.getSnapshot().can(event);
  }

  private onSnapshot(cause: string): void {
    const snap = this.actor.getSnapshot();
    const next = String(snap.value) as CollectorState;
    if (next === this.state) return;
    const record: TransitionRecord = { at: new Date().toISOString(), from: this.state, to: next, event: friendlyEvent(cause), ...(snap.context.reason ? { reason: snap.context.reason } : {}) };
    this.state = next;
    this.since = record.at;
    this.history.push(record);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    if (next === 'restarting' && record.event !== 'RESTART') this.opts.metrics.restarts.inc({ collector: this.id });
    this.opts.metrics.setState(this.id, next);
    const level = next === 'failed' ? 'error' : next === 'degraded' || next === 'restarting' ? 'warn' : 'info';
    this.opts.logger[level]({ collector: this.id, from: record.from, to: next, event: record.event, reason: record.reason }, `collector ${this.id}: ${record.from} → ${next}`);
    this.opts.onTransition({ ...record, collector: this.id }, this.summary(), snap.context.lastError);
  }

  private context(): PluginContext {
    const child = this.opts.logger.child({ collector: this.id, plugin: this.opts.loaded.pkg.name });
    return { collectorId: this.id, logger: child, stateDir: join(this.opts.stateDir, 'collectors', encodeURIComponent(this.id)), signal: this.opts.hostSignal, configDir: this.opts.configDir };
  }

  private async startPlugin(): Promise<void> {
    const ctx = this.context();
    // Synchronous on purpose: a tiny call, and start() then has no I/O of its own to wait for.
    mkdirSync(ctx.stateDir, { recursive: true });
    try {
      const def = this.opts.loaded.definition;
      this.opts.checkpoints.assertValid(this.id, def.checkpointSchema, this.position);
      const iso = this.opts.isolation;
      // An enricher's first instance was made while the pipeline was built (in its worker or here).
      const first = this.opts.enricher?.takeFirst();
      if (first && 'error' in first) throw first.error;
      if (first) this.instance = first.instance;
      else if (iso?.mode === 'worker') {
        const worker = await WorkerPlugin.create({
          entry: this.opts.loaded.pkg.entry,
          config: this.opts.pluginConfig,
          collectorId: this.id,
          stateDir: ctx.stateDir,
          ...(ctx.configDir !== undefined ? { configDir: ctx.configDir } : {}),
          logger: ctx.logger,
          limits: iso.limits,
          ...(this.opts.validateConfigInWorker ? { validateConfig: true } : {}),
          ...this.workerHooks(),
        });
        this.instance = worker;
      } else {
        const instance = await this.withTimeout(Promise.resolve(def.create(this.opts.pluginConfig as never, ctx)), 'create');
        this.instance = instance as SourceInstance | EnricherInstance;
      }
      if (this.instance instanceof WorkerPlugin) {
        // Secrets the worker found while validating the config (the host could not read its schema).
        for (const s of this.instance.secrets) registerSecret(s);
      }
      this.describe();
      const started = this.instance;
      if (started?.start) await this.withTimeout(started.start(), 'start');
      this.instanceStarted = true;
    } catch (err) {
      const e = this.scrub(toPluginError(err));
      this.opts.metrics.pollErrors.inc({ collector: this.id, code: e.code });
      await this.stopPlugin().catch(() => undefined);
      throw e;
    }
  }

  /** What this collector's worker reports: its loss, and its figures each heartbeat. */
  workerHooks(): { onLost(e: PluginError): void; onUsage(u: WorkerResources): void } {
    return {
      onLost: (e) => this.onInstanceLost(e),
      onUsage: (u) => {
        const m = this.opts.metrics;
        m.workerHeap.set({ collector: this.id }, u.heapUsedBytes);
        m.workerEventLoopUtilization.set({ collector: this.id }, u.eventLoopUtilization);
        m.workerBusySeconds.set({ collector: this.id }, u.busyMs / 1000);
      },
    };
  }

  /** The worker is gone outside any call of ours: the collector restarts (within its budget). */
  private onInstanceLost(err: PluginError): void {
    const e = this.scrub(err);
    this.opts.metrics.pollErrors.inc({ collector: this.id, code: e.code });
    this.opts.logger.error({ collector: this.id, code: e.code, err: e.message }, 'plugin worker lost; the collector restarts it');
    if (['running', 'degraded'].includes(this.state)) this.actor.send({ type: 'INSTANCE_LOST', error: { code: e.code, message: e.message, retriable: e.retriable } });
  }

  /** Isolation mode and, for a worker, its heap, event-loop use and busy time. */
  resources(): CollectorResources {
    if (this.opts.isolation?.mode !== 'worker') return { isolation: 'inline' };
    return this.instance instanceof WorkerPlugin ? { isolation: 'worker', ...this.instance.resources() } : { isolation: 'worker' };
  }

  private describe(): void {
    try {
      const d = this.instance?.describe?.();
      if (d) this.description = this.scrubObject(d);
    } catch (err) {
      this.opts.logger.warn({ collector: this.id, err: this.scrub(toPluginError(err)).message }, 'describe() failed');
    }
  }

  private async stopPlugin(): Promise<void> {
    const inst = this.instance;
    this.instance = undefined;
    this.instanceStarted = false;
    if (inst?.stop) {
      try {
        await this.withTimeout(inst.stop(), 'stop');
      } catch (err) {
        this.opts.logger.warn({ collector: this.id, err: this.scrub(toPluginError(err)).message }, 'plugin stop() failed; instance discarded');
      }
    }
  }

  private withTimeout<T>(p: Promise<T>, what: string, signal?: AbortSignal): Promise<T> {
    const ms = this.opts.timing.pollTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PluginError(ErrorCodes.TIMEOUT, `plugin ${what}() did not finish within ${ms} ms`)), ms);
      const onAbort = () => reject(new PluginError(ErrorCodes.ABORTED, `${what}() aborted`));
      signal?.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      });
    });
  }

  private runLoop(sendBack: (e: CollectorEvent) => void): () => void {
    const ac = new AbortController();
    if (this.opts.progressFeed) {
      const unsubscribe = this.opts.progressFeed((ok, error) => sendBack(ok ? { type: 'POLL_OK' } : { type: 'POLL_ERROR', error: error! }));
      return () => unsubscribe();
    }
    void this.pollLoop(ac.signal, sendBack).catch((err) => {
      if (!ac.signal.aborted) this.opts.logger.error({ collector: this.id, err: (err as Error).message }, 'poll loop ended unexpectedly');
    });
    return () => ac.abort();
  }

  private async pollLoop(signal: AbortSignal, sendBack: (e: CollectorEvent) => void): Promise<void> {
    const t = this.opts.timing;
    let lastProgress = Date.now();
    let stalledReported = false;
    // A loop restarted by a state change (running → degraded) keeps the schedule of the old
    // one instead of polling at once, so degrading never speeds up requests to a failing backend.
    const initialWait = this.nextPollAt - Date.now();
    if (initialWait > 0) await sleep(initialWait, signal);
    while (!signal.aborted) {
      // Time spent waiting for the sink is the sink's problem, not a stalled source.
      const waitStart = Date.now();
      await this.opts.pipeline.waitForCapacity(signal);
      await this.waitForCommits(signal);
      if (signal.aborted) return;
      if (this.commits.some((c) => c.failed)) {
        // Batches after a failed one are never committed: waiting for commits would wait forever.
        await this.rewind(signal);
        lastProgress += Date.now() - waitStart;
        continue;
      }
      await this.opts.slots.acquire(signal);
      lastProgress += Date.now() - waitStart;
      let delay = this.jittered(t.intervalMs);
      // Decide the next poll time before reporting: the report can switch states and start a
      // new loop synchronously, which reads nextPollAt.
      let report: CollectorEvent;
      try {
        const result = await this.pollOnce(signal);
        if (signal.aborted) return;
        lastProgress = Date.now();
        stalledReported = false;
        if (result.hasMore) delay = 0;
        // Polling works but positions are not being saved: not healthy until a write succeeds.
        report = this.checkpointError ? { type: 'POLL_ERROR', error: this.checkpointError } : { type: 'POLL_OK' };
      } catch (err) {
        if (signal.aborted) return;
        const e = this.scrub(toPluginError(err));
        this.counters.pollErrors++;
        this.opts.metrics.pollErrors.inc({ collector: this.id, code: e.code });
        this.opts.logger.warn({ collector: this.id, code: e.code, retriable: e.retriable, err: e.message }, 'poll failed');
        if (e.retryAfterMs) delay = Math.max(delay, e.retryAfterMs);
        const error = { code: e.code, message: e.message, retriable: e.retriable, retryAfterMs: e.retryAfterMs };
        report = isInstanceLost(e.code) ? { type: 'INSTANCE_LOST', error } : { type: 'POLL_ERROR', error };
      } finally {
        this.opts.slots.release();
      }
      this.nextPollAt = Date.now() + delay;
      sendBack(report);
      if (!stalledReported && Date.now() - lastProgress > t.stallAfterMs) {
        stalledReported = true;
        sendBack({ type: 'STALLED', reason: `no successful poll for ${Math.round((Date.now() - lastProgress) / 1000)} s` });
      }
      if (delay > 0) await sleep(delay, signal);
      // Even with more data waiting, yield to the event loop: a plugin that resolves at once
      // with hasMore forever would otherwise starve timers, I/O and the admin API.
      else await new Promise((r) => setImmediate(r));
    }
  }

  private jittered(ms: number): number {
    return ms + Math.floor((this.opts.random ?? Math.random)() * ms * this.opts.timing.jitter);
  }

  /** Resolves when the pipeline and the checkpoint store can take another batch. */
  async readyToPoll(signal: AbortSignal): Promise<void> {
    await this.opts.pipeline.waitForCapacity(signal);
    await this.waitForCommits(signal);
    // run --once has no rewind: stop at the failed batch, which the next run reads again.
    if (this.commits.some((c) => c.failed)) throw new PluginError(CollectorErrorCodes.BATCH_NOT_ACKNOWLEDGED, 'a batch was not acknowledged by the sink; stopping here, the next run reads it again from the last checkpoint', { retriable: true });
  }

  /** One poll: call the plugin, check what it returned, hand the events to the pipeline. */
  async pollOnce(signal: AbortSignal): Promise<PollResult> {
    const inst = this.instance;
    if (!inst?.poll) throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `plugin ${this.opts.loaded.pkg.name} has no poll()`, { retriable: false });
    const started = process.hrtime.bigint();
    const epoch = this.epoch;
    this.counters.polls++;
    this.lastPollAt = new Date().toISOString();
    const pollAbort = new AbortController();
    const onOuter = () => pollAbort.abort(signal.reason);
    signal.addEventListener('abort', onOuter, { once: true });
    let raw: unknown;
    try {
      raw = await this.withTimeout(
        Promise.resolve().then(() => inst.poll!({ checkpoint: this.position, signal: pollAbort.signal, maxEvents: this.opts.timing.batchSize })),
        'poll',
      );
    } catch (err) {
      pollAbort.abort(err);
      throw err;
    } finally {
      signal.removeEventListener('abort', onOuter);
      this.opts.metrics.pollDuration.observe({ collector: this.id }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    const result = checkPollResult(raw, this.position, this.opts.timing.batchSize);
    if (epoch !== this.epoch) throw new PluginError(ErrorCodes.ABORTED, 'poll result discarded: the position was reset while the poll ran; it is read again from the new position');
    this.lastSuccessAt = new Date().toISOString();
    this.counters.eventsCollected += result.events.length;
    this.position = result.checkpoint;
    this.track(result);
    return result;
  }

  private track(result: PollResult): void {
    const entry: PendingCommit = { checkpoint: result.checkpoint, done: false, failed: false, events: result.events.length };
    this.commits.push(entry);
    this.uncommitted++;
    this.counters.inFlight += entry.events;
    this.opts.metrics.checkpointLag.set({ collector: this.id }, this.counters.inFlight);
    this.opts.pipeline
      .submit({ collector: this.id, plugin: this.opts.loaded.pkg.name, events: result.events })
      .then(
        (r) => {
          this.counters.eventsPublished += r.published;
          this.counters.eventsDeadLettered += r.rejected;
          entry.done = true;
          this.flushCommits();
        },
        (err: Error) => {
          // The entry stays in the ledger as a barrier: neither its position nor any later one
          // is ever committed, so the batch is read again (after a rewind, or a restart).
          entry.failed = true;
          const shuttingDown = this.opts.hostSignal.aborted || ['stopping', 'stopped'].includes(this.state);
          const at = JSON.stringify(this.committed.value ?? null)?.slice(0, 200);
          this.opts.logger.warn(
            { collector: this.id, err: err.message, events: entry.events, checkpoint: at },
            shuttingDown
              ? 'batch not acknowledged before shutdown; the checkpoint stays before it and it is read again at the next start'
              : 'batch not acknowledged by the sink; the checkpoint stays before it and the collector reads it again',
          );
          if (!shuttingDown && ['running', 'degraded'].includes(this.state)) {
            this.actor.send({ type: 'POLL_ERROR', error: { code: CollectorErrorCodes.BATCH_NOT_ACKNOWLEDGED, message: `a batch of ${entry.events} event(s) was not acknowledged by the sink (${err.message}); reading again from the last checkpoint`, retriable: true } });
          }
          this.wakeSettled();
          this.wakeUncommitted();
          this.notifyDrain();
        },
      );
  }

  private flushCommits(): void {
    let latest: PendingCommit | undefined;
    let batches = 0;
    // A failed entry is never done: commits stop in front of it.
    while (this.commits[0]?.done) {
      latest = this.commits.shift()!;
      batches++;
      this.counters.inFlight -= latest.events;
    }
    this.opts.metrics.checkpointLag.set({ collector: this.id }, this.counters.inFlight);
    this.wakeSettled();
    if (!latest) return;
    // Coalesce: while one write is on disk, only the newest position is worth writing next.
    this.nextCommit = { value: latest.checkpoint, batches: (this.nextCommit?.batches ?? 0) + batches };
    if (!this.writing) this.commitChain = this.writeCommits();
  }

  private async writeCommits(): Promise<void> {
    this.writing = true;
    try {
      while (this.nextCommit) {
        const { value, batches } = this.nextCommit;
        this.nextCommit = undefined;
        try {
          await this.opts.checkpoints.write(this.id, value);
          this.committed = { value, updatedAt: new Date().toISOString() };
          if (this.checkpointError) {
            this.checkpointError = undefined;
            this.opts.logger.info({ collector: this.id }, 'checkpoint written again');
          }
        } catch (err) {
          this.onCheckpointWriteFailed(err as Error);
        }
        this.uncommitted -= batches;
        this.wakeUncommitted();
      }
    } finally {
      this.writing = false;
      this.notifyDrain();
    }
  }

  /**
   * Polling goes on (degraded is about progress, and nothing is lost: the sink has the events),
   * but every batch read without a saved position is read again after a restart, so the
   * collector must not look healthy.
   */
  private onCheckpointWriteFailed(err: Error): void {
    const file = this.opts.checkpoints.fileOf(this.id);
    const code = (err as NodeJS.ErrnoException).code;
    const first = !this.checkpointError;
    this.checkpointError = {
      code: CollectorErrorCodes.CHECKPOINT_WRITE_FAILED,
      message: `checkpoint ${file} could not be written (${code ?? err.message}): events read since the last saved position are read again after a restart; free space or fix permissions on ${dirname(file)}`,
      retriable: false,
    };
    this.opts.metrics.checkpointWriteFailures.inc({ collector: this.id });
    this.opts.logger.error({ collector: this.id, file, err: err.message }, 'checkpoint write failed; events may be read again after a restart');
    if (first && ['running', 'degraded'].includes(this.state)) this.actor.send({ type: 'POLL_ERROR', error: this.checkpointError });
  }

  private wakeSettled(): void {
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * A batch was not acknowledged: wait until every batch polled so far has settled and what is
   * before the failure is written, then continue from the last written checkpoint. Batches
   * after the failure that were delivered are delivered again (at-least-once), none is skipped.
   */
  private async rewind(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && (this.commits.some((c) => !c.done && !c.failed) || this.writing)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.settleWaiters.push(done);
        signal.addEventListener('abort', done, { once: true });
        // A write in progress ends without a settle event: its chain wakes us too.
        if (this.writing) void this.commitChain.then(done);
      });
    }
    if (signal.aborted) return;
    const dropped = this.commits;
    this.commits = [];
    for (const c of dropped) this.counters.inFlight -= c.events;
    this.uncommitted -= dropped.length;
    this.opts.metrics.checkpointLag.set({ collector: this.id }, this.counters.inFlight);
    this.position = this.committed.value;
    this.epoch++;
    this.opts.logger.warn({ collector: this.id, batches: dropped.length, checkpoint: JSON.stringify(this.position ?? null)?.slice(0, 200) }, 'reading again from the last written checkpoint after a batch was not acknowledged');
    this.wakeUncommitted();
    this.notifyDrain();
  }

  private wakeUncommitted(): void {
    const waiters = this.uncommittedWaiters;
    this.uncommittedWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Polls wait while too many batches are read but not yet covered by a written checkpoint:
   * that bounds what a crash can make us read twice to `maxUncommittedBatches` batches.
   */
  private async waitForCommits(signal: AbortSignal): Promise<void> {
    // A failed batch ends the wait: nothing after it commits until the collector rewinds.
    while (this.uncommitted >= this.opts.timing.maxUncommittedBatches && !signal.aborted && !this.commits.some((c) => c.failed)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.uncommittedWaiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  private notifyDrain(): void {
    // Settled = every batch acknowledged or failed; failed ones are never committed.
    if (this.commits.some((c) => !c.done && !c.failed) || this.writing) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves when every polled batch was acknowledged (or failed) and the checkpoint written —
   * up to, never past, the first batch that failed.
   */
  async drained(): Promise<void> {
    if (this.commits.some((c) => !c.done && !c.failed) || this.writing) await new Promise<void>((r) => this.drainWaiters.push(r));
    await this.commitChain;
  }

  private runHealthLoop(sendBack: (e: CollectorEvent) => void): () => void {
    const timer = setInterval(() => {
      void this.checkHealth().then((report) => {
        this.lastHealth = report;
        sendBack({ type: 'HEALTH', report });
      });
    }, this.opts.timing.healthIntervalMs);
    return () => clearInterval(timer);
  }

  private async checkHealth(): Promise<HealthReport> {
    const inst = this.instance;
    const fromState: HealthReport = this.state === 'degraded' ? { status: 'degraded', reason: this.actor.getSnapshot().context.reason } : { status: 'healthy' };
    if (!inst?.healthCheck) return fromState;
    const ac = new AbortController();
    try {
      const r = await this.withTimeout(inst.healthCheck(ac.signal), 'healthCheck');
      if (!r || !['healthy', 'degraded', 'unhealthy'].includes(r.status)) return { status: 'degraded', reason: 'healthCheck() returned an invalid report', code: ErrorCodes.CONTRACT_VIOLATION };
      // A source that polls fine but whose probe complains is still making progress.
      return r.status === 'healthy' ? fromState : { ...r, reason: r.reason ? this.scrubText(r.reason) : r.reason };
    } catch (err) {
      ac.abort();
      const e = this.scrub(toPluginError(err));
      return { status: 'unhealthy', reason: e.message, code: e.code };
    }
  }

  // --- read side ---------------------------------------------------------------------------

  summary(): CollectorSummary {
    const health: CollectorSummary['health'] =
      // A plugin's own "degraded" (e.g. log-file: a configured path it cannot read) shows while it still polls.
      this.state === 'running' ? (this.lastHealth?.status === 'unhealthy' || this.lastHealth?.status === 'degraded' ? this.lastHealth.status : 'healthy') : this.state === 'degraded' ? 'degraded' : this.state === 'failed' ? 'unhealthy' : 'unknown';
    return { id: this.id, plugin: this.opts.loaded.pkg.name, pluginVersion: this.opts.loaded.pkg.version, kind: this.opts.loaded.definition.kind, state: this.state, since: this.since, health };
  }

  detail(): CollectorDetail {
    const ctx = this.actor.getSnapshot().context;
    return {
      ...this.summary(),
      description: { plugin: this.opts.loaded.pkg.name, ...this.description },
      metrics: { ...this.counters, restarts: ctx.restarts, ...(this.lastPollAt ? { lastPollAt: this.lastPollAt } : {}), ...(this.lastSuccessAt ? { lastSuccessAt: this.lastSuccessAt } : {}) },
      ...(ctx.lastError ? { lastError: ctx.lastError } : {}),
      checkpoint: this.committed,
      restartCount: ctx.restarts,
      resources: this.resources(),
    };
  }

  get checkpoint(): CheckpointSummary {
    return this.committed;
  }

  transitions(limit = HISTORY_LIMIT): TransitionRecord[] {
    return this.history.slice(-limit);
  }

  countDuplicate(): void {
    this.counters.eventsDeduplicated++;
  }

  /** Set where the next poll starts (after an operator changed the stored checkpoint). */
  setPosition(summary: CheckpointSummary): void {
    this.epoch++;
    this.position = summary.value;
    this.committed = summary;
  }

  /** For run --once: create and start the plugin without the state machine. */
  async startInstanceDirect(): Promise<void> {
    await this.startPlugin();
  }

  async stopInstanceDirect(): Promise<void> {
    await this.stopPlugin();
  }

  dispose(): void {
    this.actor.stop();
  }

  /** Plugin text shown to operators, with this config's secrets (in every encoded form) redacted. */
  private scrubText(text: string): string {
    return redactSecrets(text);
  }

  private scrub(e: PluginError): PluginError {
    const message = this.scrubText(e.message);
    return message === e.message ? e : new PluginError(e.code, message, { retriable: e.retriable, retryAfterMs: e.retryAfterMs });
  }

  private scrubObject<T extends object>(o: T): T {
    return redactDeep(o);
  }
}

/**
 * A poll result the pipeline can trust, or a CONTRACT_VIOLATION naming what is wrong. Nothing of
 * a refused poll is delivered and its checkpoint is not taken, so the next poll asks again from
 * the same position: nothing lost, nothing twice.
 */
export function checkPollResult(raw: unknown, previous: Checkpoint | undefined, maxEvents?: number): PollResult {
  if (raw === null || typeof raw !== 'object') throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `poll() returned ${raw === null ? 'null' : typeof raw}, expected { events, checkpoint }`);
  const r = raw as Partial<PollResult>;
  if (!Array.isArray(r.events)) throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `poll() returned events of type ${typeof r.events}, expected an array`);
  if (maxEvents !== undefined && r.events.length > maxEvents) {
    throw new PluginError(
      ErrorCodes.CONTRACT_VIOLATION,
      `poll() returned ${r.events.length} events for maxEvents ${maxEvents}; the plugin must return at most maxEvents and set hasMore (nothing from this poll was delivered; orchestrator.event_batch_size sets maxEvents)`,
      { retriable: true },
    );
  }
  let checkpoint = r.checkpoint;
  if (checkpoint === undefined) checkpoint = previous ?? null;
  try {
    checkpoint = JSON.parse(JSON.stringify(checkpoint)) as Checkpoint;
  } catch (err) {
    throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `poll() returned a checkpoint that is not JSON-serialisable: ${(err as Error).message}`);
  }
  return { events: r.events, checkpoint: checkpoint ?? null, hasMore: r.hasMore === true };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
