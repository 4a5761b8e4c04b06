import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import {
  ErrorCodes,
  PluginError,
  toPluginError,
  type CollectorDescription,
  type EnricherInstance,
  type HealthReport,
  type PluginContext,
  type Checkpoint,
  type PollRequest,
  type PollResult,
  type SourceInstance,
} from '../plugin-api/index.js';
import type { LoadedPlugin } from '../plugins/loader.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import { WorkerPlugin, type WorkerResources } from '../isolation/worker-plugin.js';
import type { Isolation } from '../isolation/policy.js';
import { redactDeep, redactSecrets, registerSecret } from '../logging.js';
import type { SupervisedEnricher } from '../enrichment/supervised.js';
import { withTimeout } from '../async/time.js';

/** How the collector's plugin instance runs, and what its worker reports (admin API). */
export type CollectorResources = { isolation: 'inline' } | ({ isolation: 'worker' } & Partial<WorkerResources>);

export interface PluginHandleOptions {
  collectorId: string;
  loaded: LoadedPlugin;
  /** The plugin config after validation and defaults. */
  pluginConfig: unknown;
  /** Every plugin call (create, start, poll, healthCheck, stop) must finish within this. */
  callTimeoutMs: number;
  metrics: FabricMetrics;
  logger: Logger;
  /** Absent = inline (tests that drive a Collector with an in-memory definition). */
  isolation?: Isolation;
  /** The host could not read the plugin's config schema: its worker validates the config at each start. */
  validateConfigInWorker?: boolean;
  /** For an enricher: the handle the enrichment stage holds; its first instance was made when the pipeline was built. */
  enricher?: SupervisedEnricher;
  /** The worker died, blocked or ran out of memory outside any call of ours. */
  onLost(error: PluginError): void;
}

/**
 * One collector's plugin instance: created (in its worker, or inline), started, called under
 * a deadline, described and stopped. Plugin text that reaches operators is scrubbed of secrets.
 */
export class PluginHandle {
  private instance: SourceInstance | EnricherInstance | undefined;
  /** start() of the current instance succeeded (an enricher's lookups are served only then). */
  private started = false;
  description: CollectorDescription = { backend: 'unknown' };

  constructor(private readonly opts: PluginHandleOptions) {
    opts.enricher?.attach(() => (this.started ? (this.instance as EnricherInstance | undefined) : undefined), this.workerHooks());
  }

  /** Create and start an instance. On failure nothing is left running and the error is scrubbed. */
  async start(ctx: PluginContext): Promise<void> {
    // Synchronous on purpose: a tiny call, and start() then has no I/O of its own to wait for.
    mkdirSync(ctx.stateDir, { recursive: true });
    try {
      this.instance = await this.create(ctx);
      if (this.instance instanceof WorkerPlugin) {
        // Secrets the worker found while validating the config (the host could not read its schema).
        for (const s of this.instance.secrets) registerSecret(s);
      }
      this.describe();
      const inst = this.instance;
      if (inst?.start) await this.call(inst.start(), 'start');
      this.started = true;
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw scrub(toPluginError(err));
    }
  }

  private async create(ctx: PluginContext): Promise<SourceInstance | EnricherInstance> {
    // An enricher's first instance was made while the pipeline was built (in its worker or here).
    const first = this.opts.enricher?.takeFirst();
    if (first && 'error' in first) throw first.error;
    if (first) return first.instance;
    const iso = this.opts.isolation;
    if (iso?.mode === 'worker') {
      return WorkerPlugin.create({
        entry: this.opts.loaded.pkg.entry,
        config: this.opts.pluginConfig,
        collectorId: this.opts.collectorId,
        stateDir: ctx.stateDir,
        ...(ctx.configDir !== undefined ? { configDir: ctx.configDir } : {}),
        logger: ctx.logger,
        limits: iso.limits,
        ...(this.opts.validateConfigInWorker ? { validateConfig: true } : {}),
        ...this.workerHooks(),
      });
    }
    const made = await this.call(Promise.resolve(this.opts.loaded.definition.create(this.opts.pluginConfig as never, ctx)), 'create');
    return made as SourceInstance | EnricherInstance;
  }

  async stop(): Promise<void> {
    const inst = this.instance;
    this.instance = undefined;
    this.started = false;
    if (!inst?.stop) return;
    try {
      await this.call(inst.stop(), 'stop');
    } catch (err) {
      this.opts.logger.warn({ collector: this.opts.collectorId, err: scrub(toPluginError(err)).message }, 'plugin stop() failed; instance discarded');
    }
  }

  /** The plugin's poll(), under the call deadline and aborted with `signal`; its answer checked (`checkPollResult`). */
  async poll(request: Omit<PollRequest, 'signal'>, signal: AbortSignal): Promise<PollResult> {
    const inst = this.instance;
    if (!inst || !('poll' in inst) || !inst.poll) throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `plugin ${this.opts.loaded.pkg.name} has no poll()`, { retriable: false });
    const pollAbort = new AbortController();
    const onOuter = (): void => pollAbort.abort(signal.reason);
    signal.addEventListener('abort', onOuter, { once: true });
    try {
      const raw = await this.call(
        Promise.resolve().then(() => inst.poll!({ ...request, signal: pollAbort.signal })),
        'poll',
      );
      return checkPollResult(raw, request.checkpoint, request.maxEvents);
    } catch (err) {
      pollAbort.abort(err);
      throw err;
    } finally {
      signal.removeEventListener('abort', onOuter);
    }
  }

  /**
   * The plugin's own probe, or undefined when it has none. A throw or a malformed answer is
   * reported as a health report, never thrown.
   */
  async healthCheck(): Promise<HealthReport | undefined> {
    const inst = this.instance;
    if (!inst?.healthCheck) return undefined;
    const ac = new AbortController();
    try {
      const r = await this.call(inst.healthCheck(ac.signal), 'healthCheck');
      if (!r || !['healthy', 'degraded', 'unhealthy'].includes(r.status))
        return { status: 'degraded', reason: 'healthCheck() returned an invalid report', code: ErrorCodes.CONTRACT_VIOLATION };
      return r.reason ? { ...r, reason: redactSecrets(r.reason) } : r;
    } catch (err) {
      ac.abort();
      const e = scrub(toPluginError(err));
      return { status: 'unhealthy', reason: e.message, code: e.code };
    }
  }

  /** Isolation mode and, for a worker, its heap, event-loop use and busy time. */
  resources(): CollectorResources {
    if (this.opts.isolation?.mode !== 'worker') return { isolation: 'inline' };
    return this.instance instanceof WorkerPlugin ? { isolation: 'worker', ...this.instance.resources() } : { isolation: 'worker' };
  }

  /** What this collector's worker reports: its loss, and its figures each heartbeat. */
  private workerHooks(): { onLost(e: PluginError): void; onUsage(u: WorkerResources): void } {
    const id = this.opts.collectorId;
    return {
      onLost: (e) => this.opts.onLost(scrub(e)),
      onUsage: (u) => {
        const m = this.opts.metrics;
        m.workerHeap.set({ collector: id }, u.heapUsedBytes);
        m.workerEventLoopUtilization.set({ collector: id }, u.eventLoopUtilization);
        m.workerBusySeconds.set({ collector: id }, u.busyMs / 1000);
      },
    };
  }

  private describe(): void {
    try {
      const d = this.instance?.describe?.();
      if (d) this.description = redactDeep(d);
    } catch (err) {
      this.opts.logger.warn({ collector: this.opts.collectorId, err: scrub(toPluginError(err)).message }, 'describe() failed');
    }
  }

  private call<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.opts.callTimeoutMs;
    return withTimeout(p, ms, () => new PluginError(ErrorCodes.TIMEOUT, `plugin ${what}() did not finish within ${ms} ms`));
  }
}

/** Plugin text shown to operators, with every registered secret (in every encoded form) redacted. */
export function scrub(e: PluginError): PluginError {
  const message = redactSecrets(e.message);
  return message === e.message ? e : new PluginError(e.code, message, { retriable: e.retriable, retryAfterMs: e.retryAfterMs });
}

/**
 * A poll result the pipeline can trust, or a CONTRACT_VIOLATION naming what is wrong. Nothing of
 * a refused poll is delivered and its checkpoint is not taken, so the next poll asks again from
 * the same position: nothing lost, nothing twice.
 */
export function checkPollResult(raw: unknown, previous: Checkpoint | undefined, maxEvents?: number): PollResult {
  if (raw === null || typeof raw !== 'object')
    throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `poll() returned ${raw === null ? 'null' : typeof raw}, expected { events, checkpoint }`);
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
