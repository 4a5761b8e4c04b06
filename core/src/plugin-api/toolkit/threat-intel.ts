// Helpers for threat-intel enrichers: the config fields they share, score → status, and feed
// entries as ECS threat.indicator events.
import { Secret, spanLimit, Type } from '../schema.js';
import type { Indicator, IndicatorType, VerdictStatus } from '../indicators.js';
import type { SourceEvent } from '../events.js';

export interface EnricherConfigDefaults {
  vendor: string;
  baseUrl: string;
  requestsPerMinute: number;
  requestsPerDay?: number;
}

/** Config fields every threat-intel enricher shares (the seed's names and defaults). */
export function enricherConfigFields(d: EnricherConfigDefaults) {
  return {
    api_key: Secret({ description: `${d.vendor} API key. Write \${ENV_VAR} in the YAML to keep it out of the file.` }),
    base_url: Type.String({ default: d.baseUrl, pattern: '^https?://[^\\s]+$', description: `API root; default ${d.baseUrl}. Point it at a proxy or a test fake.` }),
    requests_per_minute: Type.Integer({ minimum: 1, default: d.requestsPerMinute, description: 'Budget the enrichment stage keeps to; never set it above your plan.' }),
    requests_per_day: Type.Integer({ minimum: 1, default: d.requestsPerDay ?? 100_000, description: 'Daily budget (00:00 UTC reset).' }),
    cache_ttl_minutes: Type.Number({ ...spanLimit('minutes'), minimum: 0, default: 60, description: 'How long the enrichment stage reuses an answer (also "unknown" answers).' }),
    min_reputation_score: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.3,
      description: 'Scores below this are reported "clean"; detections below it are routed low priority.',
    }),
    timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 300, default: 10, description: 'Deadline of one HTTP request.' }),
  };
}

/** The indicator types an enricher's `check_*` settings turn on (the service may support fewer). */
export function checkedIndicatorTypes(config: { check_ips?: boolean; check_domains?: boolean; check_hashes?: boolean; check_urls?: boolean }): IndicatorType[] {
  const out: IndicatorType[] = [];
  if (config.check_ips) out.push('ipv4', 'ipv6');
  if (config.check_domains) out.push('domain');
  if (config.check_hashes) out.push('md5', 'sha1', 'sha256');
  if (config.check_urls) out.push('url');
  return out;
}

export const checkField = (what: string, dflt = true) => Type.Boolean({ default: dflt, description: `Look up ${what}.` });

/**
 * The status a score maps to. `minScore` (min_reputation_score) is where a seen indicator stops
 * being clean; `maliciousAt` is the source's own bar for "malicious".
 */
export function verdictStatusFor(score: number, minScore: number, maliciousAt: number): Exclude<VerdictStatus, 'unknown'> {
  if (score >= Math.max(maliciousAt, minScore)) return 'malicious';
  if (score >= minScore) return 'suspicious';
  return 'clean';
}

export function roundScore(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export interface IndicatorEventInput {
  indicator: Indicator;
  /** Stable id, so a re-delivered feed entry is recognised as the same event. */
  id: string;
  /** When the intel was published or last modified. */
  timestamp: string;
  module: string;
  dataset: string;
  feedName: string;
  feedReference?: string;
  provider?: string;
  description?: string;
  reference?: string;
  firstSeen?: string;
  lastSeen?: string;
  modifiedAt?: string;
  confidence?: 'Not Specified' | 'None' | 'Low' | 'Medium' | 'High';
  /** TLP marking as the source wrote it (white, green, amber, red, clear). */
  tlp?: string;
  tags?: string[];
  /** More threat.indicator.* fields (geo, as, scanner_stats…). */
  indicatorFields?: Record<string, unknown>;
  /** More threat.* fields (technique, software, group…). */
  threatFields?: Record<string, unknown>;
  /** Vendor-specific facts, kept under the event's own namespace (e.g. `misp`). */
  extra?: Record<string, unknown>;
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

/** An indicator as ECS `threat.indicator` fields: `type` plus `ip`, `url.*` or `file.hash.*`. */
export function ecsIndicator(indicator: Indicator): Record<string, unknown> {
  const { type, value } = indicator;
  const out: Record<string, unknown> = { type: ECS_TYPE[type] };
  if (type === 'ipv4' || type === 'ipv6') out['ip'] = value;
  else if (type === 'domain') out['url'] = { domain: value };
  else if (type === 'url') out['url'] = { full: value, original: value };
  else out['file'] = { hash: { [type]: value } };
  return out;
}

/** An ECS `threat.indicator.*` event (event.kind "enrichment") for one feed entry. */
export function indicatorEvent(i: IndicatorEventInput): SourceEvent {
  const { value } = i.indicator;
  const indicator = ecsIndicator(i.indicator);
  if (i.provider) indicator['provider'] = i.provider;
  if (i.description) indicator['description'] = i.description;
  if (i.reference) indicator['reference'] = i.reference;
  if (i.firstSeen) indicator['first_seen'] = i.firstSeen;
  if (i.lastSeen) indicator['last_seen'] = i.lastSeen;
  if (i.modifiedAt) indicator['modified_at'] = i.modifiedAt;
  if (i.confidence) indicator['confidence'] = i.confidence;
  if (i.indicatorFields) Object.assign(indicator, i.indicatorFields);
  if (i.tlp) indicator['marking'] = { tlp: i.tlp.toUpperCase() === 'WHITE' ? 'CLEAR' : i.tlp.toUpperCase() };
  const event: SourceEvent = {
    '@timestamp': i.timestamp,
    message: `${i.feedName} indicator ${value}`,
    event: {
      id: i.id,
      kind: 'enrichment',
      category: ['threat'],
      type: ['indicator'],
      module: i.module,
      dataset: i.dataset,
    },
    threat: {
      feed: { name: i.feedName, ...(i.feedReference ? { reference: i.feedReference } : {}) },
      indicator,
      ...(i.threatFields ?? {}),
    },
  };
  if (i.tags && i.tags.length > 0) event['tags'] = i.tags;
  if (i.extra) Object.assign(event, i.extra);
  return event;
}

const TLP_ORDER = ['clear', 'green', 'amber', 'amber+strict', 'red'];

/** True when `tlp` may leave under a ceiling of `max` (TLP:WHITE is TLP:CLEAR; unmarked counts as clear). */
export function tlpAllowed(tlp: string | undefined, max: string): boolean {
  const norm = (t: string): string => (t.toLowerCase() === 'white' ? 'clear' : t.toLowerCase());
  const a = TLP_ORDER.indexOf(norm(tlp ?? 'clear'));
  const b = TLP_ORDER.indexOf(norm(max));
  return (a === -1 ? TLP_ORDER.length : a) <= b;
}
