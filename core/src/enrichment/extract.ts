import { getField } from '../plugin-api/index.js';
import type { Indicator, IndicatorType } from '../plugin-api/index.js';
import { hashTypeByLength, indicatorKey, normalizeIndicator, urlHost } from './indicator.js';
import { parseIp } from './ip.js';

/** An indicator found in an event, with every field it was found in (for `matched.field`). */
export interface ExtractedIndicator {
  indicator: Indicator;
  fields: string[];
}

type Kind = 'ip' | 'domain' | 'url' | 'hash' | IndicatorType;

// host.* is the machine that logged the event (ours), so it is deliberately not here.
const FIELD_LIST: Array<[string, Kind]> = [
  ['source.ip', 'ip'],
  ['destination.ip', 'ip'],
  ['client.ip', 'ip'],
  ['server.ip', 'ip'],
  ['related.ip', 'ip'],
  ['threat.indicator.ip', 'ip'],
  ['source.domain', 'domain'],
  ['destination.domain', 'domain'],
  ['client.domain', 'domain'],
  ['server.domain', 'domain'],
  ['url.domain', 'domain'],
  ['dns.question.name', 'domain'],
  ['related.hosts', 'domain'],
  ['threat.indicator.url.domain', 'domain'],
  ['url.original', 'url'],
  ['url.full', 'url'],
  ['threat.indicator.url.full', 'url'],
  ['threat.indicator.url.original', 'url'],
  ['file.hash.md5', 'md5'],
  ['file.hash.sha1', 'sha1'],
  ['file.hash.sha256', 'sha256'],
  ['process.hash.md5', 'md5'],
  ['process.hash.sha1', 'sha1'],
  ['process.hash.sha256', 'sha256'],
  ['dll.hash.md5', 'md5'],
  ['dll.hash.sha1', 'sha1'],
  ['dll.hash.sha256', 'sha256'],
  ['threat.indicator.file.hash.md5', 'md5'],
  ['threat.indicator.file.hash.sha1', 'sha1'],
  ['threat.indicator.file.hash.sha256', 'sha256'],
  ['related.hash', 'hash'],
];
const FIELDS: ReadonlyArray<readonly [string, Kind, readonly string[]]> = FIELD_LIST.map(([f, k]) => [f, k, f.split('.')] as const);

/**
 * Every indicator in an event, de-duplicated, in a stable order (field order above, then value
 * order), so the same event always yields the same lookups and the same explanation.
 * Values that do not parse as their type are ignored: a log field is not a contract.
 */
export function extractIndicators(event: Record<string, unknown>): ExtractedIndicator[] {
  const found = new Map<string, ExtractedIndicator>();
  // Events reach the stages nested; only a top-level dotted key needs the slower generic lookup.
  let dotted: boolean | undefined;
  const read = (field: string, parts: readonly string[]): unknown => {
    let cur: unknown = event;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') { cur = undefined; break; }
      cur = (cur as Record<string, unknown>)[p];
    }
    if (cur !== undefined) return cur;
    dotted ??= Object.keys(event).some((k) => k.includes('.'));
    return dotted ? getField(event, field) : undefined;
  };
  const add = (type: string, raw: string, field: string): void => {
    const n = normalizeIndicator(type, raw);
    if (!n.ok) return;
    const key = indicatorKey(n.indicator);
    const existing = found.get(key);
    if (existing) {
      if (!existing.fields.includes(field)) existing.fields.push(field);
    } else {
      found.set(key, { indicator: n.indicator, fields: [field] });
    }
  };
  for (const [field, kind, parts] of FIELDS) {
    for (const raw of values(read(field, parts))) {
      switch (kind) {
        case 'ip':
          add('ip', raw, field);
          break;
        case 'domain':
          // related.hosts and *.domain sometimes hold an address.
          if (parseIp(raw)) add('ip', raw, field);
          else add('domain', raw, field);
          break;
        case 'url': {
          add('url', raw, field);
          const host = urlHost(raw);
          if (host !== undefined) {
            if (parseIp(host)) add('ip', host, field);
            else add('domain', host, field);
          }
          break;
        }
        case 'hash': {
          const t = hashTypeByLength(raw);
          if (t) add(t, raw, field);
          break;
        }
        default:
          add(kind, raw, field);
      }
    }
  }
  return [...found.values()];
}

function values(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}
