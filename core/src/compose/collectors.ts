import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { Collector, type CollectorTiming } from '../collectors/collector.js';
import type { ErrorInfo, MachinePolicy } from '../collectors/machine.js';
import { isolationOf } from '../isolation/policy.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { isRetriableCode } from '../plugin-api/index.js';
import type { ResolvedComponent } from '../plugins/resolve.js';
import type { CheckpointStore } from '../state/checkpoint-store.js';
import { Semaphore } from '../async/semaphore.js';
import type { BuiltStages, EnricherHealth } from './stages.js';

type ProgressReport = (ok: boolean, error?: ErrorInfo) => void;

/**
 * Carries what the enrichment stage learns about each enricher (a lookup worked, a source
 * answered 429) to that enricher's collector, whose machine turns it into running/degraded.
 * The stage is built before the collectors, so it reports here and the collectors subscribe.
 */
export class EnricherProgress {
  private readonly feeds = new Map<string, ProgressReport>();

  report(id: string, health: EnricherHealth): void {
    const feed = this.feeds.get(id);
    if (!feed) return;
    if (health.status === 'healthy') {
      feed(true);
      return;
    }
    const code = health.code ?? 'UNAVAILABLE';
    feed(false, { code, message: health.reason ?? 'source unavailable', retriable: isRetriableCode(code), retryAfterMs: health.retryAfterMs });
  }

  subscribe(id: string, feed: ProgressReport): () => void {
    this.feeds.set(id, feed);
    return () => this.feeds.delete(id);
  }
}

export interface CollectorDeps {
  loaded: LoadedConfig;
  components: readonly ResolvedComponent[];
  stages: BuiltStages;
  pipeline: Pipeline;
  checkpoints: CheckpointStore;
  metrics: FabricMetrics;
  logger: Logger;
  progress: EnricherProgress;
  hostSignal: AbortSignal;
  random?: () => number;
  /** `fabric run --once`: sources poll to the end once, and any error ends their run (no restarts). */
  once?: { maxPolls: number };
}

/**
 * Builds supervised collectors: every configured one at composition, and later the ones the admin
 * API creates or replaces (compose/runtime-changes.ts). One factory per instance, so they all share
 * one `max_concurrent_collections` semaphore.
 */
export class CollectorFactory {
  private readonly slots: Semaphore;

  constructor(private readonly deps: CollectorDeps) {
    this.slots = new Semaphore(deps.loaded.config.orchestrator.max_concurrent_collections);
  }

  async build(comp: ResolvedComponent): Promise<Collector> {
    const deps = this.deps;
    const cfg = deps.loaded.config;
    const o = cfg.orchestrator;
    const s = cfg.supervisor;
    const intervalMs = ('interval_seconds' in comp.config && comp.config.interval_seconds ? comp.config.interval_seconds : o.collection_interval_seconds) * 1000;
    const isEnricher = comp.section === 'enrichers';
    const timing: CollectorTiming = {
      intervalMs,
      jitter: o.interval_jitter,
      batchSize: o.event_batch_size,
      pollTimeoutMs: o.poll_timeout_seconds * 1000,
      stallAfterMs: o.stalled_after_intervals * intervalMs,
      healthIntervalMs: o.health_check_interval_seconds * 1000,
      maxUncommittedBatches: cfg.pipeline.max_in_flight_batches,
      ...(deps.once && !isEnricher ? { once: deps.once } : {}),
    };
    const policy: MachinePolicy = {
      backoffMinMs: s.backoff_min_seconds * 1000,
      backoffMaxMs: s.backoff_max_seconds * 1000,
      stableAfterMs: s.stable_after_seconds * 1000,
      // A run --once reports a failure instead of retrying it: the next run starts over.
      intensity: deps.once ? 0 : s.restart_intensity,
      periodMs: s.restart_period_seconds * 1000,
      degradedAfterErrors: o.degraded_after_errors,
      restartDegradedAfterChecks: o.restart_degraded_after_checks,
      autoRestartUnhealthy: o.auto_restart_unhealthy,
    };
    const id = comp.config.id;
    return new Collector({
      id,
      loaded: comp.loaded,
      pluginConfig: comp.pluginConfig,
      secrets: comp.secrets,
      timing,
      policy,
      pipeline: deps.pipeline,
      checkpoints: deps.checkpoints,
      initialCheckpoint: isEnricher ? { value: undefined } : await deps.checkpoints.read(id),
      slots: this.slots,
      metrics: deps.metrics,
      logger: deps.logger,
      stateDir: deps.loaded.stateDir,
      configDir: deps.loaded.dir,
      hostSignal: deps.hostSignal,
      ...(deps.random ? { random: deps.random } : {}),
      isolation: isolationOf(comp.config, o),
      ...(comp.validateInWorker ? { validateConfigInWorker: true } : {}),
      ...(isEnricher
        ? {
            enricher: deps.stages.enrichers.find((e) => e.id === id)?.instance,
            progressFeed: (report: ProgressReport) => deps.progress.subscribe(id, report),
          }
        : {}),
    });
  }
}

/** One supervised collector per configured source and per enricher, in config order. */
export async function buildCollectors(deps: CollectorDeps, factory = new CollectorFactory(deps)): Promise<Collector[]> {
  const collectors: Collector[] = [];
  for (const comp of deps.components) collectors.push(await factory.build(comp));
  return collectors;
}
