import { TypedEmitter } from 'tiny-typed-emitter';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import Type from 'typebox';
import type {
  CollectorConfigView,
  ConfigControl,
  EnricherView,
  LogLevel,
  CheckpointSummary,
  CollectorCommand,
  CollectorDetail,
  CollectorState,
  CollectorSummary,
  CommandResult,
  FabricHost,
  FalsePositive,
  FieldError,
  HostEvents,
  InstalledPlugin,
  LastError,
  MachineGraph,
  ReadinessReport,
  TransitionRecord,
} from '../../src/host.js';
import { COLLECTOR_STATES, ConfigRefusedError, HostError } from '../../src/host.js';
import { Secret } from '../../src/plugin-api/schema.js';
import type { Checkpoint, CollectorDescription, Indicator } from '../../src/plugin-api/index.js';
import { validateAgainstSchema } from '../../src/config/validate.js';

/**
 * An in-memory FabricHost with a real (xstate-free) collector state machine: commands walk the
 * same intermediate states the orchestrator does (starting, stopping, restarting) and emit one
 * `transition` per hop and a `status` at the end, so admin routes and SSE see realistic traffic.
 */

type Hop = { event: string; to: CollectorState };

/** Allowed commands per state, each as the hops it takes. */
const MACHINE: Record<CollectorState, Partial<Record<CollectorCommand, Hop[]>>> = {
  idle: {
    start: [
      { event: 'START', to: 'starting' },
      { event: 'STARTED', to: 'running' },
    ],
  },
  starting: {
    stop: [
      { event: 'STOP', to: 'stopping' },
      { event: 'STOPPED', to: 'stopped' },
    ],
  },
  running: {
    stop: [
      { event: 'STOP', to: 'stopping' },
      { event: 'STOPPED', to: 'stopped' },
    ],
    pause: [{ event: 'PAUSE', to: 'paused' }],
    restart: [
      { event: 'RESTART', to: 'restarting' },
      { event: 'STARTED', to: 'running' },
    ],
  },
  degraded: {
    stop: [
      { event: 'STOP', to: 'stopping' },
      { event: 'STOPPED', to: 'stopped' },
    ],
    pause: [{ event: 'PAUSE', to: 'paused' }],
    restart: [
      { event: 'RESTART', to: 'restarting' },
      { event: 'STARTED', to: 'running' },
    ],
  },
  restarting: {
    stop: [
      { event: 'STOP', to: 'stopping' },
      { event: 'STOPPED', to: 'stopped' },
    ],
  },
  paused: {
    resume: [{ event: 'RESUME', to: 'running' }],
    stop: [
      { event: 'STOP', to: 'stopping' },
      { event: 'STOPPED', to: 'stopped' },
    ],
    restart: [
      { event: 'RESTART', to: 'restarting' },
      { event: 'STARTED', to: 'running' },
    ],
  },
  stopping: {},
  stopped: {
    start: [
      { event: 'START', to: 'starting' },
      { event: 'STARTED', to: 'running' },
    ],
    restart: [
      { event: 'START', to: 'starting' },
      { event: 'STARTED', to: 'running' },
    ],
  },
  failed: {
    start: [
      { event: 'START', to: 'starting' },
      { event: 'STARTED', to: 'running' },
    ],
    restart: [
      { event: 'RESTART', to: 'restarting' },
      { event: 'STARTED', to: 'running' },
    ],
    stop: [{ event: 'STOP', to: 'stopped' }],
  },
};

/** Automatic transitions the supervisor makes, shown in the graph. */
const AUTOMATIC: Partial<Record<CollectorState, Array<{ event: string; target: CollectorState; guarded?: boolean }>>> = {
  starting: [{ event: 'START_FAILED', target: 'restarting', guarded: true }],
  running: [{ event: 'POLL_ERRORS', target: 'degraded', guarded: true }],
  degraded: [
    { event: 'POLL_OK', target: 'running' },
    { event: 'UNHEALTHY', target: 'restarting', guarded: true },
  ],
  restarting: [{ event: 'GIVE_UP', target: 'failed', guarded: true }],
};

export interface FakeCollectorSpec {
  id: string;
  plugin?: string;
  state?: CollectorState;
  description?: CollectorDescription;
  lastError?: LastError;
  checkpoint?: Checkpoint;
}

interface CollectorRecord {
  summary: CollectorSummary;
  description: CollectorDescription;
  lastError?: LastError;
  checkpoint: CheckpointSummary;
  restartCount: number;
  transitions: TransitionRecord[];
  eventsCollected: number;
}

export const SECRET_API_KEY = 'sk-live-Zx81f0c9d2a7b4e6c3f5a1d8e0b9c7f6';

export const LOG_FILE_PLUGIN_SCHEMA = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'File to tail' }),
    format: Type.Union([Type.Literal('json'), Type.Literal('syslog')], { default: 'json' }),
    start_at: Type.Union([Type.Literal('beginning'), Type.Literal('end')], { default: 'end' }),
  },
  { additionalProperties: false },
);

export const ES_PLUGIN_SCHEMA = Type.Object(
  {
    url: Type.String({ pattern: '^https?://' }),
    index: Type.String({ minLength: 1, default: 'logs-*' }),
    api_key: Secret({ description: 'Elasticsearch API key' }),
    page_size: Type.Integer({ minimum: 1, maximum: 10000, default: 500 }),
  },
  { additionalProperties: false },
);

export class FakeHost implements FabricHost {
  readonly events = new TypedEmitter<HostEvents>();
  readonly metrics = new Registry();
  private readonly collectors = new Map<string, CollectorRecord>();
  private readonly falsePositives = new Map<string, FalsePositive>();
  private readonly stateGauge: Gauge;
  private readonly restarts: Counter;
  private readonly eventsTotal: Counter;
  readonly installed: InstalledPlugin[];
  readiness_: ReadinessReport = {
    ready: true,
    checks: { config: { ok: true }, sink: { ok: true, detail: 'jsonl sink writable' }, worker_pool: { ok: true, detail: '2 threads' } },
  };
  /** Set to make the next command of this collector throw (simulates a host bug). */
  crashOnCommand = new Set<string>();
  private clock = Date.parse('2026-01-01T00:00:00.000Z');

  constructor(specs: FakeCollectorSpec[] = []) {
    this.installed = [
      {
        name: '@reactive-fabric/plugin-log-file',
        version: '0.1.0',
        kind: 'source',
        apiRange: '^1.0.0',
        compatible: true,
        description: 'Tails JSON or syslog files',
        configSchema: LOG_FILE_PLUGIN_SCHEMA,
      },
      {
        name: '@reactive-fabric/plugin-log-elasticsearch',
        version: '0.1.0',
        kind: 'source',
        apiRange: '^1.0.0',
        compatible: true,
        description: 'Elasticsearch search_after collector',
        configSchema: ES_PLUGIN_SCHEMA,
      },
      { name: 'legacy-plugin', version: '3.2.1', kind: 'unknown', apiRange: '^0.9.0', compatible: false, problem: 'declares plugin API ^0.9.0; this host implements 1.0.0' },
    ];
    this.stateGauge = new Gauge({
      name: 'fabric_collector_state',
      help: 'Collector state machine state (1 for the current state)',
      labelNames: ['collector', 'state'],
      registers: [this.metrics],
    });
    this.restarts = new Counter({ name: 'fabric_collector_restarts_total', help: 'Collector restarts', labelNames: ['collector'], registers: [this.metrics] });
    this.eventsTotal = new Counter({ name: 'fabric_collector_events_total', help: 'Events collected', labelNames: ['collector'], registers: [this.metrics] });
    const errorsTotal = new Counter({ name: 'fabric_collector_errors_total', help: 'Poll errors by code', labelNames: ['collector', 'code'], registers: [this.metrics] });
    const pollLatency = new Histogram({
      name: 'fabric_collector_poll_duration_seconds',
      help: 'Poll latency',
      labelNames: ['collector'],
      buckets: [0.01, 0.1, 1, 10],
      registers: [this.metrics],
    });
    new Gauge({ name: 'fabric_collector_checkpoint_lag_seconds', help: 'Age of the newest committed event', labelNames: ['collector'], registers: [this.metrics] }).set(
      { collector: 'none' },
      0,
    );
    new Gauge({ name: 'fabric_pipeline_queue_depth', help: 'Events between poll and sink acknowledgement', registers: [this.metrics] }).set(3);
    new Histogram({ name: 'fabric_worker_pool_run_seconds', help: 'Worker task run time', buckets: [0.001, 0.01, 0.1], registers: [this.metrics] }).observe(0.004);
    new Histogram({ name: 'fabric_worker_pool_wait_seconds', help: 'Worker task queue wait', buckets: [0.001, 0.01, 0.1], registers: [this.metrics] }).observe(0.0002);
    new Counter({ name: 'fabric_sink_acks_total', help: 'Batches acknowledged by the sink', labelNames: ['sink'], registers: [this.metrics] }).inc({ sink: 'jsonl' }, 7);
    for (const spec of specs) {
      this.add(spec);
      this.eventsTotal.inc({ collector: spec.id }, 42);
      pollLatency.observe({ collector: spec.id }, 0.05);
      if (spec.lastError) errorsTotal.inc({ collector: spec.id, code: spec.lastError.code }, spec.lastError.count);
    }
  }

  private now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  add(spec: FakeCollectorSpec): void {
    const plugin = this.installed.find((p) => p.name === (spec.plugin ?? '@reactive-fabric/plugin-log-file'))!;
    const state = spec.state ?? 'running';
    const since = this.now();
    this.collectors.set(spec.id, {
      summary: {
        id: spec.id,
        plugin: plugin.name,
        pluginVersion: plugin.version,
        kind: 'source',
        state,
        since,
        health: state === 'running' ? 'healthy' : state === 'degraded' ? 'degraded' : state === 'failed' ? 'unhealthy' : 'unknown',
      },
      description: spec.description ?? { backend: 'file', target: `/var/log/${spec.id}.log` },
      ...(spec.lastError ? { lastError: spec.lastError } : {}),
      checkpoint: spec.checkpoint === undefined ? { value: undefined } : { value: spec.checkpoint, updatedAt: since },
      restartCount: 0,
      transitions: [{ at: since, from: 'idle', to: state, event: 'BOOT' }],
      eventsCollected: 42,
    });
    this.setGauge(spec.id, state);
  }

  private setGauge(id: string, state: CollectorState): void {
    for (const s of COLLECTOR_STATES) this.stateGauge.set({ collector: id, state: s }, s === state ? 1 : 0);
  }

  /** Move a collector as the supervisor would (e.g. to failed), emitting the events. */
  force(id: string, to: CollectorState, event: string, reason?: string): void {
    const rec = this.collectors.get(id);
    if (!rec) throw new Error(`no collector ${id}`);
    this.hop(rec, { event, to }, reason);
    this.events.emit('status', { ...rec.summary });
  }

  private hop(rec: CollectorRecord, hop: Hop, reason?: string): void {
    const at = this.now();
    const record: TransitionRecord = { at, from: rec.summary.state, to: hop.to, event: hop.event, ...(reason ? { reason } : {}) };
    rec.transitions.push(record);
    if (rec.transitions.length > 200) rec.transitions.shift();
    rec.summary = { ...rec.summary, state: hop.to, since: at, health: hop.to === 'running' ? 'healthy' : hop.to === 'failed' ? 'unhealthy' : rec.summary.health };
    this.setGauge(rec.summary.id, hop.to);
    this.events.emit('transition', { ...record, collector: rec.summary.id });
  }

  listCollectors(): CollectorSummary[] {
    return [...this.collectors.values()].map((r) => ({ ...r.summary }));
  }

  getCollector(id: string): CollectorDetail | undefined {
    const r = this.collectors.get(id);
    if (!r) return undefined;
    return {
      ...r.summary,
      description: r.description,
      metrics: {
        eventsCollected: r.eventsCollected,
        eventsPublished: r.eventsCollected - 2,
        eventsDeduplicated: 2,
        polls: 10,
        pollErrors: r.lastError?.count ?? 0,
        restarts: r.restartCount,
        lastPollAt: r.summary.since,
        inFlight: 0,
      },
      ...(r.lastError ? { lastError: r.lastError } : {}),
      checkpoint: r.checkpoint,
      restartCount: r.restartCount,
    };
  }

  /** Like the orchestrator's: resolves on the transition that satisfies `until`, or at the deadline. */
  waitForCollector(id: string, until: (state: CollectorState) => boolean, timeoutMs: number): Promise<CollectorState> {
    const r = this.collectors.get(id);
    if (!r) return Promise.reject(new HostError('NOT_FOUND', `no collector "${id}"`));
    if (until(r.summary.state)) return Promise.resolve(r.summary.state);
    return new Promise((resolve) => {
      const onTransition = (t: TransitionRecord & { collector: string }): void => {
        if (t.collector !== id || !until(t.to as CollectorState)) return;
        clearTimeout(timer);
        this.events.off('transition', onTransition);
        resolve(t.to as CollectorState);
      };
      const timer = setTimeout(() => {
        this.events.off('transition', onTransition);
        resolve(this.collectors.get(id)!.summary.state);
      }, timeoutMs);
      this.events.on('transition', onTransition);
    });
  }

  machine(id: string): MachineGraph | undefined {
    const r = this.collectors.get(id);
    if (!r) return undefined;
    return {
      id: `collector:${id}`,
      initial: 'idle',
      current: r.summary.state,
      states: COLLECTOR_STATES.map((name) => {
        const cmds = MACHINE[name];
        const transitions = Object.values(cmds).map((hops) => ({ event: hops![0]!.event, target: hops![0]!.to }));
        return { name, transitions: [...transitions, ...(AUTOMATIC[name] ?? [])] };
      }),
    };
  }

  transitions(id: string, limit = 100): TransitionRecord[] | undefined {
    const r = this.collectors.get(id);
    return r ? r.transitions.slice(-limit) : undefined;
  }

  /** Delay before the second hop of a two-hop command (stopping -> stopped), like a plugin's stop(). */
  settleDelayMs = 15;

  async command(id: string, command: CollectorCommand): Promise<CommandResult> {
    const r = this.collectors.get(id);
    if (!r) throw new HostError('NOT_FOUND', `no collector "${id}"`);
    if (this.crashOnCommand.has(id)) throw new TypeError("Cannot read properties of undefined (reading 'actor')");
    const hops = MACHINE[r.summary.state][command];
    if (!hops) return { ok: false, state: r.summary.state, reason: `cannot ${command} collector "${id}" while it is ${r.summary.state}` };
    if (command === 'restart') {
      r.restartCount++;
      this.restarts.inc({ collector: id });
    }
    // Like the orchestrator: the command's event is taken at once, the rest happens asynchronously.
    const [first, ...rest] = hops;
    this.step(r, first!, `admin API ${command}`);
    if (rest.length > 0) {
      setTimeout(() => {
        for (const hop of rest) this.step(r, hop, `admin API ${command}`);
      }, this.settleDelayMs);
    }
    return { ok: true, state: r.summary.state };
  }

  private step(r: CollectorRecord, hop: Hop, reason: string): void {
    this.hop(r, hop, reason);
    this.events.emit('status', { ...r.summary });
  }

  private requireStoppedForWrite(id: string): CollectorRecord {
    const r = this.collectors.get(id);
    if (!r) throw new HostError('NOT_FOUND', `no collector "${id}"`);
    if (!['stopped', 'idle', 'failed'].includes(r.summary.state)) throw new HostError('CONFLICT', `collector "${id}" is ${r.summary.state}`);
    return r;
  }

  async getCheckpoint(id: string): Promise<CheckpointSummary> {
    const r = this.collectors.get(id);
    if (!r) throw new HostError('NOT_FOUND', `no collector "${id}"`);
    return r.checkpoint;
  }

  async setCheckpoint(id: string, value: Checkpoint): Promise<CheckpointSummary> {
    const r = this.requireStoppedForWrite(id);
    r.checkpoint = { value, updatedAt: this.now() };
    return r.checkpoint;
  }

  async resetCheckpoint(id: string): Promise<void> {
    const r = this.requireStoppedForWrite(id);
    r.checkpoint = { value: undefined };
  }

  async plugins(): Promise<InstalledPlugin[]> {
    return this.installed;
  }

  async validatePluginConfig(pluginName: string, config: unknown): Promise<FieldError[]> {
    const p = this.installed.find((i) => i.name === pluginName);
    if (!p) throw new HostError('NOT_FOUND', `no plugin "${pluginName}"`);
    if (!p.configSchema) return [{ path: '/', message: p.problem ?? 'plugin cannot be loaded' }];
    return validateAgainstSchema(p.configSchema as never, config).errors;
  }

  async readiness(): Promise<ReadinessReport> {
    return this.readiness_;
  }

  async stats(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const m of await this.metrics.getMetricsAsJSON()) out[m.name] = m.values;
    return out;
  }

  async listFalsePositives(): Promise<FalsePositive[]> {
    return [...this.falsePositives.values()];
  }

  async markFalsePositive(indicator: Indicator, reason?: string): Promise<FalsePositive> {
    const fp: FalsePositive = { indicator, ...(reason ? { reason } : {}), markedAt: this.now() };
    this.falsePositives.set(`${indicator.type}:${indicator.value.toLowerCase()}`, fp);
    return fp;
  }

  async unmarkFalsePositive(indicator: Indicator): Promise<boolean> {
    return this.falsePositives.delete(`${indicator.type}:${indicator.value.toLowerCase()}`);
  }

  // Runtime config, log level and enrichers: in memory, checked against the fake plugins' schemas.
  private readonly configs = new Map<string, CollectorConfigView>();
  private level: LogLevel = 'info';
  enricherList: EnricherView[] = [
    {
      id: 'vt',
      plugin: '@reactive-fabric/plugin-ti-virustotal',
      pluginVersion: '0.1.0',
      state: 'running',
      health: 'healthy',
      quota: { usedToday: 12, remainingToday: 488, perMinute: 4, perDay: 500, availableThisMinute: 4 },
      queue: 0,
      cache: { entries: 3, hits: 9, misses: 3, hitRate: 0.75 },
    },
  ];

  private configOf(id: string): CollectorConfigView {
    const r = this.collectors.get(id);
    if (!r) throw new HostError('NOT_FOUND', `no collector "${id}"`);
    return this.configs.get(id) ?? { id, plugin: r.summary.plugin, enabled: true, config: {} };
  }

  private async checked(entry: Record<string, unknown>): Promise<CollectorConfigView> {
    const plugin = String(entry.plugin);
    if (!this.installed.some((p) => p.name === plugin && p.configSchema))
      throw new ConfigRefusedError(`plugin: ${plugin} is not installed`, [{ path: 'plugin', message: `${plugin} is not installed` }]);
    const errors = await this.validatePluginConfig(plugin, entry.config ?? {});
    if (errors.length > 0) {
      const problems = errors.map((e) => ({ path: `config${e.path === '/' ? '' : e.path.replace(/\//g, '.')}`, message: e.message }));
      throw new ConfigRefusedError(problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
    }
    return { ...(entry as unknown as CollectorConfigView), enabled: entry.enabled !== false, config: (entry.config as Record<string, unknown> | undefined) ?? {} };
  }

  readonly configControl: ConfigControl = {
    collectorConfig: (id) => this.configOf(id),
    updateCollectorConfig: async (id, entry) => {
      this.configOf(id);
      const view = await this.checked({ ...entry, id });
      this.configs.set(id, view);
      return view;
    },
    createCollector: async (entry) => {
      const id = String(entry.id);
      if (this.collectors.has(id)) throw new HostError('EXISTS', `collector "${id}" exists`);
      const view = await this.checked(entry);
      this.add({ id, plugin: view.plugin });
      this.configs.set(id, view);
      return view;
    },
    deleteCollector: async (id) => {
      this.configOf(id);
      this.collectors.delete(id);
      this.configs.delete(id);
    },
    reload: async () => ({ added: [], removed: [], restarted: [], unchanged: [...this.collectors.keys()], restartRequired: [] }),
  };

  logLevel(): LogLevel {
    return this.level;
  }

  setLogLevel(level: LogLevel): void {
    this.level = level;
  }

  enrichers(): EnricherView[] {
    return this.enricherList;
  }

  clearEnricherCache(id: string): number {
    const e = this.enricherList.find((x) => x.id === id);
    if (!e) throw new HostError('NOT_FOUND', `no enricher "${id}"`);
    const removed = e.cache?.entries ?? 0;
    if (e.cache) e.cache = { ...e.cache, entries: 0 };
    return removed;
  }
}

/** A host with one collector in each interesting state. */
export function standardHost(): FakeHost {
  return new FakeHost([
    { id: 'auth-log', state: 'running', checkpoint: { offset: 1024, inode: 77 } },
    {
      id: 'es-prod',
      plugin: '@reactive-fabric/plugin-log-elasticsearch',
      state: 'degraded',
      description: { backend: 'elasticsearch', target: 'https://es.internal:9200', index: 'logs-*' },
      lastError: { code: 'UNAVAILABLE', message: 'es.internal:9200 answered 503', retriable: true, count: 3, since: '2026-01-01T00:00:00.000Z' },
    },
    { id: 'broken', state: 'failed', lastError: { code: 'AUTH_FAILED', message: 'credentials refused', retriable: false, count: 1, since: '2026-01-01T00:00:00.000Z' } },
    { id: 'stopped-one', state: 'stopped', checkpoint: { offset: 5 } },
    { id: 'paused-one', state: 'paused' },
  ]);
}
