import type { Indicator, Priority } from '../plugin-api/index.js';
import type { IndicatorAnswers, Reputation } from './aggregate.js';

export interface SkippedIndicator {
  indicator: Indicator;
  reason: 'non_public' | 'warninglist' | 'false_positive' | 'over_limit';
  list?: string;
}

/** ECS threat.indicator.type values (STIX 2.x cyber observable names). */
const ECS_TYPE: Record<Indicator['type'], string> = {
  ipv4: 'ipv4-addr',
  ipv6: 'ipv6-addr',
  domain: 'domain-name',
  url: 'url',
  md5: 'file',
  sha1: 'file',
  sha256: 'file',
};

function ecsIndicatorFields(indicator: Indicator): Record<string, unknown> {
  switch (indicator.type) {
    case 'ipv4':
    case 'ipv6':
      return { ip: indicator.value };
    case 'domain':
      return { url: { domain: indicator.value } };
    case 'url':
      return { url: { full: indicator.value, original: indicator.value } };
    default:
      return { file: { hash: { [indicator.type]: indicator.value } } };
  }
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
          type: ECS_TYPE[r.indicator.type],
          ...ecsIndicatorFields(r.indicator),
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

export const PRIORITY_RANK: Record<Priority, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
/** ECS event.severity numbers the detection engine uses for each priority. */
export const PRIORITY_SEVERITY: Partial<Record<Priority, number>> = { low: 21, medium: 47, high: 73, critical: 99 };

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
  const reached = [...steps].filter((s) => rep.score! >= s.min_score).sort((a, b) => PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority])[0];
  const curRank = current ? PRIORITY_RANK[current] : PRIORITY_RANK.medium;
  if (reached && PRIORITY_RANK[reached.priority] > curRank) {
    return { from: current, to: reached.priority, reason: `score ${rep.score} ≥ ${reached.min_score}: raised to ${reached.priority}` };
  }
  if (rep.score < minScore && curRank > PRIORITY_RANK.low) {
    return { from: current, to: 'low', reason: `score ${rep.score} < min_reputation_score ${minScore}: routed as low priority` };
  }
  return { from: current, to: current, reason: 'priority unchanged' };
}
