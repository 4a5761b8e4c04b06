import { roundScore, verdictStatusFor } from '@reactive-fabric/core';
import type { Indicator, Verdict } from '@reactive-fabric/core';
import type { VtObject } from './client.js';

const GUI = 'https://www.virustotal.com/gui';

export function referenceFor(indicator: Indicator, obj?: VtObject): string {
  switch (indicator.type) {
    case 'ipv4':
    case 'ipv6':
      return `${GUI}/ip-address/${indicator.value}`;
    case 'domain':
      return `${GUI}/domain/${indicator.value}`;
    case 'url':
      return obj ? `${GUI}/url/${obj.id}` : `${GUI}/search/${encodeURIComponent(indicator.value)}`;
    default:
      return `${GUI}/file/${obj?.id ?? indicator.value}`;
  }
}

interface Stats {
  harmless: number;
  malicious: number;
  suspicious: number;
  undetected: number;
  timeout: number;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * Engines that flag an indicator are counted, suspicious ones half; the score saturates so that
 * `maliciousEngines` flags land at 0.7 (VirusTotal's own "malicious" bar): one stray engine stays
 * low, a dozen is near certain.
 */
export function toVerdict(indicator: Indicator, obj: VtObject | undefined, minScore: number, maliciousEngines: number): Verdict {
  if (!obj) return { indicator, status: 'unknown', evidence: { found: false }, reference: referenceFor(indicator) };
  const a = obj.attributes;
  const raw = (a['last_analysis_stats'] ?? {}) as Record<string, unknown>;
  const stats: Stats = {
    harmless: num(raw['harmless']),
    malicious: num(raw['malicious']),
    suspicious: num(raw['suspicious']),
    undetected: num(raw['undetected']),
    timeout: num(raw['timeout']),
  };
  const engines = stats.harmless + stats.malicious + stats.suspicious + stats.undetected;
  const evidence: Record<string, unknown> = {
    id: obj.id,
    last_analysis_stats: stats,
    reputation: num(a['reputation']),
    ...(a['last_analysis_date'] !== undefined ? { last_analysis_date: new Date(num(a['last_analysis_date']) * 1000).toISOString() } : {}),
    ...(Array.isArray(a['tags']) && a['tags'].length > 0 ? { tags: a['tags'] } : {}),
    ...(a['total_votes'] !== undefined ? { total_votes: a['total_votes'] } : {}),
  };
  for (const k of ['as_owner', 'asn', 'country', 'network', 'meaningful_name', 'size', 'md5', 'sha1', 'sha256']) {
    if (a[k] !== undefined) evidence[k] = a[k];
  }
  const flagged = Object.entries((a['last_analysis_results'] ?? {}) as Record<string, { category?: string; result?: string }>)
    .filter(([, r]) => r?.category === 'malicious' || r?.category === 'suspicious')
    .map(([engine, r]) => `${engine}: ${r.result ?? r.category}`)
    .slice(0, 10);
  if (flagged.length > 0) evidence['flagged_by'] = flagged;
  if (engines === 0) {
    // VirusTotal keeps an object for every IP, but with no engine verdicts it has not seen it.
    return { indicator, status: 'unknown', evidence: { found: true, analysed: false, ...evidence }, reference: referenceFor(indicator, obj) };
  }
  const weighted = stats.malicious + 0.5 * stats.suspicious;
  const k = -maliciousEngines / Math.log(0.3);
  const score = roundScore(1 - Math.exp(-weighted / k));
  const confidence = roundScore(Math.min(0.95, 0.3 + (0.65 * engines) / 40));
  return { indicator, status: verdictStatusFor(score, minScore, 0.7), score, confidence, evidence, reference: referenceFor(indicator, obj) };
}
