import RandExp from 'randexp';
import type { ConditionNode } from '../../../src/detection/sigma/condition.js';

/**
 * Events for the differential test, derived from a rule's own detection: positives (make the
 * condition true with each alternative of its ORs and value lists, and once more with the case
 * of every value swapped) and near-misses (a positive with one field value broken, or with one
 * negated selection made true). The events only need to sit near the rule's decision boundary:
 * both evaluators judge the same events, and their verdicts are compared, not our intent.
 */

export type Scalar = string | number;
export type Event = Record<string, Scalar>;
const ABSENT = Symbol('absent');
type Value = Scalar | typeof ABSENT;
type Fragment = Map<string, Value>;

/** Field keyword values go to: pySigma searches every value, we search every value. */
export const KEYWORD_FIELD = 'message';

interface Spec {
  field: string;
  mods: string[];
  values: unknown[];
}

/** Deterministic PRNG (mulberry32) so the generated events never change between runs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A concrete string a Sigma wildcard pattern matches: `*` → "x", `?` → "y", escapes undone. */
function concrete(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && (pattern[i + 1] === '*' || pattern[i + 1] === '?' || pattern[i + 1] === '\\')) {
      out += pattern[++i];
    } else if (c === '*') out += 'x';
    else if (c === '?') out += 'y';
    else out += c;
  }
  return out;
}

function mode(mods: string[]): 'equals' | 'contains' | 'startswith' | 'endswith' {
  for (const m of mods) if (m === 'contains' || m === 'startswith' || m === 'endswith') return m;
  return 'equals';
}

function specs(value: unknown, pick: number): Spec[] {
  if (Array.isArray(value)) {
    const maps = value.filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
    if (maps.length === value.length && maps.length > 0) return specs(maps[pick % maps.length], Math.floor(pick / maps.length));
    return [{ field: '', mods: [], values: value }];
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([k, v]) => {
      const [field, ...mods] = k.split('|');
      return { field: field!, mods: mods.map((m) => m.toLowerCase()), values: Array.isArray(v) ? v : [v] };
    });
  }
  return [{ field: '', mods: [], values: [value] }];
}

function cidrAddress(c: string): string {
  const [net] = c.split('/');
  if (net!.includes(':')) return net!.endsWith('::') ? `${net}1` : net!;
  const o = net!.split('.');
  if (o.length === 4 && o[3] === '0') o[3] = '1';
  return o.join('.');
}

function base64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

interface Part {
  mode: 'equals' | 'contains' | 'startswith' | 'endswith';
  text: string;
}

/** The string (or number, or absence) one value of a spec needs, as a part to merge into its field. */
function satisfying(spec: Spec, raw: unknown, rnd: () => number): Part | Value {
  const mods = spec.mods;
  if (mods.includes('exists')) return raw === false ? ABSENT : 'present';
  if (raw === null) return ABSENT;
  const cmp = mods.find((m) => m === 'lt' || m === 'lte' || m === 'gt' || m === 'gte');
  if (cmp && typeof raw === 'number') return cmp === 'lt' ? raw - 1 : cmp === 'gt' ? raw + 1 : raw;
  if (mods.includes('cidr')) return cidrAddress(String(raw));
  if (mods.includes('re')) {
    try {
      const r = new RandExp(String(raw), mods.includes('i') ? 'i' : '');
      r.max = 3;
      r.randInt = (a: number, b: number) => a + Math.floor(rnd() * (b - a + 1));
      return r.gen();
    } catch {
      return String(raw);
    }
  }
  if (typeof raw !== 'string') return typeof raw === 'number' && mode(mods) === 'equals' && !mods.some((m) => m.startsWith('base64')) ? raw : String(raw);
  let text = concrete(raw);
  if (mods.includes('base64')) text = base64(text);
  else if (mods.includes('base64offset')) text = base64(text);
  const m = spec.field === '' ? 'contains' : mode(mods);
  return { mode: m, text };
}

function isPart(v: Part | Value): v is Part {
  return typeof v === 'object' && v !== null;
}

function merge(parts: Part[]): string {
  const eq = parts.find((p) => p.mode === 'equals');
  if (eq) return eq.text;
  const start = parts.filter((p) => p.mode === 'startswith').map((p) => p.text);
  const mid = parts.filter((p) => p.mode === 'contains').map((p) => p.text);
  const end = parts.filter((p) => p.mode === 'endswith').map((p) => p.text);
  return [start.length ? start.join('') : 'pre', ...mid, end.length ? end.join('') : 'post'].join(' ');
}

/** A fragment (field → value) that makes one selection true, taking alternative `pick` of its lists. */
function satisfy(value: unknown, pick: number, rnd: () => number): Fragment {
  const parts = new Map<string, Part[]>();
  const out: Fragment = new Map();
  for (const s of specs(value, pick)) {
    const field = s.field === '' ? KEYWORD_FIELD : s.field;
    const all = s.mods.includes('all') || s.field === '';
    const chosen = s.field === '' && !s.mods.includes('all') ? [s.values[pick % s.values.length]] : all ? s.values : [s.values[pick % Math.max(1, s.values.length)]];
    for (const raw of chosen) {
      const v = satisfying(s, raw, rnd);
      if (isPart(v)) {
        if (!parts.has(field)) parts.set(field, []);
        parts.get(field)!.push(v);
      } else if (!out.has(field)) out.set(field, v);
    }
  }
  for (const [f, p] of parts) if (!out.has(f)) out.set(f, merge(p));
  return out;
}

/** One value that makes `spec` false (for a list: fails the value it was built from). */
function breaking(spec: Spec, pick: number, rnd: () => number): Value {
  const raw = spec.values[pick % Math.max(1, spec.values.length)];
  const mods = spec.mods;
  if (mods.includes('exists')) return raw === false ? 'present' : ABSENT;
  if (raw === null) return 'x';
  const cmp = mods.find((m) => m === 'lt' || m === 'lte' || m === 'gt' || m === 'gte');
  if (cmp && typeof raw === 'number') return cmp === 'lt' || cmp === 'lte' ? raw + 1 : raw - 1;
  if (mods.includes('cidr')) return '203.0.113.254';
  if (mods.includes('re')) return 'zq';
  const v = satisfying(spec, raw, rnd);
  if (!isPart(v)) return typeof v === 'number' ? v + 1 : v === ABSENT ? 'x' : `${String(v)}z`;
  // Change one character (code point) in the middle: the nearest miss a wildcard or substring test can get.
  const t = Array.from(v.text);
  const i = Math.floor(t.length / 2);
  const broken = t.length ? [...t.slice(0, i), t[i] === '#' ? '%' : '#', ...t.slice(i + 1)].join('') : 'z';
  const m = spec.field === '' ? 'contains' : v.mode;
  return m === 'equals' ? broken : m === 'startswith' ? `${broken} post` : m === 'endswith' ? `pre ${broken}` : `pre ${broken} post`;
}

interface Alt {
  pos: Set<string>;
  neg: Set<string>;
}

const CAP = 6;

function product(lists: Alt[][]): Alt[] {
  let out: Alt[] = [{ pos: new Set(), neg: new Set() }];
  for (const l of lists) {
    const next: Alt[] = [];
    for (const a of out) for (const b of l) if (next.length < CAP) next.push({ pos: new Set([...a.pos, ...b.pos]), neg: new Set([...a.neg, ...b.neg]) });
    out = next;
  }
  return out;
}

/** Ways to make `node` true. */
function sat(node: ConditionNode): Alt[] {
  switch (node.op) {
    case 'id':
      return [{ pos: new Set([node.name]), neg: new Set() }];
    case 'and':
      return product(node.args.map(sat));
    case 'or':
      return node.args.flatMap(sat).slice(0, CAP);
    case 'not':
      return fal(node.arg);
  }
}

/** Ways to make `node` false. */
function fal(node: ConditionNode): Alt[] {
  switch (node.op) {
    case 'id':
      return [{ pos: new Set(), neg: new Set([node.name]) }];
    case 'and':
      return node.args.flatMap(fal).slice(0, CAP);
    case 'or':
      return product(node.args.map(fal));
    case 'not':
      return sat(node.arg);
  }
}

function toEvent(f: Fragment): Event {
  const out: Event = {};
  for (const [k, v] of f) if (v !== ABSENT) out[k] = v;
  return out;
}

function swapCase(e: Event): Event {
  const out: Event = {};
  for (const [k, v] of Object.entries(e)) out[k] = typeof v === 'string' ? [...v].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('') : v;
  return out;
}

export interface Generated {
  events: Event[];
  /** Parallel to events: what the generator aimed at (for reading disagreements). */
  kinds: string[];
}

/** Positive and near-miss events for one rule (at most `max`). */
export function generateEvents(ruleId: string, detection: Record<string, unknown>, condition: ConditionNode, max = 64): Generated {
  const rnd = prng(hash(ruleId));
  const events: Event[] = [];
  const kinds: string[] = [];
  const seen = new Set<string>();
  const push = (e: Event, kind: string) => {
    const key = JSON.stringify(Object.entries(e).sort());
    if (seen.has(key) || events.length >= max) return;
    seen.add(key);
    events.push(e);
    kinds.push(kind);
  };
  const alts = sat(condition);
  const build = (alt: Alt, pick: number): Fragment => {
    const f: Fragment = new Map();
    for (const id of alt.pos) for (const [k, v] of satisfy(detection[id], pick, rnd)) if (!f.has(k)) f.set(k, v);
    // A negated selection is made false where it reads fields the positive part left unset
    // (a filter like `ParentImage: null` is true on an event without ParentImage).
    for (const id of alt.neg) {
      for (const s of specs(detection[id], 0)) {
        const field = s.field === '' ? KEYWORD_FIELD : s.field;
        if (!f.has(field) && s.field !== '') {
          f.set(field, breaking(s, 0, rnd));
          break;
        }
      }
    }
    return f;
  };
  const maxPick = Math.min(
    12,
    Math.max(
      1,
      ...Object.entries(detection)
        .filter(([k]) => k !== 'condition')
        .flatMap(([, v]) => specs(v, 0).map((s) => s.values.length)),
    ),
  );
  const first = alts[0] ? build(alts[0], 0) : new Map<string, Value>();
  alts.forEach((alt, ai) => {
    for (let pick = 0; pick < maxPick; pick++) push(toEvent(build(alt, pick)), `positive alt ${ai} pick ${pick}`);
  });
  if (alts[0]) push(swapCase(toEvent(first)), 'positive, case swapped');
  // Near-misses: break one field of a positive at a time (for the first values of its lists).
  if (alts[0]) {
    for (let pick = 0; pick < maxPick; pick++) {
      const base = pick === 0 ? first : build(alts[0], pick);
      for (const id of alts[0].pos) {
        for (const s of specs(detection[id], pick)) {
          const field = s.field === '' ? KEYWORD_FIELD : s.field;
          const f = new Map(base);
          f.set(field, breaking(s, pick, rnd));
          push(toEvent(f), `near-miss ${id}.${s.field || 'keywords'}|${s.mods.join('|')} pick ${pick}`);
          // A line break inside a regex match: PCRE's "." takes "\r" but not "\n".
          const v = base.get(field);
          if (s.mods.includes('re') && typeof v === 'string' && v.length > 1) {
            for (const nl of ['\r', '\n']) {
              const g = new Map(base);
              g.set(field, Array.from(v)[0]! + nl + Array.from(v).slice(1).join(''));
              push(toEvent(g), `probe ${id}.${s.field}: ${JSON.stringify(nl)} inside`);
            }
          }
          // Absent and empty are different values (a `null` or `exists` spec sees the difference).
          if (s.values.includes(null) || s.mods.includes('exists')) {
            const g = new Map(base);
            g.set(field, '');
            push(toEvent(g), `near-miss ${id}.${s.field}: empty string`);
          }
        }
      }
    }
    // …or make one of its negated selections true.
    for (const id of alts[0].neg) {
      const f = new Map(first);
      for (const [k, v] of satisfy(detection[id], 0, rnd)) f.set(k, v);
      push(toEvent(f), `near-miss: ${id} true`);
    }
  }
  push({ unrelated: 'nothing here' }, 'unrelated');
  return { events, kinds };
}
