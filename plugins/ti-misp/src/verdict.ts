import { roundScore, verdictStatusFor } from '@reactive-fabric/core';
import type { Indicator, Verdict } from '@reactive-fabric/core';
import type { MispAttribute } from './client.js';
import { tagsOf } from './attributes.js';

/**
 * MISP holds your own (or your sharing community's) curated intel: an attribute flagged for
 * detection (to_ids) is strong evidence, one without the flag is context. More events naming it
 * add a little. Attributes tagged with the false-positive taxonomy make it clean.
 */
export function toVerdict(indicator: Indicator, attrs: MispAttribute[], minScore: number, baseUrl: string): Verdict {
  if (attrs.length === 0) return { indicator, status: 'unknown', evidence: { attributes: 0 } };
  const eventIds = [...new Set(attrs.map((a) => a.event_id))];
  const tags = [...new Set(attrs.flatMap(tagsOf))];
  const toIds = attrs.filter((a) => a.to_ids === true || (a.to_ids as unknown) === '1').length;
  const evidence: Record<string, unknown> = {
    attributes: attrs.length,
    to_ids: toIds,
    event_ids: eventIds,
    events: [...new Set(attrs.map((a) => a.Event?.info).filter((x): x is string => typeof x === 'string'))].slice(0, 10),
    categories: [...new Set(attrs.map((a) => a.category).filter((x): x is string => typeof x === 'string'))],
    types: [...new Set(attrs.map((a) => a.type))],
    ...(tags.length > 0 ? { tags } : {}),
    last_seen: new Date(Math.max(...attrs.map((a) => Number(a.timestamp) || 0)) * 1000).toISOString(),
  };
  const reference = `${baseUrl.replace(/\/+$/, '')}/events/view/${eventIds[0]}`;
  const fp = attrs.every((a) => tagsOf(a).some((t) => t.startsWith('false-positive:')));
  if (fp) return { indicator, status: 'clean', score: 0, confidence: 0.8, evidence, reference };
  const base = toIds > 0 ? 0.9 : 0.5;
  const score = roundScore(Math.min(1, base + 0.02 * (eventIds.length - 1)));
  return { indicator, status: verdictStatusFor(score, minScore, 0.75), score, confidence: 0.85, evidence, reference };
}
