import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { ClusterRole } from '../host.js';
import { createLogger, registerSecret } from '../logging.js';
import { FabricMetrics } from '../metrics/fabric-metrics.js';
import { Orchestrator } from '../orchestrator.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { describeProxy, proxyCredentials } from '../plugin-api/toolkit/transport.js';
import type { PipelineStage } from '../pipeline/stage.js';
import { pluginSearchPath } from '../plugins/search-path.js';
import { resolveComponents } from '../plugins/resolve.js';
import { DeadLetterQueue } from '../sinks/dead-letter.js';
import { createDeadLetterTarget, createSink } from '../sinks/factory.js';
import type { Sink } from '../sinks/sink.js';
import { sweepStaleTempFiles } from '../state/atomic.js';
import { FileCheckpointStore, type CheckpointStore } from '../state/checkpoint-store.js';
import { buildCollectors, CollectorFactory, EnricherProgress, type CollectorDeps } from './collectors.js';
import { LiveConfig } from './runtime-changes.js';
import { buildStages } from './stages.js';

export interface ComposeOptions {
  /** Where plugin packages are resolved from (the host project); default process.cwd(). */
  cwd?: string;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Replace the configured sink (tests, embedding, `run --once --dry-run`). */
  sink?: Sink;
  /** Replace the checkpoint store (`run --once --dry-run` reads positions but never writes them). */
  checkpoints?: CheckpointStore;
  /** Extra stages appended after the configured ones (embedding). */
  extraStages?: PipelineStage[];
  random?: () => number;
  /**
   * `fabric run --once`: sources poll until they have nothing more (at most `maxPolls` each),
   * then stop; a failure ends that collector's run instead of restarting it.
   */
  once?: { maxPolls: number };
}

/**
 * The composition root: config → plugins → sink → stages → pipeline → collectors →
 * orchestrator. Every other module gets what it needs from here and builds nothing of another
 * layer itself. Nothing is started: `Orchestrator.start()` (or `runOnce()`) does that, and the
 * caller decides whether an admin server runs beside it (`fabric start` does).
 */
export async function composeFabric(loaded: LoadedConfig, opts: ComposeOptions = {}): Promise<Orchestrator> {
  const cfg = loaded.config;
  const logger = opts.logger ?? createLogger({ level: cfg.log_level });
  for (const v of loaded.interpolated) registerSecret(v);
  // HTTPS_PROXY=http://user:password@… : the credentials never reach a log line or an error shown.
  for (const v of proxyCredentials()) registerSecret(v);
  const proxy = describeProxy();
  if (proxy) logger.info({ proxy }, 'plugins reach their HTTP backends through a proxy');
  const roots = pluginSearchPath({ cwd: opts.cwd ?? process.cwd(), configDir: loaded.dir, pluginPaths: cfg.plugin_paths, env: opts.env ?? process.env });
  // A source whose plugin fails at import (in its worker) does not stop the others: it fails on its own, supervised.
  const components = await resolveComponents(loaded, roots, { deferBrokenImports: true });
  for (const c of components) for (const s of c.secrets) registerSecret(s);

  await mkdir(loaded.stateDir, { recursive: true });
  // Subfolders are swept before their first write (writeFileAtomic); this covers state_dir itself at start-up.
  const swept = await sweepStaleTempFiles(loaded.stateDir).catch(() => 0);
  if (swept > 0) logger.info({ stateDir: loaded.stateDir, files: swept }, 'removed temp files an interrupted earlier run left in state_dir');

  const metrics = new FabricMetrics(undefined, { defaultMetrics: true });
  const env = opts.env ?? process.env;
  let sink = opts.sink ?? (await createSink(cfg.sink, { logger, metrics: metrics.registry, stateDir: loaded.stateDir, configDir: loaded.dir, env }));
  let checkpoints = opts.checkpoints ?? new FileCheckpointStore(loaded.stateDir);
  let cluster: ClusterRole | undefined;
  let clusterNode: import('../cluster/index.js').ClusterNode | undefined;
  let clusterCorrelation: typeof import('../correlation/cluster/index.js') | undefined;
  if (cfg.cluster && opts.once)
    throw new ConfigError(loaded.file, [
      {
        path: 'cluster',
        message: 'fabric run --once runs one instance on its own and cannot take part in a cluster (its collectors belong to the cluster’s instances)',
        fix: 'run the cluster with fabric start on every instance, or use a config without the cluster section for a one-off run',
      },
    ]);
  if (cfg.cluster) {
    // Loaded lazily, like the Kafka sink: a single instance never loads cluster mode.
    const spec = '../cluster/index.js';
    const mod = (await import(spec)) as typeof import('../cluster/index.js');
    const instance = mod.instanceIdOf(env);
    for (const w of mod.unpinnedHostCollectors(cfg, components)) logger.warn({ instance }, w);
    const parts = mod.createCluster(cfg, sink, {
      instance,
      logger: logger.child({ instance }),
      registry: metrics.registry,
      configDir: loaded.dir,
      shutdownTimeoutMs: cfg.supervisor.shutdown_timeout_seconds * 1000,
    });
    sink = parts.sink;
    checkpoints = parts.node.checkpoints;
    cluster = clusterNode = parts.node;
    clusterCorrelation = (await import('../correlation/cluster/index.js')) as typeof import('../correlation/cluster/index.js');
  }
  const progress = new EnricherProgress();
  const stages = await buildStages(loaded, {
    logger,
    metrics,
    enrichers: components.filter((c) => c.section === 'enrichers'),
    onEnricherHealth: (id, health) => progress.report(id, health),
    ...(clusterNode
      ? {
          shared: clusterNode.sharedState,
          correlation: (rules: import('../correlation/index.js').CorrelationRule[]) =>
            clusterCorrelation!.createClusterCorrelation(clusterNode!, {
              rules,
              config: cfg.correlation,
              minPriority: cfg.routing.min_priority,
              dedupWindowMs: cfg.orchestrator.event_deduplication_window_seconds * 1000,
            }),
        }
      : {}),
  });
  const deadLetters = new DeadLetterQueue({
    target: createDeadLetterTarget(cfg.dead_letter, cfg.sink, sink, { stateDir: loaded.stateDir, configDir: loaded.dir }),
    metrics,
    logger,
    recent: cfg.dead_letter.recent,
    maxOriginalBytes: cfg.dead_letter.max_original_bytes,
  });
  const pipeline = new Pipeline({
    stages: [...stages.stages, ...(opts.extraStages ?? [])],
    sink,
    maxInFlightBatches: cfg.pipeline.max_in_flight_batches,
    maxBufferedEvents: cfg.pipeline.max_buffered_events,
    // Without detection nothing is a detection: "detections only" would publish nothing.
    publish: cfg.detection.enabled ? cfg.pipeline.publish : 'all',
    minPriority: cfg.routing.min_priority,
    metrics,
    logger,
    deadLetters,
    eventLimits: { maxDepth: cfg.pipeline.max_event_depth, maxBytes: cfg.pipeline.max_event_bytes },
  });
  const lifetime = new AbortController();
  const deps: CollectorDeps = {
    loaded,
    components,
    stages,
    pipeline,
    checkpoints,
    metrics,
    logger,
    progress,
    hostSignal: lifetime.signal,
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.once ? { once: opts.once } : {}),
  };
  const factory = new CollectorFactory(deps);
  const collectors = await buildCollectors(deps, factory);
  const orchestrator = new Orchestrator({
    loaded,
    sink,
    stages,
    pipeline,
    deadLetters,
    checkpoints,
    collectors,
    roots,
    logger,
    metrics,
    lifetime,
    mode: opts.once ? 'once' : 'continuous',
    ...(cluster ? { cluster } : {}),
  });
  // A running instance can change its collectors (admin API, reload); a `run --once` cannot, nor can
  // a cluster instance: every instance runs the same file, so a change is made there and reloaded on all.
  if (!opts.once && !cluster) orchestrator.configControl = new LiveConfig({ loaded, components, roots, factory, orchestrator, env, logger });
  return orchestrator;
}
