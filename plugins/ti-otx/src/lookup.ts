import { roundScore, verdictStatusFor } from '@reactive-fabric/core';
import type { Indicator, Verdict } from '@reactive-fabric/core';

/** The /indicators/{type} path segment for an indicator. */
export function sectionType(i: Indicator): string {
  switch (i.type) {
    case 'ipv4':
      return 'IPv4';
    case 'ipv6':
      return 'IPv6';
    case 'domain':
      return 'domain';
    case 'url':
      return 'url';
    default:
      return 'file';
  }
}

export function generalPath(i: Indicator): string {
  return `/indicators/${sectionType(i)}/${encodeURIComponent(i.value)}/general`;
}

export function reference(i: Indicator): string {
  const kind = i.type === 'ipv4' || i.type === 'ipv6' ? 'ip' : i.type === 'domain' ? 'domain' : i.type === 'url' ? 'url' : 'file';
  return `https://otx.alienvault.com/indicator/${kind}/${encodeURIComponent(i.value)}`;
}

interface PulseInfo {
  count?: number;
  pulses?: Array<{
    id?: string;
    name?: string;
    tags?: string[];
    modified?: string;
    malware_families?: Array<{ display_name?: string; id?: string } | string>;
    attack_ids?: Array<{ id?: string } | string>;
  }>;
  references?: string[];
}

function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list
    .map((x) => (typeof x === 'string' ? x : ((x as { display_name?: string; id?: string })?.display_name ?? (x as { id?: string })?.id ?? '')))
    .filter((s) => s.length > 0);
}

/**
 * OTX has no score; pulses (community reports) naming the indicator are the signal. The score
 * saturates so that `maliciousPulses` pulses land at 0.7. OTX's own validation (whitelists) and
 * false-positive marks make the indicator clean whatever the pulse count.
 */
export function toVerdict(indicator: Indicator, body: Record<string, unknown> | undefined, minScore: number, maliciousPulses: number, reason?: string): Verdict {
  if (!body) return { indicator, status: 'unknown', evidence: { pulse_count: 0, ...(reason ? { note: reason } : {}) }, reference: reference(indicator) };
  const info = (body['pulse_info'] ?? {}) as PulseInfo;
  const pulses = Array.isArray(info.pulses) ? info.pulses : [];
  const count = typeof info.count === 'number' ? info.count : pulses.length;
  const validation = Array.isArray(body['validation']) ? (body['validation'] as Array<{ message?: string; source?: string }>) : [];
  const falsePositive = Array.isArray(body['false_positive']) ? (body['false_positive'] as unknown[]) : [];
  const evidence: Record<string, unknown> = {
    pulse_count: count,
    pulses: pulses.slice(0, 10).map((p) => p.name ?? p.id ?? ''),
  };
  const tags = [...new Set(pulses.flatMap((p) => (Array.isArray(p.tags) ? p.tags : [])))].slice(0, 20);
  if (tags.length > 0) evidence['tags'] = tags;
  const families = [...new Set(pulses.flatMap((p) => names(p.malware_families)))];
  if (families.length > 0) evidence['malware_families'] = families;
  const attack = [...new Set(pulses.flatMap((p) => names(p.attack_ids)))];
  if (attack.length > 0) evidence['attack_ids'] = attack;
  if (validation.length > 0) evidence['validation'] = validation.map((v) => v.message ?? v.source ?? '');
  if (falsePositive.length > 0) evidence['false_positive'] = falsePositive.length;
  if (typeof body['reputation'] === 'number') evidence['reputation'] = body['reputation'];
  if (typeof body['country_code'] === 'string') evidence['country_code'] = body['country_code'];
  if (typeof body['asn'] === 'string') evidence['asn'] = body['asn'];
  if (validation.length > 0 || falsePositive.length > 0) return { indicator, status: 'clean', score: 0, confidence: 0.7, evidence, reference: reference(indicator) };
  if (count === 0) return { indicator, status: 'unknown', evidence, reference: reference(indicator) };
  const k = -maliciousPulses / Math.log(0.3);
  const score = roundScore(1 - Math.exp(-count / k));
  return { indicator, status: verdictStatusFor(score, minScore, 0.7), score, confidence: 0.6, evidence, reference: reference(indicator) };
}
