import type { SearchRoot } from '../plugins/search-path.js';
import type { Logger } from 'pino';
import { ConfigError, pointerToPath, type ConfigProblem } from '../config/errors.js';
import type { LoadedConfig } from '../config/load.js';
import { loadConfigWithOverlay, readOverlay, writeOverlay } from '../config/overlay.js';
import { keepRedacted, redactedConfig } from '../config/redacted.js';
import { CollectorConfigSchema, type CollectorConfig, type EnricherConfig, type FabricConfig } from '../config/schema.js';
import { validateAgainstSchema } from '../config/validate.js';
import { stableStringify } from '../enrichment/stable-stringify.js';
import { ConfigRefusedError, HostError, type CollectorConfigView, type ConfigControl, type LogLevel, type ReloadReport } from '../host.js';
import { registerSecret } from '../logging.js';
import type { Orchestrator } from '../orchestrator.js';
import { resolveComponents, type ResolvedComponent } from '../plugins/resolve.js';
import type { CollectorFactory } from './collectors.js';

export interface LiveConfigOptions {
  /** The effective config the instance was composed from (file + overlay). */
  loaded: LoadedConfig;
  components: readonly ResolvedComponent[];
  roots: readonly SearchRoot[];
  factory: CollectorFactory;
  orchestrator: Orchestrator;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/** Sections a running instance cannot take over: a reload reports them, the next start applies them. */
const LIVE_SECTIONS: ReadonlySet<keyof FabricConfig> = new Set(['collectors', 'log_level']);

/** The plugin's config schema, when known: not for a plugin whose import failed (its worker checks the config at start). */
function schemaOf(comp: ResolvedComponent | undefined): unknown {
  return comp && !comp.validateInWorker ? comp.loaded.definition.configSchema : undefined;
}

function refusedFrom(err: unknown, what: string, strip?: RegExp): never {
  if (!(err instanceof ConfigError)) throw err;
  const problems = err.problems.map((p: ConfigProblem) => ({
    path: strip ? p.path.replace(strip, '') || '(root)' : p.path || '(root)',
    message: `${p.message}${p.fix ? ` (fix: ${p.fix})` : ''}`,
  }));
  throw new ConfigRefusedError(`${what}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
}

/**
 * The collectors' config while the instance runs: shown redacted, changed one collector at a
 * time (validated as `fabric validate` validates a file, applied by restarting only that
 * collector, persisted to the overlay), and re-read from the file on reload. Changes are applied
 * one after another, never interleaved; a refused change leaves everything as it was.
 */
export class LiveConfig implements ConfigControl {
  private running: LoadedConfig;
  /** Resolved plugin and validated config of each enabled source, by id. */
  private readonly resolved = new Map<string, ResolvedComponent>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: LiveConfigOptions) {
    this.running = o.loaded;
    for (const c of o.components) this.resolved.set(c.config.id, c);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private entry(id: string): CollectorConfig | undefined {
    return this.running.config.collectors.find((c) => c.id === id);
  }

  private enricher(id: string): EnricherConfig | undefined {
    return this.running.config.enrichers.find((c) => c.id === id);
  }

  private view(entry: CollectorConfig | EnricherConfig): CollectorConfigView {
    // Sources: what runs now (none when disabled). Enrichers never change at runtime.
    const comp = this.resolved.get(entry.id) ?? this.o.components.find((c) => c.section === 'enrichers' && c.config.id === entry.id);
    const block = comp ? comp.pluginConfig : entry.config;
    return { ...(structuredClone(entry) as CollectorConfigView), config: redactedConfig(schemaOf(comp), block) as Record<string, unknown> };
  }

  collectorConfig(id: string): CollectorConfigView {
    const entry = this.entry(id) ?? this.enricher(id);
    if (!entry) throw new HostError('NOT_FOUND', `no collector "${id}" in the config; GET /collectors lists them`);
    return this.view(entry);
  }

  /** Validate one collector entry as `fabric validate` would; the plugin resolved, or ConfigRefusedError. */
  private async check(candidate: Record<string, unknown>, what: string): Promise<{ entry: CollectorConfig; component?: ResolvedComponent }> {
    const { value, errors } = validateAgainstSchema(CollectorConfigSchema, candidate);
    if (errors.length > 0) {
      const problems = errors.map((e) => ({ path: pointerToPath(e.path) || '(root)', message: e.message }));
      throw new ConfigRefusedError(`${what}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
    }
    const entry = value as CollectorConfig;
    const probe: LoadedConfig = {
      ...this.running,
      config: { ...this.running.config, collectors: [entry], enrichers: [] },
      envRefs: new Map(),
      lineOf: () => undefined,
    };
    let components: ResolvedComponent[];
    try {
      components = await resolveComponents(probe, this.o.roots);
    } catch (err) {
      refusedFrom(err, what, /^collectors\[0\]\.?/);
    }
    const component = components[0];
    if (component) for (const s of component.secrets) registerSecret(s);
    return { entry, ...(component ? { component } : {}) };
  }

  /** Persist the overlay's entry for `id` (null: removed), atomically. */
  private async persist(id: string, entry: CollectorConfig | null): Promise<void> {
    const overlay = readOverlay(this.running.stateDir);
    overlay.collectors[id] = entry;
    await writeOverlay(this.running.stateDir, overlay);
  }

  /**
   * Stop the old collector (if it runs) and start the new one (if enabled): nothing else is
   * touched. Like Kafka Connect, a collector an operator stopped stays stopped with its new
   * config, and a paused one is paused again once it is up.
   */
  private async swap(id: string, component: ResolvedComponent | undefined): Promise<void> {
    const before = this.o.orchestrator.getCollector(id)?.state;
    if (before !== undefined) await this.o.orchestrator.retire(id);
    this.resolved.delete(id);
    if (!component) return;
    this.resolved.set(id, component);
    const next = await this.o.factory.build(component);
    this.o.orchestrator.adopt(next, { start: before !== 'stopped' });
    // idle → stopped: it shows as the operator left it, and `start` works from there.
    if (before === 'stopped') next.send({ type: 'STOP' });
    if (before === 'paused') {
      await next.waitFor((s) => s !== 'idle' && s !== 'starting', this.o.loaded.config.supervisor.shutdown_timeout_seconds * 1000);
      if (next.can({ type: 'PAUSE' })) next.send({ type: 'PAUSE' });
    }
  }

  private setEntries(collectors: CollectorConfig[]): void {
    this.running = { ...this.running, config: { ...this.running.config, collectors } };
  }

  updateCollectorConfig(id: string, body: Record<string, unknown>): Promise<CollectorConfigView> {
    return this.serial(async () => {
      const current = this.entry(id);
      if (!current) {
        if (this.enricher(id)) throw new HostError('CONFLICT', `"${id}" is an enricher: its config is read at start; change it in ${this.running.file} and restart`);
        throw new HostError('NOT_FOUND', `no collector "${id}"; GET /collectors lists them, POST /collectors creates one`);
      }
      if (body.id !== undefined && body.id !== id)
        throw new ConfigRefusedError(`id: the body names "${String(body.id)}" but the URL "${id}"`, [{ path: 'id', message: `must be "${id}" (the id in the URL)` }]);
      const candidate: Record<string, unknown> = { ...body, id };
      // Placeholders GET showed for secrets keep the stored values, if the plugin is the same.
      if (body.plugin === current.plugin && body.config !== undefined) {
        const stored = this.resolved.get(id);
        const block = stored ? stored.pluginConfig : current.config;
        candidate.config = keepRedacted(body.config, block, redactedConfig(schemaOf(stored), block));
      }
      const { entry, component } = await this.check(candidate, `collector "${id}" config refused`);
      await this.persist(id, entry);
      this.setEntries(this.running.config.collectors.map((c) => (c.id === id ? entry : c)));
      await this.swap(id, component);
      this.o.logger.info({ collector: id, enabled: entry.enabled }, 'collector config changed through the admin API; only this collector was restarted');
      return this.view(entry);
    });
  }

  createCollector(body: Record<string, unknown>): Promise<CollectorConfigView> {
    return this.serial(async () => {
      const id = body.id;
      if (typeof id === 'string' && (this.entry(id) || this.enricher(id)))
        throw new HostError('EXISTS', `a collector or enricher "${id}" already exists; change it with PUT /collectors/${id}/config`);
      const { entry, component } = await this.check(body, 'new collector refused');
      await this.persist(entry.id, entry);
      this.setEntries([...this.running.config.collectors, entry]);
      await this.swap(entry.id, component);
      this.o.logger.info({ collector: entry.id, plugin: entry.plugin }, 'collector created through the admin API');
      return this.view(entry);
    });
  }

  deleteCollector(id: string): Promise<void> {
    return this.serial(async () => {
      if (!this.entry(id)) {
        if (this.enricher(id)) throw new HostError('CONFLICT', `"${id}" is an enricher: remove it from ${this.running.file} and restart`);
        throw new HostError('NOT_FOUND', `no collector "${id}"; GET /collectors lists them`);
      }
      await this.persist(id, null);
      this.setEntries(this.running.config.collectors.filter((c) => c.id !== id));
      await this.swap(id, undefined);
      this.o.logger.info({ collector: id }, 'collector removed through the admin API; its stored checkpoint stays');
    });
  }

  reload(): Promise<ReloadReport> {
    return this.serial(async () => {
      let next: LoadedConfig;
      let components: ResolvedComponent[];
      try {
        next = loadConfigWithOverlay(this.running.file, this.o.env);
        for (const v of next.interpolated) registerSecret(v);
        components = await resolveComponents(next, this.o.roots, { deferBrokenImports: true });
      } catch (err) {
        refusedFrom(err, `reload refused, the running config stays (${this.running.file})`);
      }
      for (const c of components) for (const s of c.secrets) registerSecret(s);
      const report = this.diff(next, components);
      // Every check passed: only now is anything changed.
      const nextSources = new Map(components.filter((c) => c.section === 'collectors').map((c) => [c.config.id, c]));
      this.setEntries(next.config.collectors);
      for (const id of [...report.removed, ...report.restarted, ...report.added]) await this.swap(id, nextSources.get(id));
      if (report.logLevel) this.o.orchestrator.setLogLevel(report.logLevel as LogLevel);
      this.running = { ...this.running, config: { ...this.running.config, log_level: next.config.log_level } };
      this.o.logger.info(report, 'config reloaded');
      return report;
    });
  }

  private diff(next: LoadedConfig, components: readonly ResolvedComponent[]): ReloadReport {
    const enabled = (list: CollectorConfig[]) => new Map(list.filter((c) => c.enabled).map((c) => [c.id, stableStringify(c)]));
    const before = enabled(this.running.config.collectors);
    const after = enabled(next.config.collectors);
    // A source whose plugin failed to resolve is not enabled in effect: nothing is built for it.
    for (const id of after.keys()) if (!components.some((c) => c.section === 'collectors' && c.config.id === id)) after.delete(id);
    const report: ReloadReport = { added: [], removed: [], restarted: [], unchanged: [], restartRequired: [] };
    for (const [id, text] of before) {
      if (!after.has(id)) report.removed.push(id);
      else if (after.get(id) !== text) report.restarted.push(id);
      else report.unchanged.push(id);
    }
    for (const id of after.keys()) if (!before.has(id)) report.added.push(id);
    const a = this.running.config as unknown as Record<string, unknown>;
    const b = next.config as unknown as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (LIVE_SECTIONS.has(key as keyof FabricConfig)) continue;
      if (stableStringify(a[key]) !== stableStringify(b[key])) report.restartRequired.push(key);
    }
    if (next.config.log_level !== this.running.config.log_level) report.logLevel = next.config.log_level;
    return report;
  }
}
