import { mkdir } from 'node:fs/promises';
import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import { PluginError, isRetriableCode, type Checkpoint, type FabricEvent, type Indicator } from './plugin-api/index.js';
import {
  HostError,
  type CheckpointSummary,
  type CollectorCommand,
  type CollectorDetail,
  type CollectorSummary,
  type CommandResult,
  type DeadLetterView,
  type FabricHost,
  type FalsePositive,
  type FieldError,
  type HostEvents,
  type InstalledPlugin,
  type MachineGraph,
  type ReadinessReport,
  type TransitionRecord,
} from './host.js';
import type { LoadedConfig } from './config/load.js';
import { isolationOf } from './isolation/policy.js';
import { createLogger, redactDeep, redactSecrets, registerSecret } from './logging.js';
import { FabricMetrics } from './metrics/fabric-metrics.js';
import { checkpointErrors, CheckpointStore, CheckpointValidationError, describeFieldErrors } from './state/checkpoint-store.js';
import { sweepStaleTempFiles } from './state/atomic.js';
import { createDeadLetterTarget, createSink } from './sinks/factory.js';
import { DeadLetterQueue } from './sinks/dead-letter.js';
import { EVENT_SCHEMA_VERSION, type Sink } from './sinks/sink.js';
import { Pipeline } from './pipeline/pipeline.js';
import type { PipelineStage } from './pipeline/stage.js';
import { buildStages, type BuiltStages } from './pipeline/stages.js';
import { loadPlugin, searchRoots } from './plugins/loader.js';
import { listInstalledPlugins } from './plugins/catalog.js';
import { inspectPlugin, resolveComponents, type ResolvedComponent } from './plugins/resolve.js';
import { validateAgainstSchema } from './plugins/validate.js';
import { Collector } from './collectors/collector.js';
import { collectorMachine, type CollectorEvent, type ErrorInfo } from './collectors/machine.js';
import { machineGraph } from './collectors/graph.js';
import { Semaphore } from './supervisor/semaphore.js';
import type { EnrichmentStage } from './enrichment/stage.js';

export interface OrchestratorOptions {
  /** Where plugin packages are resolved from (the host project); default process.cwd(). */
  cwd?: string;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Replace the configured sink (tests, embedding). */
  sink?: Sink;
  /** Extra stages appended after the configured ones (embedding). */
  extraStages?: PipelineStage[];
  random?: () => number;
}

export interface RunOnceReport {
  collectors: Array<{ id: string; polls: number; events: number; published: number; error?: { code: string; message: string } }>;
  published: number;
}

const COMMAND_EVENTS: Record<CollectorCommand, CollectorEvent['type']> = { start: 'START', stop: 'STOP', pause: 'PAUSE', resume: 'RESUME', restart: 'RESTART' };

/**
 * Owns a running Reactive Fabric: the sink, the pipeline stages, and one supervised collector
 * per configured source (and per enricher, whose progress the enrichment stage reports).
 * Implements FabricHost for the admin API and CLI.
 */
export class Orchestrator implements FabricHost {
  readonly events = new TypedEmitter<HostEvents>();
  readonly logger: Logger;
  readonly metricsModel: FabricMetrics;
  readonly pipeline: Pipeline;
  private readonly collectors = new Map<string, Collector>();
  private readonly abort = new AbortController();
  private started = false;
  private stopping: Promise<void> | undefined;
  private readonly enricherProgress = new Map<string, (ok: boolean, error?: ErrorInfo) => void>();
  private adminClose: (() => Promise<void>) | undefined;
  adminUrl: string | undefined;

  private constructor(
    readonly loaded: LoadedConfig,
    private readonly components: ResolvedComponent[],
    readonly sink: Sink,
    private readonly built: BuiltStages,
    private readonly checkpoints: CheckpointStore,
    private readonly roots: string[],
    private readonly opts: OrchestratorOptions,
    logger: Logger,
    metrics: FabricMetrics,
    private readonly deadLetterQueue: DeadLetterQueue,
  ) {
    this.logger = logger;
    this.metricsModel = metrics;
    this.events.setMaxListeners(0);
    const cfg = loaded.config;
    this.pipeline = new Pipeline({
      stages: [...built.stages, ...(opts.extraStages ?? [])],
      sink,
      maxInFlightBatches: cfg.pipeline.max_in_flight_batches,
      maxBufferedEvents: cfg.pipeline.max_buffered_events,
      publish: cfg.pipeline.publish,
      minPriority: cfg.routing.min_priority,
      metrics,
      logger,
      deadLetters: deadLetterQueue,
      eventLimits: { maxDepth: cfg.pipeline.max_event_depth, maxBytes: cfg.pipeline.max_event_bytes },
    });
    this.pipeline.on('published', (events) => {
      if (this.events.listenerCount('published') > 0) this.events.emit('published', events);
    });
  }

  get metrics() {
    return this.metricsModel.registry;
  }

  /** Load plugins, validate their configs, build the sink and stages. Nothing is started yet. */
  static async create(loaded: LoadedConfig, opts: OrchestratorOptions = {}): Promise<Orchestrator> {
    const cfg = loaded.config;
    const logger = opts.logger ?? createLogger({ level: cfg.log_level });
    for (const v of loaded.interpolated) registerSecret(v);
    const roots = searchRoots(opts.cwd ?? process.cwd(), loaded.dir);
    // A source whose plugin fails at import (in its worker) does not stop the others: it fails on its own, supervised.
    const components = await resolveComponents(loaded, roots, { deferBrokenImports: true });
    for (const c of components) for (const s of c.secrets) registerSecret(s);
    await mkdir(loaded.stateDir, { recursive: true });
    // Subfolders are swept before their first write (writeFileAtomic); this covers state_dir itself at start-up.
    const swept = await sweepStaleTempFiles(loaded.stateDir).catch(() => 0);
    if (swept > 0) logger.info({ stateDir: loaded.stateDir, files: swept }, 'removed temp files an interrupted earlier run left in state_dir');
    const metrics = new FabricMetrics(undefined, { defaultMetrics: true });
    const checkpoints = new CheckpointStore(loaded.stateDir);
    const env = opts.env ?? process.env;
    const sink = opts.sink ?? (await createSink(cfg.sink, { logger, metrics: metrics.registry, stateDir: loaded.stateDir, configDir: loaded.dir, env }));

    const orchestratorRef: { current?: Orchestrator } = {};
    const enricherComponents = components.filter((c) => c.section === 'enrichers');
    const built = await buildStages(loaded, {
      logger,
      metrics,
      enrichers: enricherComponents,
      onDuplicate: (e: FabricEvent) => {
        metrics.eventsDeduplicated.inc({ collector: e.fabric.collector });
        orchestratorRef.current?.collectors.get(e.fabric.collector)?.countDuplicate();
      },
      onEnricherHealth: (id, health) => orchestratorRef.current?.enricherProgress.get(id)?.(health.status === 'healthy', health.status === 'healthy' ? undefined : { code: health.code ?? 'UNAVAILABLE', message: health.reason ?? 'source unavailable', retriable: isRetriableCode(health.code ?? 'UNAVAILABLE'), retryAfterMs: health.retryAfterMs }),
    });
    const deadLetters = new DeadLetterQueue({
      target: createDeadLetterTarget(cfg.dead_letter, cfg.sink, sink, { stateDir: loaded.stateDir, configDir: loaded.dir }),
      metrics,
      logger,
      recent: cfg.dead_letter.recent,
      maxOriginalBytes: cfg.dead_letter.max_original_bytes,
    });
    const orch = new Orchestrator(loaded, components, sink, built, checkpoints, roots, opts, logger, metrics, deadLetters);
    orchestratorRef.current = orch;
    await orch.buildCollectors();
    return orch;
  }

  private async buildCollectors(): Promise<void> {
    const cfg = this.loaded.config;
    const o = cfg.orchestrator;
    const s = cfg.supervisor;
    const slots = new Semaphore(o.max_concurrent_collections);
    for (const comp of this.components) {
      const intervalMs = ('interval_seconds' in comp.config && comp.config.interval_seconds ? comp.config.interval_seconds : o.collection_interval_seconds) * 1000;
      const isEnricher = comp.section === 'enrichers';
      const collector = new Collector({
        id: comp.config.id,
        loaded: comp.loaded,
        pluginConfig: comp.pluginConfig,
        secrets: comp.secrets,
        timing: {
          intervalMs,
          jitter: o.interval_jitter,
          batchSize: o.event_batch_size,
          pollTimeoutMs: o.poll_timeout_seconds * 1000,
          stallAfterMs: o.stalled_after_intervals * intervalMs,
          healthIntervalMs: o.health_check_interval_seconds * 1000,
          maxUncommittedBatches: cfg.pipeline.max_in_flight_batches,
        },
        policy: {
          backoffMinMs: s.backoff_min_seconds * 1000,
          backoffMaxMs: s.backoff_max_seconds * 1000,
          stableAfterMs: s.stable_after_seconds * 1000,
          intensity: s.restart_intensity,
          periodMs: s.restart_period_seconds * 1000,
          degradedAfterErrors: o.degraded_after_errors,
          restartDegradedAfterChecks: o.restart_degraded_after_checks,
          autoRestartUnhealthy: o.auto_restart_unhealthy,
        },
        pipeline: this.pipeline,
        checkpoints: this.checkpoints,
        initialCheckpoint: isEnricher ? { value: undefined } : await this.checkpoints.read(comp.config.id),
        slots,
        metrics: this.metricsModel,
        logger: this.logger,
        stateDir: this.loaded.stateDir,
        configDir: this.loaded.dir,
        hostSignal: this.abort.signal,
        random: this.opts.random,
        onTransition: (record, summary, error) => this.onTransition(record, summary, error),
        isolation: isolationOf(comp.config, o),
        ...(comp.validateInWorker ? { validateConfigInWorker: true } : {}),
        ...(isEnricher
          ? {
              enricher: this.built.enrichers.find((e) => e.id === comp.config.id)?.instance,
              progressFeed: (report: (ok: boolean, error?: ErrorInfo) => void) => {
                this.enricherProgress.set(comp.config.id, report);
                return () => this.enricherProgress.delete(comp.config.id);
              },
            }
          : {}),
      });
      this.collectors.set(comp.config.id, collector);
    }
  }

  private onTransition(unsafeRecord: TransitionRecord & { collector: string }, summary: CollectorSummary, unsafeError?: { code: string; message: string; retriable: boolean }): void {
    // Reasons and messages carry plugin error text: replace secrets (in any escaping) before they
    // reach the admin API's streams, the dashboard and the status topic.
    const record = redactDeep(unsafeRecord);
    const error = unsafeError && { ...unsafeError, message: redactSecrets(unsafeError.message) };
    this.events.emit('transition', record);
    this.events.emit('status', summary);
    if (!this.started) return;
    void this.sink
      .writeStatus({
        '@timestamp': record.at,
        collector: record.collector,
        plugin: summary.plugin,
        state: record.to,
        previous: record.from,
        cause: record.event,
        ...(record.reason ? { reason: record.reason } : {}),
        ...(error && (record.to === 'degraded' || record.to === 'failed' || record.to === 'restarting') ? { error: { code: error.code, message: error.message, retriable: error.retriable } } : {}),
        schema_version: EVENT_SCHEMA_VERSION,
      })
      .catch((err: Error) => this.logger.warn({ collector: record.collector, err: err.message }, 'could not publish collector status'));
  }

  /** Start the sink, the stages and every enabled collector (enrichers first: sources need them). */
  async start(): Promise<void> {
    if (this.started) return;
    await this.sink.start();
    // A stop requested during start-up (SIGTERM while a broker connects) wins: start nothing more.
    if (this.stopping) return;
    await this.deadLetterQueue.start();
    await this.built.start();
    if (this.stopping) return;
    this.started = true;
    if (this.loaded.config.orchestrator.enabled) {
      for (const comp of [...this.components].sort((a, b) => (a.section === b.section ? 0 : a.section === 'enrichers' ? -1 : 1))) {
        this.collectors.get(comp.config.id)?.send({ type: 'START' });
      }
    }
    if (this.loaded.config.admin.enabled && !this.stopping) await this.startAdmin();
    this.logger.info({ collectors: this.collectors.size, sink: this.sink.type, stages: this.built.stages.map((s) => s.name) }, 'reactive fabric started');
  }

  private async startAdmin(): Promise<void> {
    const spec = './admin/index.js';
    const mod = (await import(spec)) as { startAdminServer(host: FabricHost, config: unknown, opts: { logger: Logger; stateDir: string; env?: NodeJS.ProcessEnv }): Promise<{ url: string; close(): Promise<void>; tokenFile?: string }> };
    const server = await mod.startAdminServer(this, this.loaded.config.admin, { logger: this.logger, stateDir: this.loaded.stateDir, env: this.opts.env ?? process.env });
    if (this.stopping) {
      await server.close(); // stop() ran while the server was binding and could not close it yet
      return;
    }
    this.adminUrl = server.url;
    this.adminClose = () => server.close();
  }

  /**
   * One collection cycle: every enabled source polls until it has nothing more, the pipeline
   * flushes, checkpoints are committed, everything closes. For cron jobs and `fabric run --once`.
   */
  async runOnce(maxPollsPerCollector = 10_000): Promise<RunOnceReport> {
    // Stages may wait on unref'd timers (enrichment deadlines); the run must not end because
    // Node saw nothing else keeping the loop alive.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      return await this.runOnceInner(maxPollsPerCollector);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async runOnceInner(maxPollsPerCollector: number): Promise<RunOnceReport> {
    await this.sink.start();
    await this.deadLetterQueue.start();
    await this.built.start();
    this.started = true;
    const report: RunOnceReport = { collectors: [], published: 0 };
    const count = (events: readonly FabricEvent[]) => (report.published += events.length);
    this.pipeline.on('published', count);
    const enrichers = [...this.collectors.values()].filter((c) => c.plugin.definition.kind === 'enricher' && this.components.find((x) => x.config.id === c.id)?.section === 'enrichers');
    for (const e of enrichers) await e.startInstanceDirect().catch((err: Error) => this.logger.error({ enricher: e.id, err: err.message }, 'enricher failed to start'));
    const sources = [...this.collectors.values()].filter((c) => !enrichers.includes(c));
    const slots = new Semaphore(this.loaded.config.orchestrator.max_concurrent_collections);
    await Promise.all(
      sources.map(async (c) => {
        const entry: RunOnceReport['collectors'][number] = { id: c.id, polls: 0, events: 0, published: 0 };
        report.collectors.push(entry);
        await slots.acquire();
        try {
          await c.startInstanceDirect();
          for (let i = 0; i < maxPollsPerCollector; i++) {
            await c.readyToPoll(this.abort.signal);
            const r = await c.pollOnce(this.abort.signal);
            entry.polls++;
            entry.events += r.events.length;
            if (!r.hasMore) break;
          }
        } catch (err) {
          const e = err as PluginError;
          entry.error = { code: e.code ?? 'ERROR', message: e.message };
          this.logger.error({ collector: c.id, code: e.code, err: e.message }, 'collector failed during run --once');
        } finally {
          slots.release();
        }
        await c.drained();
        entry.published = c.detail().metrics.eventsPublished;
        await c.stopInstanceDirect();
      }),
    );
    for (const e of enrichers) await e.stopInstanceDirect();
    this.pipeline.off('published', count);
    await this.close();
    return report;
  }

  /** Graceful stop: stop polling (reverse start order), flush, commit, close. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const deadline = this.loaded.config.supervisor.shutdown_timeout_seconds * 1000;
    this.logger.info('stopping: no more polls, flushing in-flight batches');
    const all = [...this.collectors.values()].reverse();
    for (const c of all) c.send({ type: 'STOP' });
    await withDeadline(Promise.all(all.map((c) => waitFor(() => ['stopped', 'idle', 'failed'].includes(c.currentState)))), deadline);
    await withDeadline(Promise.all(all.map((c) => c.drained())), deadline);
    await this.close();
  }

  private async close(): Promise<void> {
    this.abort.abort();
    await this.adminClose?.().catch(() => undefined);
    await this.built.close().catch((err: Error) => this.logger.error({ err: err.message }, 'closing pipeline stages failed'));
    await this.deadLetterQueue.close(this.loaded.config.supervisor.shutdown_timeout_seconds * 1000);
    await this.sink.close(this.loaded.config.supervisor.shutdown_timeout_seconds * 1000).catch((err: Error) => this.logger.error({ err: err.message }, 'closing the sink failed'));
    for (const c of this.collectors.values()) c.dispose();
    this.logger.info('stopped');
  }

  /** Published events as they are acknowledged, batch by batch, until stopped. */
  async *collect(): AsyncGenerator<readonly FabricEvent[]> {
    const queue: Array<readonly FabricEvent[]> = [];
    let wake: (() => void) | undefined;
    const onPublished = (events: readonly FabricEvent[]) => {
      queue.push(events);
      wake?.();
    };
    this.pipeline.on('published', onPublished);
    const onAbort = () => wake?.();
    this.abort.signal.addEventListener('abort', onAbort);
    try {
      while (!this.abort.signal.aborted || queue.length > 0) {
        const next = queue.shift();
        if (next) yield next;
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      this.pipeline.off('published', onPublished);
      this.abort.signal.removeEventListener('abort', onAbort);
    }
  }

  isHealthy(): boolean {
    if (this.sink.health().state === 'down') return false;
    return [...this.collectors.values()].every((c) => !['failed'].includes(c.currentState));
  }

  /** Totals per collector and overall: collected, deduplicated, published, errors, restarts. */
  snapshot(): { total: Record<string, number>; collectors: Record<string, Record<string, number>> } {
    const collectors: Record<string, Record<string, number>> = {};
    const total: Record<string, number> = { eventsCollected: 0, eventsDeduplicated: 0, eventsPublished: 0, pollErrors: 0, restarts: 0 };
    for (const c of this.collectors.values()) {
      const m = c.detail().metrics;
      collectors[c.id] = { eventsCollected: m.eventsCollected, eventsDeduplicated: m.eventsDeduplicated, eventsPublished: m.eventsPublished, pollErrors: m.pollErrors, restarts: m.restarts };
      for (const k of Object.keys(total)) total[k]! += collectors[c.id]![k] ?? 0;
    }
    return { total, collectors };
  }

  // --- FabricHost -------------------------------------------------------------------------

  listCollectors(): CollectorSummary[] {
    return [...this.collectors.values()].map((c) => c.summary());
  }

  getCollector(id: string): CollectorDetail | undefined {
    return this.collectors.get(id)?.detail();
  }

  deadLetters(limit: number, collector?: string): DeadLetterView {
    const q = this.deadLetterQueue;
    return { ...(q.location ? { target: q.location } : {}), ...q.totals(), records: q.recent(limit, collector) };
  }

  machine(id: string): MachineGraph | undefined {
    const c = this.collectors.get(id);
    return c ? machineGraph(collectorMachine, c.currentState) : undefined;
  }

  transitions(id: string, limit?: number): TransitionRecord[] | undefined {
    return this.collectors.get(id)?.transitions(limit);
  }

  async command(id: string, command: CollectorCommand): Promise<CommandResult> {
    const c = this.mustGet(id);
    const event = { type: COMMAND_EVENTS[command] } as CollectorEvent;
    if (!c.can(event)) return { ok: false, state: c.currentState, reason: `cannot ${command} collector "${id}" while it is ${c.currentState}` };
    c.send(event);
    return { ok: true, state: c.currentState };
  }

  private mustGet(id: string): Collector {
    const c = this.collectors.get(id);
    if (!c) throw new HostError('NOT_FOUND', `no collector "${id}"; GET /collectors lists them`);
    return c;
  }

  private mustBeStopped(c: Collector): void {
    if (!['stopped', 'idle', 'failed'].includes(c.currentState)) throw new HostError('CONFLICT', `collector "${c.id}" is ${c.currentState}; stop it first (POST /collectors/${c.id}/stop), then change its checkpoint`);
  }

  async getCheckpoint(id: string): Promise<CheckpointSummary> {
    return this.mustGet(id).checkpoint;
  }

  async setCheckpoint(id: string, value: Checkpoint): Promise<CheckpointSummary> {
    const c = this.mustGet(id);
    this.mustBeStopped(c);
    const fields = checkpointErrors(c.plugin.definition.checkpointSchema, value);
    if (fields.length > 0) throw new CheckpointValidationError(`checkpoint for collector "${id}" does not match the checkpoint schema of ${c.plugin.pkg.name}: ${describeFieldErrors(fields)}; send a value of the shape the plugin documents (GET /collectors/${id}/checkpoint shows the current one)`, fields);
    await this.checkpoints.write(id, value);
    const summary = await this.checkpoints.read(id);
    c.setPosition(summary);
    return summary;
  }

  async resetCheckpoint(id: string): Promise<void> {
    const c = this.mustGet(id);
    this.mustBeStopped(c);
    await this.checkpoints.reset(id);
    c.setPosition({ value: undefined });
  }

  plugins(): Promise<InstalledPlugin[]> {
    return listInstalledPlugins(this.roots);
  }

  async validatePluginConfig(pluginName: string, config: unknown): Promise<FieldError[]> {
    // Imported in a throw-away worker (unless the host runs plugins inline): asking about a
    // package that exits or loops at import must not end or freeze the host.
    const isolation = isolationOf({}, this.loaded.config.orchestrator);
    let plugin;
    try {
      plugin = isolation.mode === 'worker' ? await inspectPlugin(pluginName, this.roots, isolation.limits) : await loadPlugin(pluginName, this.roots);
    } catch (err) {
      throw new HostError('NOT_FOUND', (err as Error).message);
    }
    if ('failure' in plugin) return [{ path: '/', message: `plugin ${pluginName} could not be imported in a worker (${plugin.failure.code}): ${plugin.failure.message}` }];
    return validateAgainstSchema(plugin.definition.configSchema, config).errors;
  }

  async readiness(): Promise<ReadinessReport> {
    const sink = this.sink.health();
    const checks: ReadinessReport['checks'] = {
      config: { ok: true, detail: this.loaded.file },
      sink: { ok: sink.state !== 'down', detail: `${this.sink.type}: ${sink.state}${sink.reason ? ` (${sink.reason})` : ''}` },
      ...(await this.built.readiness()),
    };
    return { ready: this.started && Object.values(checks).every((c) => c.ok), checks };
  }

  async stats(): Promise<Record<string, unknown>> {
    return { ...this.snapshot(), metrics: await this.metrics.getMetricsAsJSON() };
  }

  private fpStore() {
    const store = this.built.falsePositives;
    if (!store) throw new HostError('INVALID', 'false-positive tracking needs the enrichment stage (enrichment.enabled: true)');
    return store;
  }

  listFalsePositives(): Promise<FalsePositive[]> {
    return this.fpStore().list();
  }

  markFalsePositive(indicator: Indicator, reason?: string): Promise<FalsePositive> {
    return this.fpStore().mark(indicator, reason);
  }

  unmarkFalsePositive(indicator: Indicator): Promise<boolean> {
    return this.fpStore().unmark(indicator);
  }

  restartBudget(): { intensity: number; periodSeconds: number } {
    const s = this.loaded.config.supervisor;
    return { intensity: s.restart_intensity, periodSeconds: s.restart_period_seconds };
  }

  enrichmentLimits(): Array<{ id: string; perMinute: number; perDay?: number }> {
    const stage = this.built.stages.find((s) => s.name === 'enrichment') as Partial<EnrichmentStage> | undefined;
    return [...(stage?.sources?.values() ?? [])].map((s) => ({ id: s.id, perMinute: s.limits.perMinute, ...(s.limits.perDay !== undefined ? { perDay: s.limits.perDay } : {}) }));
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

async function waitFor(pred: () => boolean, stepMs = 20): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, stepMs));
}

