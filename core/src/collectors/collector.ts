// Over 400 lines: the poll loop's scheduling reads the actor's state at every step; the plugin
// instance (plugin-handle.ts) and checkpoint bookkeeping (commit-ledger.ts) live apart.
import { join } from 'node:path';
import { createActor, fromCallback, fromPromise, waitFor, type Actor, type AnyEventObject } from 'xstate';
import type { Logger } from 'pino';
import { ErrorCodes, PluginError, toPluginError, type Checkpoint, type HealthReport, type PluginContext, type PollResult } from '../plugin-api/index.js';
import type { CheckpointSummary, CollectorDetail, CollectorState, CollectorSummary, LastError, TransitionRecord } from '../host.js';
import type { LoadedPlugin } from '../plugins/loader.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { CheckpointStore } from '../state/checkpoint-store.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { Semaphore } from '../async/semaphore.js';
import { sleep, timerDelay } from '../async/time.js';
import { collectorMachine, leafState, type CollectorEvent, type ErrorInfo, type MachinePolicy } from './machine.js';
import { friendlyEvent } from './graph.js';
import { CollectorErrorCodes, CommitLedger } from './commit-ledger.js';
import { PluginHandle, scrub, type CollectorResources } from './plugin-handle.js';
import { isInstanceLost } from '../isolation/codes.js';
import type { Isolation } from '../isolation/policy.js';
import { registerSecret } from '../logging.js';
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
  /**
   * `fabric run --once`: poll until the source has nothing more (or `maxPolls`), then stop. The
   * first error ends the run for this collector (no retry, no rewind): the next run reads on from
   * the last written checkpoint.
   */
  once?: { maxPolls: number };
}

export type TransitionListener = (record: TransitionRecord & { collector: string }, summary: CollectorSummary, error?: LastError) => void;

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
  /**
   * For enrichers: the handle the enrichment stage holds. This collector owns the instance behind
   * it (the first one was created while the pipeline was built) and starts, checks, restarts
   * and stops it; the stage's lookups reach it only while it is started.
   */
  enricher?: SupervisedEnricher;
  /**
   * For enrichers: instead of polling, progress is reported by the enrichment stage. The
   * returned function unsubscribes.
   */
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

const HISTORY_LIMIT = 200;

/**
 * One configured collector: a plugin instance driven by its own xstate actor. The actor decides
 * *when* (start, poll, degrade, restart, give up); this class runs what the actor invokes (the
 * poll loop, the health loop) and answers for the collector (summary, detail, history). The
 * plugin instance lives in a PluginHandle and checkpoint bookkeeping in a CommitLedger; what is
 * left (~470 lines) is the poll loop's scheduling, which reads the actor's state at every step.
 */
export class Collector {
  readonly id: string;
  private readonly actor: Actor<typeof collectorMachine>;
  private readonly handle: PluginHandle;
  private readonly ledger: CommitLedger;
  private history: TransitionRecord[] = [];
  private state: CollectorState = 'idle';
  private since = new Date().toISOString();
  /** Position after the last poll: where the next poll continues. */
  private position: Checkpoint | undefined;
  private lastHealth: HealthReport | undefined;
  /** Wall-clock time before which the next poll should not start. */
  private nextPollAt = 0;
  private counters = { eventsCollected: 0, eventsPublished: 0, eventsDeduplicated: 0, eventsDeadLettered: 0, polls: 0, pollErrors: 0 };
  /**
   * Bumped whenever the position is reset (rewind, operator): a poll that started before must
   * not move the position or submit what it read, or it would commit past the reset.
   */
  private epoch = 0;
  private readonly transitionListeners: TransitionListener[] = [];
  /** Why a `once` run ended early (its first error), if it did. */
  private onceError: ErrorInfo | undefined;
  private lastPollAt: string | undefined;
  private lastSuccessAt: string | undefined;
  /**
   * Set by a failed poll (or enricher lookup), cleared by the next one that works. Kept across
   * restarts: a collector restarted because its polls fail is not healthy until one works.
   */
  private failing: { code: string } | undefined;

  constructor(private readonly opts: CollectorOptions) {
    this.id = opts.id;
    // The config's secrets (also registered by the orchestrator): scrubbing goes through the one redactor.
    for (const secret of opts.secrets) registerSecret(secret);
    this.position = opts.initialCheckpoint.value;
    this.ledger = new CommitLedger({
      collectorId: opts.id,
      checkpoints: opts.checkpoints,
      metrics: opts.metrics,
      logger: opts.logger,
      maxUncommittedBatches: opts.timing.maxUncommittedBatches,
      initial: opts.initialCheckpoint,
      onWriteFailed: (error) => {
        if (['running', 'degraded'].includes(this.state)) this.actor.send({ type: 'POLL_ERROR', error });
      },
    });
    this.handle = new PluginHandle({
      collectorId: opts.id,
      loaded: opts.loaded,
      pluginConfig: opts.pluginConfig,
      callTimeoutMs: opts.timing.pollTimeoutMs,
      metrics: opts.metrics,
      logger: opts.logger,
      ...(opts.isolation ? { isolation: opts.isolation } : {}),
      ...(opts.validateConfigInWorker ? { validateConfigInWorker: true } : {}),
      ...(opts.enricher ? { enricher: opts.enricher } : {}),
      onLost: (e) => this.onInstanceLost(e),
    });
    const machine = collectorMachine.provide({
      actors: {
        startPlugin: fromPromise(() => this.startPlugin()),
        stopPlugin: fromPromise(() => this.handle.stop()),
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
    this.actor.start();
    opts.metrics.setState(this.id, 'idle');
  }

  get plugin(): LoadedPlugin {
    return this.opts.loaded;
  }

  /** `enricher`: serves the enrichment stage's lookups; `source`: polls. */
  get role(): 'source' | 'enricher' {
    return this.opts.enricher ? 'enricher' : 'source';
  }

  /** Every state change, after it happened (admin streams, status topic). */
  onTransition(listener: TransitionListener): void {
    this.transitionListeners.push(listener);
  }

  /**
   * Resolves with the state once `until` holds for it (xstate's `waitFor` on the actor), or
   * with the current state when `timeoutMs` passes first.
   */
  async waitFor(until: (state: CollectorState) => boolean, timeoutMs = Infinity): Promise<CollectorState> {
    try {
      const snap = await waitFor(this.actor, (s) => until(leafState(s.value)), { timeout: timeoutMs });
      return leafState(snap.value);
    } catch {
      return this.state;
    }
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
    const next = leafState(snap.value);
    if (next === this.state) return;
    const record: TransitionRecord = {
      at: new Date().toISOString(),
      from: this.state,
      to: next,
      event: friendlyEvent(cause),
      ...(snap.context.reason ? { reason: snap.context.reason } : {}),
    };
    this.state = next;
    this.since = record.at;
    this.history.push(record);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    if (next === 'restarting' && record.event !== 'RESTART') this.opts.metrics.restarts.inc({ collector: this.id });
    this.opts.metrics.setState(this.id, next);
    const level = next === 'failed' ? 'error' : next === 'degraded' || next === 'restarting' ? 'warn' : 'info';
    this.opts.logger[level]({ collector: this.id, from: record.from, to: next, event: record.event, reason: record.reason }, `collector ${this.id}: ${record.from} → ${next}`);
    for (const listener of this.transitionListeners) listener({ ...record, collector: this.id }, this.summary(), snap.context.lastError);
  }

  private context(): PluginContext {
    const child = this.opts.logger.child({ collector: this.id, plugin: this.opts.loaded.pkg.name });
    return {
      collectorId: this.id,
      logger: child,
      stateDir: join(this.opts.stateDir, 'collectors', encodeURIComponent(this.id)),
      signal: this.opts.hostSignal,
      configDir: this.opts.configDir,
    };
  }

  private async startPlugin(): Promise<void> {
    try {
      this.opts.checkpoints.assertValid(this.id, this.opts.loaded.definition.checkpointSchema, this.position);
      await this.handle.start(this.context());
    } catch (err) {
      const e = scrub(toPluginError(err));
      this.opts.metrics.pollErrors.inc({ collector: this.id, code: e.code });
      throw e;
    }
  }

  /** The worker is gone outside any call of ours: the collector restarts (within its budget). */
  private onInstanceLost(e: PluginError): void {
    this.opts.metrics.pollErrors.inc({ collector: this.id, code: e.code });
    this.opts.logger.error({ collector: this.id, code: e.code, err: e.message }, 'plugin worker lost; the collector restarts it');
    if (['running', 'degraded'].includes(this.state)) this.actor.send({ type: 'INSTANCE_LOST', error: { code: e.code, message: e.message, retriable: e.retriable } });
  }

  /** Isolation mode and, for a worker, its heap, event-loop use and busy time. */
  resources(): CollectorResources {
    return this.handle.resources();
  }

  private runLoop(sendBack: (e: CollectorEvent) => void): () => void {
    const ac = new AbortController();
    if (this.opts.progressFeed) {
      const unsubscribe = this.opts.progressFeed((ok, error) => {
        this.failing = ok ? undefined : { code: error!.code };
        sendBack(ok ? { type: 'POLL_OK' } : { type: 'POLL_ERROR', error: error! });
      });
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
      await this.ledger.waitForRoom(signal);
      if (signal.aborted) return;
      if (this.ledger.hasFailed) {
        if (t.once)
          return this.finishOnce(sendBack, {
            code: CollectorErrorCodes.BATCH_NOT_ACKNOWLEDGED,
            message: 'a batch was not acknowledged by the sink; stopping here, the next run reads it again from the last checkpoint',
            retriable: true,
          });
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
      /** Set when a `once` run ends here: with its first error, or none when the source is read to the end. */
      let finished: { error?: ErrorInfo } | undefined;
      try {
        const result = await this.pollOnce(signal);
        if (signal.aborted) return;
        lastProgress = Date.now();
        stalledReported = false;
        if (result.hasMore) delay = 0;
        // Polling works but positions are not being saved: not healthy until a write succeeds.
        report = this.ledger.writeError ? { type: 'POLL_ERROR', error: this.ledger.writeError } : { type: 'POLL_OK' };
        this.failing = this.ledger.writeError ? { code: this.ledger.writeError.code } : undefined;
        if (t.once && (!result.hasMore || this.counters.polls >= t.once.maxPolls)) finished = {};
      } catch (err) {
        if (signal.aborted) return;
        const e = scrub(toPluginError(err));
        this.counters.pollErrors++;
        this.opts.metrics.pollErrors.inc({ collector: this.id, code: e.code });
        this.opts.logger.warn({ collector: this.id, code: e.code, retriable: e.retriable, err: e.message }, 'poll failed');
        if (e.retryAfterMs) delay = Math.max(delay, e.retryAfterMs);
        const error = { code: e.code, message: e.message, retriable: e.retriable, retryAfterMs: e.retryAfterMs };
        this.failing = { code: e.code };
        if (t.once) finished = { error };
        report = isInstanceLost(e.code) ? { type: 'INSTANCE_LOST', error } : { type: 'POLL_ERROR', error };
      } finally {
        this.opts.slots.release();
      }
      if (finished) return this.finishOnce(sendBack, finished.error);
      // A Retry-After of years (or a month-long interval with jitter) waits what a timer can hold.
      delay = timerDelay(delay);
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

  /** A `once` run is over for this collector: the machine stops it (FINISHED → stopping). */
  private finishOnce(sendBack: (e: CollectorEvent) => void, error?: ErrorInfo): void {
    if (error) {
      this.onceError = error;
      this.opts.logger.error({ collector: this.id, code: error.code, err: error.message }, 'collector failed during run --once');
    }
    sendBack({ type: 'FINISHED' });
  }

  /** How a `once` run ended: its counters, and the error that ended it early or made the collector fail. */
  onceOutcome(): { polls: number; events: number; published: number; error?: { code: string; message: string } } {
    const last = this.actor.getSnapshot().context.lastError;
    const error = this.onceError ?? (this.state === 'failed' && last ? last : undefined);
    return {
      polls: this.counters.polls,
      events: this.counters.eventsCollected,
      published: this.counters.eventsPublished,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
    };
  }

  private jittered(ms: number): number {
    return ms + Math.floor((this.opts.random ?? Math.random)() * ms * this.opts.timing.jitter);
  }

  /** One poll: call the plugin, check what it returned, hand the events to the pipeline. */
  private async pollOnce(signal: AbortSignal): Promise<PollResult> {
    const started = process.hrtime.bigint();
    const epoch = this.epoch;
    this.counters.polls++;
    this.lastPollAt = new Date().toISOString();
    let result: PollResult;
    try {
      result = await this.handle.poll({ checkpoint: this.position, maxEvents: this.opts.timing.batchSize }, signal);
    } finally {
      this.opts.metrics.pollDuration.observe({ collector: this.id }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    if (epoch !== this.epoch) throw new PluginError(ErrorCodes.ABORTED, 'poll result discarded: the position was reset while the poll ran; it is read again from the new position');
    this.lastSuccessAt = new Date().toISOString();
    this.counters.eventsCollected += result.events.length;
    this.position = result.checkpoint;
    this.track(result);
    return result;
  }

  /** Hand the batch to the pipeline; the ledger commits its position once the sink has it. */
  private track(result: PollResult): void {
    const entry = this.ledger.track(result.checkpoint, result.events.length);
    this.opts.pipeline.submit({ collector: this.id, plugin: this.opts.loaded.pkg.name, events: result.events, checkpoint: result.checkpoint }).then(
      (r) => {
        this.counters.eventsPublished += r.published;
        this.counters.eventsDeduplicated += r.deduplicated;
        this.counters.eventsDeadLettered += r.rejected;
        this.ledger.acknowledge(entry);
      },
      (err: Error) => {
        this.ledger.fail(entry);
        const shuttingDown = this.opts.hostSignal.aborted || ['stopping', 'stopped'].includes(this.state);
        const at = JSON.stringify(this.ledger.committed.value ?? null)?.slice(0, 200);
        this.opts.logger.warn(
          { collector: this.id, err: err.message, events: entry.events, checkpoint: at },
          shuttingDown
            ? 'batch not acknowledged before shutdown; the checkpoint stays before it and it is read again at the next start'
            : 'batch not acknowledged by the sink; the checkpoint stays before it and the collector reads it again',
        );
        if (!shuttingDown && ['running', 'degraded'].includes(this.state)) {
          this.actor.send({
            type: 'POLL_ERROR',
            error: {
              code: CollectorErrorCodes.BATCH_NOT_ACKNOWLEDGED,
              message: `a batch of ${entry.events} event(s) was not acknowledged by the sink (${err.message}); reading again from the last checkpoint`,
              retriable: true,
            },
          });
        }
      },
    );
  }

  /**
   * A batch was not acknowledged: once every batch polled so far has settled and what is before
   * the failure is written, continue from the last written checkpoint. Batches after the failure
   * that were delivered are delivered again (at-least-once), none is skipped.
   */
  private async rewind(signal: AbortSignal): Promise<void> {
    const dropped = await this.ledger.rewind(signal);
    if (dropped === undefined) return;
    this.position = this.ledger.committed.value;
    this.epoch++;
    this.opts.logger.warn(
      { collector: this.id, batches: dropped, checkpoint: JSON.stringify(this.position ?? null)?.slice(0, 200) },
      'reading again from the last written checkpoint after a batch was not acknowledged',
    );
  }

  /**
   * Resolves when every polled batch was acknowledged (or failed) and the checkpoint written —
   * up to, never past, the first batch that failed.
   */
  drained(): Promise<void> {
    return this.ledger.drained();
  }

  private runHealthLoop(sendBack: (e: CollectorEvent) => void): () => void {
    const timer = setInterval(() => {
      void this.checkHealth().then((report) => {
        this.lastHealth = report;
        sendBack({ type: 'HEALTH', report });
      });
    }, timerDelay(this.opts.timing.healthIntervalMs));
    return () => clearInterval(timer);
  }

  private async checkHealth(): Promise<HealthReport> {
    const fromState: HealthReport = this.state === 'degraded' ? { status: 'degraded', reason: this.actor.getSnapshot().context.reason } : { status: 'healthy' };
    const r = await this.handle.healthCheck();
    // A source that polls fine but whose probe complains is still making progress.
    return !r || r.status === 'healthy' ? fromState : r;
  }

  // --- read side ---------------------------------------------------------------------------

  summary(): CollectorSummary {
    const health: CollectorSummary['health'] =
      // A plugin's own "degraded" (e.g. log-file: a configured path it cannot read) shows while it still polls.
      this.state === 'running'
        ? this.lastHealth?.status === 'unhealthy' || this.lastHealth?.status === 'degraded'
          ? this.lastHealth.status
          : // Running is the machine's view (fewer than degraded_after_errors failures in a row, or
            // just restarted); healthy is the operator's: its last poll worked.
            this.failing
            ? 'degraded'
            : 'healthy'
        : this.state === 'degraded'
          ? 'degraded'
          : this.state === 'failed'
            ? 'unhealthy'
            : 'unknown';
    const code = health === 'healthy' || health === 'unknown' ? undefined : (this.failing?.code ?? this.actor.getSnapshot().context.lastError?.code);
    return {
      id: this.id,
      plugin: this.opts.loaded.pkg.name,
      pluginVersion: this.opts.loaded.pkg.version,
      kind: this.opts.loaded.definition.kind,
      state: this.state,
      since: this.since,
      health,
      ...(code ? { lastErrorCode: code } : {}),
    };
  }

  detail(): CollectorDetail {
    const ctx = this.actor.getSnapshot().context;
    return {
      ...this.summary(),
      description: { plugin: this.opts.loaded.pkg.name, ...this.handle.description },
      metrics: {
        ...this.counters,
        inFlight: this.ledger.inFlightEvents,
        restarts: ctx.restarts,
        ...(this.lastPollAt ? { lastPollAt: this.lastPollAt } : {}),
        ...(this.lastSuccessAt ? { lastSuccessAt: this.lastSuccessAt } : {}),
      },
      ...(ctx.lastError ? { lastError: ctx.lastError } : {}),
      checkpoint: this.ledger.committed,
      restartCount: ctx.restarts,
      resources: this.resources(),
    };
  }

  get checkpoint(): CheckpointSummary {
    return this.ledger.committed;
  }

  transitions(limit = HISTORY_LIMIT): TransitionRecord[] {
    return this.history.slice(-limit);
  }

  /** Set where the next poll starts (after an operator changed the stored checkpoint). */
  setPosition(summary: CheckpointSummary): void {
    this.epoch++;
    this.position = summary.value;
    this.ledger.reset(summary);
  }

  dispose(): void {
    this.actor.stop();
  }
}
