import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EnricherInstance, FabricEvent, Indicator } from '../plugin-api/index.js';
import type { FalsePositive } from '../host.js';
import type { LoadedConfig } from '../config/load.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { ResolvedComponent } from '../plugins/resolve.js';
import { DedupStage } from './dedup.js';
import { createDetectionStage } from '../detection/index.js';
import { createCorrelationStage } from '../correlation/index.js';
import { createEnrichmentStage } from '../enrichment/index.js';
import type { PipelineStage } from './stage.js';

export interface EnricherHealth {
  status: 'healthy' | 'degraded';
  code?: string;
  reason?: string;
  retryAfterMs?: number;
}

export interface FalsePositiveStoreLike {
  list(): Promise<FalsePositive[]>;
  mark(indicator: Indicator, reason?: string): Promise<FalsePositive>;
  unmark(indicator: Indicator): Promise<boolean>;
}

export interface BuiltStages {
  stages: PipelineStage[];
  enrichers: Array<{ id: string; plugin: string; instance: EnricherInstance; config: Record<string, unknown> }>;
  falsePositives?: FalsePositiveStoreLike;
  start(): Promise<void>;
  close(): Promise<void>;
  readiness(): Promise<Record<string, { ok: boolean; detail?: string }>>;
}

type Closable = PipelineStage & { close?(): Promise<void>; readiness?(): { ok: boolean; detail?: string } };

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
    onDuplicate(event: FabricEvent): void;
    onEnricherHealth(id: string, health: EnricherHealth): void;
  },
): Promise<BuiltStages> {
  const cfg = loaded.config;
  const ctx = { logger: deps.logger, metrics: deps.metrics.registry, stateDir: loaded.stateDir, configDir: loaded.dir };
  const stages: Closable[] = [];

  let detectionRules: Awaited<ReturnType<typeof createDetectionStage>>['rules'] | undefined;
  if (cfg.detection.enabled) {
    const detection = await createDetectionStage(cfg.detection, ctx);
    detectionRules = detection.rules;
    stages.push(Object.assign(detection, { readiness: () => ({ ok: true, detail: `worker pool up, ${detection.rules.length} rules` }) }));
  }
  stages.push(new DedupStage(cfg.orchestrator.event_deduplication_window_seconds * 1000, deps.onDuplicate));
  if (cfg.correlation.enabled && detectionRules) {
    // With the loaded detection rules, a correlation rule naming an unknown rule is refused at load.
    stages.push(await createCorrelationStage(cfg.correlation, { ...ctx, detectionRules }));
  }

  const enrichers: BuiltStages['enrichers'] = [];
  for (const comp of deps.enrichers) {
    const stateDir = join(loaded.stateDir, 'collectors', encodeURIComponent(comp.config.id));
    await mkdir(stateDir, { recursive: true });
    const child = deps.logger.child({ enricher: comp.config.id, plugin: comp.loaded.pkg.name });
    const instance = (await comp.loaded.definition.create(comp.pluginConfig as never, { collectorId: comp.config.id, logger: child, stateDir, signal: new AbortController().signal, configDir: loaded.dir })) as EnricherInstance;
    enrichers.push({ id: comp.config.id, plugin: comp.loaded.pkg.name, instance, config: comp.pluginConfig as Record<string, unknown> });
  }
  let falsePositives: FalsePositiveStoreLike | undefined;
  if (cfg.enrichment.enabled) {
        const stage = await createEnrichmentStage(cfg.enrichment, enrichers, { ...ctx, onSourceHealth: deps.onEnricherHealth });
    falsePositives = stage.falsePositives;
    if (enrichers.length > 0) stages.push(stage);
  }

  return {
    stages,
    enrichers,
    ...(falsePositives ? { falsePositives } : {}),
    async start() {
      for (const e of enrichers) await e.instance.start?.();
      for (const s of stages) await s.start?.();
    },
    async close() {
      for (const s of stages) {
        await s.flush?.().catch((err: Error) => deps.logger.error({ stage: s.name, err: err.message }, 'final stage flush failed'));
        await (s.close ?? s.stop)?.call(s);
      }
      for (const e of enrichers) await e.instance.stop?.()?.catch(() => undefined);
    },
    async readiness() {
      const out: Record<string, { ok: boolean; detail?: string }> = {};
      for (const s of stages) if (s.readiness) out[s.name] = s.readiness();
      return out;
    },
  };
}
