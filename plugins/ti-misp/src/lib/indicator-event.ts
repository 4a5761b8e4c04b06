import type { Indicator, SourceEvent } from '@reactive-fabric/core';

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

const ECS_TYPE: Record<Indicator['type'], string> = {
  ipv4: 'ipv4-addr',
  ipv6: 'ipv6-addr',
  domain: 'domain-name',
  url: 'url',
  md5: 'file',
  sha1: 'file',
  sha256: 'file',
};

/** An ECS `threat.indicator.*` event (event.kind "enrichment") for one feed entry. */
export function indicatorEvent(i: IndicatorEventInput): SourceEvent {
  const { type, value } = i.indicator;
  const indicator: Record<string, unknown> = { type: ECS_TYPE[type] };
  if (type === 'ipv4' || type === 'ipv6') indicator['ip'] = value;
  else if (type === 'domain') indicator['url'] = { domain: value };
  else if (type === 'url') indicator['url'] = { full: value, original: value };
  else indicator['file'] = { hash: { [type]: value } };
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

export function isoNoMillis(ms: number): string {
  return new Date(ms).toISOString();
}
