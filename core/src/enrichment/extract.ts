import { getField } from '../plugin-api/index.js';
import type { Indicator, IndicatorType } from '../plugin-api/index.js';
import { hashTypeByLength, indicatorKey, normalizeIndicator, urlHost } from './indicator.js';
import { parseIp } from '../net/ip.js';

/** An indicator found in an event, with every field it was found in (for `matched.field`). */
export interface ExtractedIndicator {
  indicator: Indicator;
  fields: string[];
  /** indicatorKey(indicator). */
  key: string;
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
/** The fields by their top-level object, in FIELD_LIST order: an event without `dns` costs one lookup for all dns.* fields. */
const BY_TOP: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, Kind, readonly string[]]>]> = (() => {
  const out: Array<[string, Array<readonly [string, Kind, readonly string[]]>]> = [];
  for (const f of FIELDS) {
    const last = out[out.length - 1];
    if (last && last[0] === f[2][0]) last[1].push(f);
    else out.push([f[2][0]!, [f]]);
  }
  return out;
})();

/**
 * Canonical form of recently seen raw values (parsing and re-spelling an address costs more than
 * the rest of a cached enrichment). Bounded: cleared when full. Holds only strings, so an
 * indicator handed out is always a fresh object.
 */
const MEMO_MAX = 50_000;
const memo = new Map<string, { type: IndicatorType; value: string; key: string } | null>();
function normalized(type: string, raw: string): { type: IndicatorType; value: string; key: string } | null {
  const k = `${type}\u0000${raw}`;
  let n = memo.get(k);
  if (n === undefined) {
    const r = normalizeIndicator(type, raw);
    n = r.ok ? { type: r.indicator.type, value: r.indicator.value, key: indicatorKey(r.indicator) } : null;
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(k, n);
  }
  return n;
}

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
      if (cur === null || typeof cur !== 'object') {
        cur = undefined;
        break;
      }
      cur = (cur as Record<string, unknown>)[p];
    }
    if (cur !== undefined) return cur;
    dotted ??= Object.keys(event).some((k) => k.includes('.'));
    return dotted ? getField(event, field) : undefined;
  };
  const add = (type: string, raw: string, field: string): void => {
    const n = normalized(type, raw);
    if (!n) return;
    const existing = found.get(n.key);
    if (existing) {
      if (!existing.fields.includes(field)) existing.fields.push(field);
    } else {
      found.set(n.key, { indicator: { type: n.type, value: n.value }, fields: [field], key: n.key });
    }
  };
  for (const [top, fields] of BY_TOP) {
    const head = event[top];
    // Nothing under this name, nested or dotted: skip its fields at once.
    if ((head === null || typeof head !== 'object') && (dotted ??= Object.keys(event).some((k) => k.includes('.'))) === false) continue;
    for (const [field, kind, parts] of fields) {
      for (const raw of values(read(field, parts))) {
        switch (kind) {
          case 'ip':
            add('ip', raw, field);
            break;
          case 'domain':
            // related.hosts and *.domain sometimes hold an address.
            if (isIp(raw)) add('ip', raw, field);
            else add('domain', raw, field);
            break;
          case 'url': {
            add('url', raw, field);
            const host = hostOf(raw);
            if (host !== undefined) {
              if (isIp(host)) add('ip', host, field);
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
  }
  return [...found.values()];
}

const ipMemo = new Map<string, boolean>();
function isIp(raw: string): boolean {
  let r = ipMemo.get(raw);
  if (r === undefined) {
    r = parseIp(raw) !== undefined;
    if (ipMemo.size >= MEMO_MAX) ipMemo.clear();
    ipMemo.set(raw, r);
  }
  return r;
}

const hostMemo = new Map<string, string | null>();
function hostOf(url: string): string | undefined {
  let h = hostMemo.get(url);
  if (h === undefined) {
    h = urlHost(url) ?? null;
    if (hostMemo.size >= MEMO_MAX) hostMemo.clear();
    hostMemo.set(url, h);
  }
  return h ?? undefined;
}

function values(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}
