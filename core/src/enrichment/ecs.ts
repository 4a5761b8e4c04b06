import { ecsIndicator, type Indicator, type Priority } from '../plugin-api/index.js';
import { PRIORITY_ORDER } from '../events/priority.js';
import type { IndicatorAnswers, Reputation } from './aggregate.js';

export interface SkippedIndicator {
  indicator: Indicator;
  reason: 'non_public' | 'warninglist' | 'false_positive' | 'over_limit';
  list?: string;
}

function ecsConfidence(c: number | undefined): string {
  if (c === undefined) return 'Not Specified';
  if (c >= 0.7) return 'High';
  if (c >= 0.4) return 'Medium';
  if (c > 0) return 'Low';
  return 'None';
}

/**
 * One `threat.enrichments` entry per source answer (ECS threat.enrichments.*): the indicator as
 * the provider sees it, which field of the event it matched, and the source's own verdict.
 */
export function threatEnrichments(results: IndicatorAnswers[], plugins: ReadonlyMap<string, string>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of results) {
    for (const a of [...r.answers].sort((x, y) => x.source.localeCompare(y.source))) {
      const v = a.verdict;
      if (!v) continue;
      out.push({
        indicator: {
          ...ecsIndicator(r.indicator),
          provider: a.source,
          confidence: ecsConfidence(v.confidence),
          ...(v.reference ? { reference: v.reference } : {}),
        },
        matched: { atomic: r.indicator.value, field: r.fields[0], type: 'enrichment' },
        verdict: {
          status: v.status,
          ...(v.score !== undefined ? { score: v.score } : {}),
          ...(v.confidence !== undefined ? { confidence: v.confidence } : {}),
          ...(v.evidence ? { evidence: v.evidence } : {}),
        },
        source: { enricher: a.source, plugin: plugins.get(a.source) ?? a.source },
      });
    }
  }
  return out;
}

export { PRIORITY_SEVERITY } from '../events/priority.js';

export interface PriorityDecision {
  from: Priority | undefined;
  to: Priority | undefined;
  reason: string;
}

/**
 * Reputation moves priority: up to the highest `severity` step the score reaches (never down),
 * or down to "low" when the score is known and under min_reputation_score. An unknown reputation
 * leaves it alone: not knowing is not evidence of innocence.
 */
export function decidePriority(
  current: Priority | undefined,
  rep: Reputation,
  steps: ReadonlyArray<{ min_score: number; priority: Priority }>,
  minScore: number,
): PriorityDecision {
  if (rep.score === undefined) return { from: current, to: current, reason: 'reputation unknown: priority unchanged' };
  const reached = [...steps].filter((s) => rep.score! >= s.min_score).sort((a, b) => PRIORITY_ORDER[b.priority] - PRIORITY_ORDER[a.priority])[0];
  const curRank = current ? PRIORITY_ORDER[current] : PRIORITY_ORDER.medium;
  if (reached && PRIORITY_ORDER[reached.priority] > curRank) {
    return { from: current, to: reached.priority, reason: `score ${rep.score} ≥ ${reached.min_score}: raised to ${reached.priority}` };
  }
  if (rep.score < minScore && curRank > PRIORITY_ORDER.low) {
    return { from: current, to: 'low', reason: `score ${rep.score} < min_reputation_score ${minScore}: routed as low priority` };
  }
  return { from: current, to: current, reason: 'priority unchanged' };
}
