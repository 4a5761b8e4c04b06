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

/** What a field holds: an address, a name, a URL (its host is looked up too), a hash of any length, or one type. */
export type FieldKind = 'ip' | 'domain' | 'url' | 'hash' | IndicatorType;

/**
 * The fields indicators are read from, in this order. host.* is the machine that logged the event
 * (ours), so it is deliberately not here.
 */
export const INDICATOR_FIELDS: ReadonlyArray<readonly [string, FieldKind]> = [
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
const FIELDS: ReadonlyArray<readonly [string, FieldKind, readonly string[]]> = INDICATOR_FIELDS.map(([f, k]) => [f, k, f.split('.')] as const);
/** The fields by their top-level object, in INDICATOR_FIELDS order: an event without `dns` costs one lookup for all dns.* fields. */
const BY_TOP: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, FieldKind, readonly string[]]>]> = (() => {
  const out: Array<[string, Array<readonly [string, FieldKind, readonly string[]]>]> = [];
  for (const f of FIELDS) {
    const last = out[out.length - 1];
    if (last && last[0] === f[2][0]) last[1].push(f);
    else out.push([f[2][0]!, [f]]);
  }
  return out;
})();

/** A bit for each top-level name (a name can head several runs of BY_TOP; fewer than 32 names). */
const TOP_BIT = new Map([...new Set(BY_TOP.map(([top]) => top))].map((top, i) => [top, 1 << i]));
if (TOP_BIT.size > 31) throw new Error('extract.ts: more top-level field names than bits in a mask');
const BY_TOP_BIT = BY_TOP.map(([top]) => TOP_BIT.get(top)!);

/**
 * Canonical form of recently seen raw values (parsing and re-spelling an address costs more than
 * the rest of a cached enrichment). Bounded: cleared when full. Holds only strings, so an
 * indicator handed out is always a fresh object.
 */
const MEMO_MAX = 50_000;
/**
 * Longer raw values are worked out each time, not remembered: the memos are bounded in entries, and
 * a flood of forged megabyte values (an event may be 1 MB) would otherwise hold 50,000 of them.
 * Every indicator but a URL is at most 253 characters (a domain name).
 */
const MEMO_MAX_CHARS = 512;

/** `compute(raw)`, remembered in `memo` when raw is short; a full memo is cleared. */
function memoized<T>(memo: Map<string, T>, raw: string, compute: (raw: string) => T): T {
  if (raw.length > MEMO_MAX_CHARS) return compute(raw);
  let v = memo.get(raw);
  if (v === undefined) {
    v = compute(raw);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(raw, v);
  }
  return v;
}

type Normalized = { type: IndicatorType; value: string; key: string };
/** By type, then raw value: no key string is built per read (the raw value's hash is the only one computed). */
const memo = new Map<string, Map<string, Normalized | null>>();
function normalized(type: string, raw: string): Normalized | null {
  let byRaw = memo.get(type);
  if (!byRaw) memo.set(type, (byRaw = new Map()));
  return memoized(byRaw, raw, (r) => {
    const n = normalizeIndicator(type, r);
    return n.ok ? { type: n.indicator.type, value: n.indicator.value, key: indicatorKey(n.indicator) } : null;
  });
}

/** What one extraction has found so far: a list, indexed by key once it is long enough to need it. */
interface Found {
  list: ExtractedIndicator[];
  index: Map<string, ExtractedIndicator> | undefined;
}
/** Up to this many indicators a linear scan de-duplicates faster than a Map costs to build. */
const SCAN_MAX = 16;

/**
 * Every indicator in an event, de-duplicated, in a stable order (field order above, then value
 * order), so the same event always yields the same lookups and the same explanation.
 * Values that do not parse as their type are ignored: a log field is not a contract.
 * Written without per-call closures or temporary arrays: it runs for every alert.
 */
export function extractIndicators(event: Record<string, unknown>): ExtractedIndicator[] {
  const found: Found = { list: [], index: undefined };
  // Which top-level objects the event has, from its own keys: reading each of the fields' tops
  // instead (most of them absent) was half the cost of an extraction, since a keyed read of a
  // missing property walks the prototype chain. Events reach the stages nested; a top-level
  // dotted key ("source.ip") sends every field to the slower generic lookup.
  let present = 0;
  let dotted = false;
  for (const k in event) {
    const bit = TOP_BIT.get(k);
    if (bit !== undefined) present |= bit;
    else if (k.includes('.')) dotted = true;
  }
  if (present === 0 && !dotted) return found.list;
  for (let i = 0; i < BY_TOP.length; i++) {
    if (!dotted && (present & BY_TOP_BIT[i]!) === 0) continue;
    for (const [field, kind, parts] of BY_TOP[i]![1]) {
      let v = readPath(event, parts);
      if (v === undefined) {
        if (!dotted) continue;
        v = getField(event, field);
      }
      if (typeof v === 'string') addValue(found, kind, v, field);
      else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') addValue(found, kind, x, field);
    }
  }
  return found.list;
}

function readPath(event: Record<string, unknown>, parts: readonly string[]): unknown {
  let cur: unknown = event;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function addValue(found: Found, kind: FieldKind, raw: string, field: string): void {
  switch (kind) {
    case 'ip':
      add(found, 'ip', raw, field);
      return;
    case 'domain':
      // related.hosts and *.domain sometimes hold an address.
      add(found, isIp(raw) ? 'ip' : 'domain', raw, field);
      return;
    case 'url': {
      add(found, 'url', raw, field);
      const host = hostOf(raw);
      if (host !== undefined) add(found, isIp(host) ? 'ip' : 'domain', host, field);
      return;
    }
    case 'hash': {
      const t = hashTypeByLength(raw);
      if (t) add(found, t, raw, field);
      return;
    }
    default:
      add(found, kind, raw, field);
  }
}

function add(found: Found, type: string, raw: string, field: string): void {
  const n = normalized(type, raw);
  if (!n) return;
  let existing: ExtractedIndicator | undefined;
  if (found.index) existing = found.index.get(n.key);
  else for (const x of found.list) if (x.key === n.key) existing = x;
  if (existing) {
    if (!existing.fields.includes(field)) existing.fields.push(field);
    return;
  }
  const x: ExtractedIndicator = { indicator: { type: n.type, value: n.value }, fields: [field], key: n.key };
  found.list.push(x);
  if (found.index) found.index.set(n.key, x);
  else if (found.list.length > SCAN_MAX) found.index = new Map(found.list.map((e) => [e.key, e]));
}

const ipMemo = new Map<string, boolean>();
const isIpNow = (raw: string) => parseIp(raw) !== undefined;
function isIp(raw: string): boolean {
  return memoized(ipMemo, raw, isIpNow);
}

const hostMemo = new Map<string, string | null>();
const hostNow = (url: string) => urlHost(url) ?? null;
function hostOf(url: string): string | undefined {
  return memoized(hostMemo, url, hostNow) ?? undefined;
}
