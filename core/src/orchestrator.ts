// Over 400 lines: most of it is the FabricHost surface the admin API and CLI use (one short method
// per operation); building things is compose/'s job, the lifecycle itself is start/runOnce/stop.
import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import type { Checkpoint, FabricEvent, Indicator } from './plugin-api/index.js';
import {
  HostError,
  type CheckpointSummary,
  type CollectorCommand,
  type ClusterRole,
  type ClusterStatus,
  type CollectorDetail,
  type CollectorState,
  type CollectorSummary,
  type CommandResult,
  type ConfigControl,
  type DeadLetterView,
  type EnricherView,
  type LogLevel,
  type FabricHost,
  type FalsePositive,
  type FieldError,
  type HostEvents,
  type InstalledPlugin,
  type MachineGraph,
  type ReadinessReport,
  type RoutedResult,
  type SourceControl,
  type TransitionRecord,
} from './host.js';
import type { LoadedConfig } from './config/load.js';
import { isolationOf } from './isolation/policy.js';
import { redactDeep, redactSecrets } from './logging.js';
import type { FabricMetrics } from './metrics/fabric-metrics.js';
import { checkpointErrors, CheckpointValidationError, describeFieldErrors, type CheckpointStore } from './state/checkpoint-store.js';
import type { DeadLetterQueue } from './sinks/dead-letter.js';
import { RECORD_SCHEMA_VERSION, type Sink } from './sinks/sink.js';
import type { Pipeline } from './pipeline/pipeline.js';
import type { PipelineStage } from './pipeline/stage.js';
import { loadPlugin } from './plugins/loader.js';
import { listInstalledPlugins } from './plugins/catalog.js';
import { inspectPlugin } from './plugins/resolve.js';
import { validateAgainstSchema } from './config/validate.js';
import type { Collector } from './collectors/collector.js';
import { collectorMachine, type CollectorEvent } from './collectors/machine.js';
import { machineGraph } from './collectors/graph.js';
import { settleWithin } from './async/time.js';
import { Notifier } from './async/notifier.js';
import type { EnricherSource } from './enrichment/source.js';
import type { SearchRoot } from './plugins/search-path.js';

export interface FalsePositiveStoreLike {
  list(): Promise<FalsePositive[]>;
  mark(indicator: Indicator, reason?: string): Promise<FalsePositive>;
  unmark(indicator: Indicator): Promise<boolean>;
}

/** The pipeline's stages as the orchestrator drives them (`compose/stages.ts` builds them). */
export interface StageSet {
  stages: PipelineStage[];
  falsePositives?: FalsePositiveStoreLike;
  /** Per enrichment source: its request limits (the admin API shows them with the quota). */
  enrichmentLimits(): Array<{ id: string; perMinute: number; perDay?: number }>;
  /** The enrichment stage's sources by enricher id (quota, cache, health), when it runs. */
  enricherSources?(): ReadonlyMap<string, EnricherSource>;
  start(): Promise<void>;
  /** Flush each stage (in order), then stop it. */
  stop(): Promise<void>;
  readiness(): Promise<Record<string, { ok: boolean; detail?: string }>>;
}

/** What the composition root (`compose/`) hands the orchestrator: everything built, nothing started. */
export interface OrchestratorParts {
  loaded: LoadedConfig;
  sink: Sink;
  stages: StageSet;
  pipeline: Pipeline;
  deadLetters: DeadLetterQueue;
  checkpoints: CheckpointStore;
  /** In config order; enrichers are started before sources. */
  collectors: Collector[];
  /** Folders plugin packages are resolved from. */
  roots: readonly SearchRoot[];
  logger: Logger;
  metrics: FabricMetrics;
  /** Aborted when the orchestrator closes: every collector's context signal. */
  lifetime: AbortController;
  /** `once`: composed for `runOnce()` (sources stop when read to the end); `continuous`: for `start()`. */
  mode: 'continuous' | 'once';
  /** Cluster mode: the cluster starts the sources this instance owns, and stops them when they move. */
  cluster?: ClusterRole;
}

export interface RunOnceReport {
  collectors: Array<{ id: string; polls: number; events: number; published: number; error?: { code: string; message: string } }>;
  published: number;
}

const COMMAND_EVENTS: Record<CollectorCommand, CollectorEvent['type']> = { start: 'START', stop: 'STOP', pause: 'PAUSE', resume: 'RESUME', restart: 'RESTART' };

/** How long a checkpoint change sent through the cluster waits for the collector's owner to commit it. */
const CLUSTER_REQUEST_WAIT_MS = 15_000;

/** States a collector rests in: nothing more happens without a command. */
const AT_REST: ReadonlySet<CollectorState> = new Set(['stopped', 'idle', 'failed']);

/**
 * The lifecycle of a composed Reactive Fabric (start, run once, stop) and the FabricHost the
 * admin API and the CLI talk to. It builds nothing: `composeFabric()` does, and hands it the parts.
 */
export class Orchestrator implements FabricHost {
  readonly events = new TypedEmitter<HostEvents>();
  readonly logger: Logger;
  readonly metricsModel: FabricMetrics;
  readonly pipeline: Pipeline;
  readonly sink: Sink;
  readonly loaded: LoadedConfig;
  private readonly collectors = new Map<string, Collector>();
  private readonly abort: AbortController;
  private started = false;
  private stopping: Promise<void> | undefined;
  /** Set by the composition root when the instance can change its collectors at runtime (compose/runtime-changes.ts). */
  configControl: ConfigControl | undefined;

  constructor(private readonly parts: OrchestratorParts) {
    this.loaded = parts.loaded;
    this.sink = parts.sink;
    this.pipeline = parts.pipeline;
    this.logger = parts.logger;
    this.metricsModel = parts.metrics;
    this.abort = parts.lifetime;
    this.events.setMaxListeners(0);
    for (const c of parts.collectors) this.register(c);
    this.pipeline.on('published', (events) => {
      if (this.events.listenerCount('published') > 0) this.events.emit('published', events);
    });
  }

  get metrics() {
    return this.metricsModel.registry;
  }

  private register(c: Collector): void {
    this.collectors.set(c.id, c);
    c.onTransition((record, summary, error) => this.onTransition(record, summary, error));
  }

  /**
   * Take a collector built after composition (created or replaced at runtime) and, when the
   * instance runs, start it. The others are not touched.
   */
  adopt(c: Collector, opts: { start?: boolean } = {}): void {
    if (this.collectors.has(c.id)) throw new HostError('EXISTS', `collector "${c.id}" already exists`);
    this.register(c);
    if (opts.start !== false && this.started && !this.stopping && this.loaded.config.orchestrator.enabled) c.send({ type: 'START' });
  }

  /**
   * Stop one collector as a graceful stop does (no more polls, its batches acknowledged, its
   * checkpoint written), then forget it. Its stored checkpoint stays: a collector created again
   * with the same id reads on from there.
   */
  async retire(id: string): Promise<void> {
    const c = this.mustGet(id);
    const deadline = this.loaded.config.supervisor.shutdown_timeout_seconds * 1000;
    c.send({ type: 'STOP' });
    const at = Date.now();
    await c.waitFor((s) => AT_REST.has(s), deadline);
    await settleWithin(c.drained(), Math.max(0, deadline - (Date.now() - at)));
    c.dispose();
    this.collectors.delete(id);
    this.metricsModel.forgetState(id);
  }

  private onTransition(
    unsafeRecord: TransitionRecord & { collector: string },
    summary: CollectorSummary,
    unsafeError?: { code: string; message: string; retriable: boolean },
  ): void {
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
        ...(error && (record.to === 'degraded' || record.to === 'failed' || record.to === 'restarting')
          ? { error: { code: error.code, message: error.message, retriable: error.retriable } }
          : {}),
        schema_version: RECORD_SCHEMA_VERSION,
      })
      .catch((err: Error) => this.logger.warn({ collector: record.collector, err: err.message }, 'could not publish collector status'));
  }

  private get enricherCollectors(): Collector[] {
    return [...this.collectors.values()].filter((c) => c.role === 'enricher');
  }

  private get sources(): Collector[] {
    return [...this.collectors.values()].filter((c) => c.role === 'source');
  }

  /** The sink, the dead-letter target and the stages: what collectors hand their batches to. */
  private async startOutputs(): Promise<boolean> {
    await this.parts.sink.start();
    // A stop requested during start-up (SIGTERM while a broker connects) wins: start nothing more.
    if (this.stopping) return false;
    await this.parts.deadLetters.start();
    await this.parts.stages.start();
    if (this.stopping) return false;
    this.started = true;
    return true;
  }

  /**
   * Start the sink, the stages and every enabled collector (enrichers first: sources need them).
   * `beforeCollectors` runs once the outputs are up and before any collector starts (the admin
   * API binds there): if it throws, no collector has polled or committed anything.
   */
  async start(options: { beforeCollectors?: () => Promise<void> } = {}): Promise<void> {
    if (this.parts.mode !== 'continuous') throw new Error('this orchestrator was composed for runOnce() (composeFabric with `once`); compose without it to start()');
    if (this.started) return;
    if (!(await this.startOutputs())) return;
    await options.beforeCollectors?.();
    if (this.stopping) return;
    if (this.loaded.config.orchestrator.enabled) {
      const cluster = this.parts.cluster;
      for (const c of cluster ? this.enricherCollectors : [...this.enricherCollectors, ...this.sources]) c.send({ type: 'START' });
      if (cluster) await cluster.start(this.sourceControl());
    }
    this.logger.info({ collectors: this.collectors.size, sink: this.sink.type, stages: this.parts.stages.stages.map((s) => s.name) }, 'reactive fabric started');
  }

  /**
   * One collection cycle, through the same collector machines as `start()` in their `once`
   * mode (compose with `once`): every source polls until it has nothing more and stops, the
   * pipeline flushes, checkpoints are committed, everything closes. For cron jobs and
   * `fabric run --once`.
   */
  async runOnce(): Promise<RunOnceReport> {
    if (this.parts.mode !== 'once') throw new Error('runOnce() needs an orchestrator composed for it: composeFabric(loaded, { once: { maxPolls } })');
    // Stages may wait on unref'd timers (enrichment deadlines); the run must not end because
    // Node saw nothing else keeping the loop alive.
    const keepAlive = setInterval(() => undefined, 60_000);
    const report: RunOnceReport = { collectors: [], published: 0 };
    const count = (events: readonly FabricEvent[]) => (report.published += events.length);
    this.pipeline.on('published', count);
    try {
      await this.startOutputs();
      const enrichers = this.enricherCollectors;
      for (const e of enrichers) e.send({ type: 'START' });
      // Sources start once every enricher is up or has given up (a failed one only means fewer verdicts).
      await Promise.all(enrichers.map((e) => e.waitFor((s) => s !== 'starting' && s !== 'restarting')));
      const sources = this.sources;
      for (const c of sources) c.send({ type: 'START' });
      await Promise.all(sources.map((c) => c.waitFor((s) => AT_REST.has(s))));
      await Promise.all(sources.map((c) => c.drained()));
      report.collectors = sources.map((c) => ({ id: c.id, ...c.onceOutcome() }));
      for (const e of enrichers) e.send({ type: 'STOP' });
      await Promise.all(enrichers.map((e) => e.waitFor((s) => AT_REST.has(s))));
      await this.close();
      return report;
    } finally {
      this.pipeline.off('published', count);
      clearInterval(keepAlive);
    }
  }

  /** Graceful stop: stop polling (reverse start order), flush, commit, close. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const deadline = this.loaded.config.supervisor.shutdown_timeout_seconds * 1000;
    this.logger.info('stopping: no more polls, flushing in-flight batches');
    // The cluster hands its slots over first: their collectors commit, then the others take them.
    if (this.started && this.parts.cluster)
      await settleWithin(
        this.parts.cluster.stop(deadline).catch((err: Error) => this.logger.error({ err: err.message }, 'leaving the cluster failed')),
        deadline + 5000,
      );
    // Reverse start order: sources (they use the enrichers) first.
    const all = [...this.enricherCollectors, ...this.sources].reverse();
    for (const c of all) c.send({ type: 'STOP' });
    const at = Date.now();
    await Promise.all(all.map((c) => c.waitFor((s) => AT_REST.has(s), deadline)));
    await settleWithin(Promise.all(all.map((c) => c.drained())), Math.max(0, deadline - (Date.now() - at)));
    await this.close();
  }

  private async close(): Promise<void> {
    this.abort.abort();
    const { stages, deadLetters, sink } = this.parts;
    const deadline = this.loaded.config.supervisor.shutdown_timeout_seconds * 1000;
    await stages.stop().catch((err: Error) => this.logger.error({ err: err.message }, 'stopping pipeline stages failed'));
    await deadLetters.close(deadline);
    await sink.close(deadline).catch((err: Error) => this.logger.error({ err: err.message }, 'closing the sink failed'));
    for (const c of this.collectors.values()) c.dispose();
    this.logger.info('stopped');
  }

  /** How the cluster starts and stops the sources it gives this instance. */
  private sourceControl(): SourceControl {
    return {
      sourceIds: () => this.sources.map((c) => c.id),
      startSource: async (id, checkpoint, opts) => {
        const c = this.collectors.get(id);
        if (!c || this.stopping) return;
        // A collector handed back while it still stops (the slot moved away and back) starts once at rest.
        await c.waitFor((s) => AT_REST.has(s), this.loaded.config.supervisor.shutdown_timeout_seconds * 1000);
        c.setPosition(checkpoint);
        c.send({ type: 'START', ...(opts?.paused ? { paused: true } : {}) });
      },
      commandSource: async (id, command) => {
        const c = this.mustGet(id);
        const event = { type: COMMAND_EVENTS[command] } as CollectorEvent;
        if (!c.can(event)) return { ok: false, state: c.currentState, reason: `cannot ${command} collector "${id}" while it is ${c.currentState}` };
        c.send(event);
        return { ok: true, state: c.currentState };
      },
      stateOf: (id) => this.collectors.get(id)?.currentState,
      positionSource: (id, checkpoint) => this.collectors.get(id)?.setPosition(checkpoint),
      stopSource: async (id, deadlineMs) => {
        const c = this.collectors.get(id);
        if (!c) return;
        c.send({ type: 'STOP' });
        const at = Date.now();
        await c.waitFor((s) => AT_REST.has(s), deadlineMs);
        await settleWithin(c.drained(), Math.max(0, deadlineMs - (Date.now() - at)));
      },
    };
  }

  cluster(): ClusterStatus | undefined {
    return this.parts.cluster?.status();
  }

  /** Published events as they are acknowledged, batch by batch, until stopped. */
  async *collect(): AsyncGenerator<readonly FabricEvent[]> {
    const queue: Array<readonly FabricEvent[]> = [];
    const arrived = new Notifier();
    const onPublished = (events: readonly FabricEvent[]) => {
      queue.push(events);
      arrived.notify();
    };
    this.pipeline.on('published', onPublished);
    const onAbort = () => arrived.notify();
    this.abort.signal.addEventListener('abort', onAbort);
    try {
      while (!this.abort.signal.aborted || queue.length > 0) {
        const next = queue.shift();
        if (next) yield next;
        else await arrived.wait();
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
      collectors[c.id] = {
        eventsCollected: m.eventsCollected,
        eventsDeduplicated: m.eventsDeduplicated,
        eventsPublished: m.eventsPublished,
        pollErrors: m.pollErrors,
        restarts: m.restarts,
      };
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

  async waitForCollector(id: string, until: (state: CollectorState) => boolean, timeoutMs: number): Promise<CollectorState> {
    return this.mustGet(id).waitFor(until, timeoutMs);
  }

  deadLetters(limit: number, collector?: string): DeadLetterView {
    const q = this.parts.deadLetters;
    return { ...(q.location ? { target: q.location } : {}), ...q.totals(), records: q.recent(limit, collector) };
  }

  machine(id: string): MachineGraph | undefined {
    const c = this.collectors.get(id);
    return c ? machineGraph(collectorMachine, c.currentState) : undefined;
  }

  transitions(id: string, limit?: number): TransitionRecord[] | undefined {
    return this.collectors.get(id)?.transitions(limit);
  }

  /**
   * Cluster mode: a command for a source goes through the cluster to whichever instance runs it
   * (this one included) and outlives its move; undefined when the command is this instance's own.
   */
  async routeCommand(id: string, command: CollectorCommand, waitMs: number): Promise<RoutedResult | undefined> {
    const c = this.mustGet(id);
    if (!this.parts.cluster || c.role !== 'source') return undefined;
    return this.parts.cluster.command(id, command, waitMs);
  }

  async command(id: string, command: CollectorCommand): Promise<CommandResult> {
    const routed = await this.routeCommand(id, command, 0);
    if (routed) return { ok: true, state: this.mustGet(id).currentState };
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
    if (!['stopped', 'idle', 'failed'].includes(c.currentState))
      throw new HostError('CONFLICT', `collector "${c.id}" is ${c.currentState}; stop it first (POST /collectors/${c.id}/stop), then change its checkpoint`);
  }

  async getCheckpoint(id: string): Promise<CheckpointSummary> {
    const c = this.mustGet(id);
    // In a cluster the committed position is the checkpoints topic's, wherever the collector runs.
    if (this.parts.cluster && c.role === 'source') return this.parts.checkpoints.read(id);
    return c.checkpoint;
  }

  async setCheckpoint(id: string, value: Checkpoint): Promise<CheckpointSummary> {
    const c = this.mustGet(id);
    const cluster = this.parts.cluster && c.role === 'source' ? this.parts.cluster : undefined;
    if (!cluster) this.mustBeStopped(c);
    const fields = checkpointErrors(c.plugin.definition.checkpointSchema, value);
    if (fields.length > 0)
      throw new CheckpointValidationError(
        `checkpoint for collector "${id}" does not match the checkpoint schema of ${c.plugin.pkg.name}: ${describeFieldErrors(fields)}; send a value of the shape the plugin documents (GET /collectors/${id}/checkpoint shows the current one)`,
        fields,
      );
    // The owner stops the collector, commits the position in its slot's transaction and starts it again as it was.
    if (cluster) return cluster.setCheckpoint(id, value, CLUSTER_REQUEST_WAIT_MS);
    await this.parts.checkpoints.write(id, value);
    const summary = await this.parts.checkpoints.read(id);
    c.setPosition(summary);
    return summary;
  }

  async resetCheckpoint(id: string): Promise<void> {
    const c = this.mustGet(id);
    if (this.parts.cluster && c.role === 'source') {
      await this.parts.cluster.setCheckpoint(id, null, CLUSTER_REQUEST_WAIT_MS);
      return;
    }
    this.mustBeStopped(c);
    await this.parts.checkpoints.reset(id);
    c.setPosition({ value: undefined });
  }

  plugins(): Promise<InstalledPlugin[]> {
    return listInstalledPlugins(this.parts.roots);
  }

  async validatePluginConfig(pluginName: string, config: unknown): Promise<FieldError[]> {
    // Imported in a throw-away worker (unless the host runs plugins inline): asking about a
    // package that exits or loops at import must not end or freeze the host.
    const isolation = isolationOf({}, this.loaded.config.orchestrator);
    let plugin;
    try {
      plugin = isolation.mode === 'worker' ? await inspectPlugin(pluginName, this.parts.roots, isolation.limits) : await loadPlugin(pluginName, this.parts.roots);
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
      ...(await this.parts.stages.readiness()),
    };
    return { ready: this.started && Object.values(checks).every((c) => c.ok), checks };
  }

  async stats(): Promise<Record<string, unknown>> {
    return { ...this.snapshot(), metrics: await this.metrics.getMetricsAsJSON() };
  }

  private fpStore() {
    const store = this.parts.stages.falsePositives;
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
    return this.parts.stages.enrichmentLimits();
  }

  logLevel(): LogLevel {
    return this.logger.level as LogLevel;
  }

  /** The root logger's level: collectors and the supervisor log through it; plugin loggers made from now on inherit it. */
  setLogLevel(level: LogLevel): void {
    const from = this.logger.level;
    this.logger.level = level;
    this.logger.info({ from, to: level }, 'log level changed');
  }

  enrichers(): EnricherView[] {
    const sources = this.parts.stages.enricherSources?.();
    return this.enricherCollectors.map((c) => {
      const summary = c.summary();
      const source = sources?.get(c.id);
      const cache = source?.cacheStats();
      const lookups = cache ? cache.hits + cache.misses : 0;
      return {
        id: c.id,
        plugin: summary.plugin,
        pluginVersion: summary.pluginVersion,
        state: summary.state,
        health: summary.health,
        ...(summary.lastErrorCode ? { lastErrorCode: summary.lastErrorCode } : {}),
        ...(source
          ? {
              sourceHealth: redactDeep((({ retryAfterMs: _r, ...h }) => h)(source.currentHealth())),
              quota: source.quota(),
              queue: source.queueDepth,
              cache: { ...cache!, ...(lookups > 0 ? { hitRate: cache!.hits / lookups } : {}) },
            }
          : {}),
      };
    });
  }

  clearEnricherCache(id: string): number {
    const source = this.parts.stages.enricherSources?.().get(id);
    if (!this.enricherCollectors.some((c) => c.id === id)) throw new HostError('NOT_FOUND', `no enricher "${id}"; GET /enrichers lists them`);
    return source?.clearCache() ?? 0;
  }
}
