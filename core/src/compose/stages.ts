import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, PluginError, type EnricherInstance } from '../plugin-api/index.js';
import type { LoadedConfig } from '../config/load.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { ResolvedComponent } from '../plugins/resolve.js';
import { DedupStage } from '../pipeline/dedup.js';
import { createDetectionStage } from '../detection/index.js';
import { createCorrelationStage, resolveCorrelationRules, type CorrelationRule } from '../correlation/index.js';
import { createEnrichmentStage, type SharedEnrichmentState } from '../enrichment/index.js';
import { SupervisedEnricher } from '../enrichment/supervised.js';
import { isolationOf } from '../isolation/policy.js';
import { WorkerPlugin, type WorkerResources } from '../isolation/worker-plugin.js';
import type { PipelineStage } from '../pipeline/stage.js';
import type { FalsePositiveStoreLike, StageSet } from '../orchestrator.js';
import { withTimeout } from '../async/time.js';

export interface EnricherHealth {
  status: 'healthy' | 'degraded';
  code?: string;
  reason?: string;
  retryAfterMs?: number;
}

export interface BuiltStages extends StageSet {
  /** Handles to the enrichers; each instance belongs to its enricher's collector. */
  enrichers: Array<{ id: string; plugin: string; instance: SupervisedEnricher; config: Record<string, unknown> }>;
}

type Closable = PipelineStage & { readiness?(): { ok: boolean; detail?: string } };

/**
 * The pipeline's stages in their fixed order: detection → de-duplication → correlation →
 * enrichment. De-duplication runs after detection so that the fingerprint covers what matched.
 */
export async function buildStages(
  loaded: LoadedConfig,
  deps: {
    logger: Logger;
    metrics: FabricMetrics;
    enrichers: ResolvedComponent[];
    onEnricherHealth(id: string, health: EnricherHealth): void;
    /** Replaces the correlation stage (cluster mode: detections are re-keyed to the owner of their group). */
    correlation?: (rules: CorrelationRule[]) => PipelineStage;
    /** Cluster mode: the enrichment state the instances share. */
    shared?: SharedEnrichmentState;
  },
): Promise<BuiltStages> {
  const cfg = loaded.config;
  const ctx = { logger: deps.logger, metrics: deps.metrics.registry, stateDir: loaded.stateDir, configDir: loaded.dir };
  const stages: Closable[] = [];

  let detectionRules: Awaited<ReturnType<typeof createDetectionStage>>['rules'] | undefined;
  if (cfg.detection.enabled) {
    const detection = await createDetectionStage(cfg.detection, ctx);
    detectionRules = detection.rules;
    stages.push(detection);
  }
  stages.push(new DedupStage(cfg.orchestrator.event_deduplication_window_seconds * 1000));
  if (cfg.correlation.enabled && detectionRules) {
    // With the loaded detection rules, a correlation rule naming an unknown rule is refused at load.
    if (deps.correlation) stages.push(deps.correlation(await resolveCorrelationRules(cfg.correlation, { configDir: loaded.dir, detectionRules })));
    else stages.push(await createCorrelationStage(cfg.correlation, { ...ctx, detectionRules }));
  }

  const enrichers: BuiltStages['enrichers'] = [];
  for (const comp of deps.enrichers) {
    const stateDir = join(loaded.stateDir, 'collectors', encodeURIComponent(comp.config.id));
    await mkdir(stateDir, { recursive: true });
    const child = deps.logger.child({ enricher: comp.config.id, plugin: comp.loaded.pkg.name });
    // Created here because the stage needs its indicator types and limits; started, checked,
    // restarted and stopped by its collector. A create() that throws or hangs fails that
    // collector's first start (supervised, within its budget), not the pipeline.
    const isolation = isolationOf(comp.config, cfg.orchestrator);
    // Its worker's reports reach the collector through the handle, once the collector attaches.
    const hooks = { onLost: (e: PluginError) => handle?.workerHooks.onLost(e), onUsage: (u: WorkerResources) => handle?.workerHooks.onUsage(u) };
    let handle: SupervisedEnricher | undefined;
    let first: { instance: EnricherInstance } | { error: unknown };
    try {
      if (isolation.mode === 'worker') {
        const made = await WorkerPlugin.create({
          entry: comp.loaded.pkg.entry,
          config: comp.pluginConfig,
          collectorId: comp.config.id,
          stateDir,
          configDir: loaded.dir,
          logger: child,
          limits: isolation.limits,
          ...(comp.validateInWorker ? { validateConfig: true } : {}),
          ...hooks,
        });
        first = { instance: made };
      } else {
        const made = comp.loaded.definition.create(comp.pluginConfig as never, {
          collectorId: comp.config.id,
          logger: child,
          stateDir,
          signal: new AbortController().signal,
          configDir: loaded.dir,
        });
        const ms = cfg.orchestrator.poll_timeout_seconds * 1000;
        first = {
          instance: (await withTimeout(
            Promise.resolve(made),
            ms,
            () => new PluginError(ErrorCodes.TIMEOUT, `enricher ${comp.config.id}: create() did not finish within ${ms} ms (orchestrator.poll_timeout_seconds)`),
          )) as EnricherInstance,
        };
      }
    } catch (error) {
      first = { error };
    }
    handle = new SupervisedEnricher(comp.config.id, first);
    enrichers.push({ id: comp.config.id, plugin: comp.loaded.pkg.name, instance: handle, config: comp.pluginConfig as Record<string, unknown> });
  }
  let falsePositives: FalsePositiveStoreLike | undefined;
  let enrichment: Awaited<ReturnType<typeof createEnrichmentStage>> | undefined;
  if (cfg.enrichment.enabled) {
    // Shared only when there is something to share: without enrichers a cluster creates and follows none of it.
    const shared = deps.shared && enrichers.length > 0 ? { shared: deps.shared } : {};
    enrichment = await createEnrichmentStage(cfg.enrichment, enrichers, { ...ctx, onSourceHealth: deps.onEnricherHealth, ...shared });
    falsePositives = enrichment.falsePositives;
    if (enrichers.length > 0) stages.push(enrichment);
  }

  return {
    stages,
    enrichers,
    ...(falsePositives ? { falsePositives } : {}),
    async start() {
      for (const s of stages) await s.start?.();
    },
    enricherSources() {
      return enrichment?.sources ?? new Map();
    },
    enrichmentLimits() {
      return [...(enrichment?.sources.values() ?? [])].map((s) => ({
        id: s.id,
        perMinute: s.limits.perMinute,
        ...(s.limits.perDay !== undefined ? { perDay: s.limits.perDay } : {}),
      }));
    },
    async stop() {
      for (const s of stages) {
        await s.flush?.().catch((err: Error) => deps.logger.error({ stage: s.name, err: err.message }, 'final stage flush failed'));
        await s.stop?.();
      }
      // A first instance no collector took (it never started) is still ours to stop.
      for (const e of enrichers) {
        const first = e.instance.takeFirst();
        if (first && 'instance' in first) await first.instance.stop?.()?.catch(() => undefined);
      }
    },
    async readiness() {
      const out: Record<string, { ok: boolean; detail?: string }> = {};
      for (const s of stages) if (s.readiness) out[s.name] = s.readiness();
      return out;
    },
  };
}
