import type { CollectorConfig, EnricherConfig, OrchestratorConfig } from '../config/schema.js';
import type { WorkerLimits } from './worker-plugin.js';

/** How a collector or enricher runs its plugin instance. */
export type Isolation = { mode: 'worker'; limits: WorkerLimits } | { mode: 'inline' };

/** A collector's own `isolation`, else orchestrator.isolation (worker by default), with its limits. */
export function isolationOf(c: Pick<CollectorConfig | EnricherConfig, 'isolation' | 'max_heap_mb'>, o: OrchestratorConfig): Isolation {
  if ((c.isolation ?? o.isolation) === 'inline') return { mode: 'inline' };
  const unresponsiveMs = o.unresponsive_after_seconds * 1000;
  return {
    mode: 'worker',
    limits: {
      maxHeapMb: c.max_heap_mb ?? o.max_heap_mb,
      unresponsiveMs,
      // Several beats per deadline, so one late timer never reads as a blocked worker.
      heartbeatMs: Math.min(1000, unresponsiveMs / 4),
      maxBatchBytes: o.max_batch_bytes,
      createTimeoutMs: o.poll_timeout_seconds * 1000,
    },
  };
}
