import type { Registry } from 'prom-client';
import { counter as registerCounter, gauge as registerGauge } from '../metrics/register.js';

/** Enrichment metrics (docs/metrics.md). */
export function enrichmentMetrics(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => registerCounter<L>(registry, { name, help, labelNames });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) => registerGauge<L>(registry, { name, help, labelNames });
  return {
    events: counter('fabric_enrichment_events_total', 'Detections and alerts enriched, by verdict.', ['verdict']),
    failed: counter('fabric_enrichment_failed_events_total', 'Detections whose enrichment threw; published without reputation.', []),
    skipped: counter('fabric_enrichment_indicators_skipped_total', 'Indicators not looked up, by reason (non_public, warninglist, false_positive).', ['reason']),
    cacheHits: counter('fabric_enrichment_cache_hits_total', 'Verdicts served from the cache.', ['enricher']),
    cacheMisses: counter('fabric_enrichment_cache_misses_total', 'Indicators that had to be asked.', ['enricher']),
    requests: counter('fabric_enrichment_requests_total', 'Lookup requests sent to a source, by outcome (ok or error code).', ['enricher', 'outcome']),
    unanswered: counter('fabric_enrichment_unanswered_total', 'Indicators a source did not answer before the event deadline or at all, by reason.', ['enricher', 'reason']),
    queueDepth: gauge('fabric_enrichment_queue_depth', 'Indicators waiting for a source.', ['enricher']),
    budgetUsed: gauge('fabric_enrichment_daily_budget_used', "Requests spent of the source's daily budget (UTC day).", ['enricher']),
    budget: gauge('fabric_enrichment_daily_budget', "The source's daily request budget (requests_per_day); absent for sources without one.", ['enricher']),
    falsePositives: gauge('fabric_enrichment_false_positives', 'Indicators marked as false positives.', []),
    falsePositiveHits: counter('fabric_enrichment_false_positive_hits_total', 'Indicators excluded from a verdict because they are marked as false positives.', []),
  };
}

export type EnrichmentMetrics = ReturnType<typeof enrichmentMetrics>;
