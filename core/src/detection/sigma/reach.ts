/**
 * "Can this rule ever fire?": a rule whose condition needs a field that nothing can put on the
 * events of its logsource is loaded (it is valid Sigma) but reported, so it does not sit silently
 * in the rule set. What can produce a field:
 * - the built-in and configured extractors' declared outputs (raw syslog, auditd, access logs…);
 * - for events that arrive as structured documents (ECS from Elasticsearch, Splunk, Graylog), the
 *   mapping's declared `produces` list and the targets of its `fields` renames.
 * `fabric scan` reads text lines only, so it checks against the extractors alone.
 */
import type { ExtractorConfig, LogsourceMapping } from '../config.js';
import { BUILTIN_EXTRACTORS, FAST_PARSERS, POST_PROCESSORS } from '../extract/builtin.js';
import { compileExtractor } from '../extract/extractor.js';
import type { ConditionNode } from './condition.js';
import { CompileSession } from './context.js';
import type { FieldMapper } from './selection.js';
import { identityMapper } from './selection.js';
import { parseDetection, type SigmaRule } from './rule.js';

/** Fields every evaluated record has: the line itself (scan) or the document's text (pipeline). */
const ALWAYS = ['message', 'event.original'];
/** Fields any structured document from a log store carries, whatever its source. */
const COMMON_STRUCTURED = ['@timestamp', 'event.*', 'host.*', 'agent.*', 'ecs.version', 'tags', 'labels.*', 'log.*', 'observer.*', 'fabric.*'];

/** Outputs declared by extractors: exact paths, or prefixes ending in "." ("" = any field). */
export function extractorOutputs(configs: readonly ExtractorConfig[], builtin: boolean): string[] {
  const all = [...(builtin ? BUILTIN_EXTRACTORS : []), ...configs];
  const out: string[] = [];
  for (const e of all) {
    const post = 'post' in e && typeof e.post === 'string' ? POST_PROCESSORS[e.post] : undefined;
    const fast = 'fast' in e && typeof e.fast === 'string' ? FAST_PARSERS[e.fast] : undefined;
    // Throws a RuleRefusal naming the extractor when its config is broken.
    out.push(...compileExtractor(e, new CompileSession(), post, fast).outputs);
  }
  return out;
}

export interface ReachOptions {
  /** Extractor outputs (see extractorOutputs). */
  extracted: readonly string[];
  /** Whether events may arrive as structured documents, so mappings' `produces` count. */
  structured: boolean;
}

interface Matcher {
  exact: Set<string>;
  prefixes: string[];
  any: boolean;
}

function matcher(exact: Iterable<string>, prefixes: Iterable<string>): Matcher {
  const p = [...prefixes];
  return { exact: new Set(exact), prefixes: p.filter((x) => x !== ''), any: p.includes('') };
}

const test = (m: Matcher, path: string) => m.any || m.exact.has(path) || m.prefixes.some((p) => path.startsWith(p));

/** Answers "can some event of this mapping carry `path`?", per mapping. */
export class FieldAvailability {
  private readonly base: Matcher;
  private readonly perMapping = new WeakMap<LogsourceMapping, Matcher>();

  constructor(readonly options: ReachOptions) {
    const exact: string[] = [...ALWAYS];
    const prefixes: string[] = [];
    for (const o of options.extracted) (o === '' || o.endsWith('.') ? prefixes : exact).push(o);
    if (options.structured) split(COMMON_STRUCTURED, exact, prefixes);
    this.base = matcher(exact, prefixes);
  }

  can(path: string, m: LogsourceMapping): boolean {
    if (test(this.base, path)) return true;
    if (!this.options.structured || m.produces === undefined) return false;
    let mm = this.perMapping.get(m);
    if (!mm) {
      const exact: string[] = [];
      const prefixes: string[] = [];
      split(m.produces, exact, prefixes);
      for (const [k, v] of Object.entries(m.fields ?? {})) (k.endsWith('.*') ? prefixes : exact).push(k.endsWith('.*') && v.endsWith('.*') ? v.slice(0, -1) : v);
      this.perMapping.set(m, (mm = matcher(exact, prefixes)));
    }
    return test(mm, path);
  }
}

function split(patterns: readonly string[], exact: string[], prefixes: string[]): void {
  for (const p of patterns) {
    if (p === '*') prefixes.push('');
    else if (p.endsWith('.*')) prefixes.push(p.slice(0, -1));
    else exact.push(p);
  }
}

/** NEVER: the part cannot be true; MAYBE: depends on the event; ALWAYS: true on every event. */
const NEVER = 0;
const MAYBE = 1;
const ALWAYS_TRUE = 2;
type Tri = 0 | 1 | 2;

export interface MissingField {
  /** The name in the rule ("CommandLine"), or the gate's field. */
  sigma: string;
  /** The event field it reads after the mapping ("process.command_line"). */
  path: string;
}

function foldField(key: string, value: unknown, mapper: FieldMapper, can: (p: string) => boolean, missing: MissingField[]): Tri {
  const [field = '', ...mods] = key.split('|');
  if (field === '') return MAYBE;
  const path = mapper(field);
  if (can(path)) return MAYBE;
  const values = Array.isArray(value) ? value : [value];
  const lower = mods.map((m) => m.toLowerCase());
  // An absent field still satisfies "exists: false" and null.
  let absentMatches: boolean;
  if (lower.includes('exists')) absentMatches = values[0] === false;
  else if (lower.includes('all')) absentMatches = values.length > 0 && values.every((v) => v === null);
  else absentMatches = values.some((v) => v === null);
  if (absentMatches) return ALWAYS_TRUE;
  if (!missing.some((x) => x.path === path && x.sigma === field)) missing.push({ sigma: field, path });
  return NEVER;
}

function foldMap(map: Record<string, unknown>, mapper: FieldMapper, can: (p: string) => boolean, missing: MissingField[]): Tri {
  let all = true;
  let result: Tri = ALWAYS_TRUE;
  for (const [k, v] of Object.entries(map)) {
    const t = foldField(k, v, mapper, can, missing);
    if (t === NEVER) result = NEVER;
    if (t !== ALWAYS_TRUE) all = false;
  }
  return result === NEVER ? NEVER : all ? ALWAYS_TRUE : MAYBE;
}

/** A search identifier's value or a gate, folded like compileSelection reads it. */
export function foldSelection(value: unknown, mapper: FieldMapper, can: (p: string) => boolean, missing: MissingField[]): Tri {
  if (value === null || typeof value !== 'object') return MAYBE;
  if (Array.isArray(value)) {
    if (!value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) return MAYBE;
    let any: Tri = NEVER;
    for (const m of value) {
      const t = foldMap(m as Record<string, unknown>, mapper, can, missing);
      if (t > any) any = t;
    }
    return any;
  }
  return foldMap(value as Record<string, unknown>, mapper, can, missing);
}

function foldCondition(node: ConditionNode, searches: Map<string, Tri>): Tri {
  switch (node.op) {
    case 'id':
      return searches.get(node.name) ?? MAYBE;
    case 'not':
      return (2 - foldCondition(node.arg, searches)) as Tri;
    case 'and': {
      let r: Tri = ALWAYS_TRUE;
      for (const a of node.args) r = Math.min(r, foldCondition(a, searches)) as Tri;
      return r;
    }
    case 'or': {
      let r: Tri = NEVER;
      for (const a of node.args) r = Math.max(r, foldCondition(a, searches)) as Tri;
      return r;
    }
  }
}

export interface Unreachable {
  /** The gate itself needs fields nothing produces: every rule of the logsource is affected. */
  gate: boolean;
  missing: MissingField[];
}

/**
 * Why `rule` can never fire under `mapping`, or undefined when some event could match it. The
 * rule must already have compiled (its condition parses).
 */
export function unreachable(rule: SigmaRule, mapping: LogsourceMapping, mapper: FieldMapper, avail: FieldAvailability): Unreachable | undefined {
  const can = (p: string) => avail.can(p, mapping);
  if (mapping.when !== undefined) {
    const missing: MissingField[] = [];
    if (foldSelection(mapping.when, identityMapper, can, missing) === NEVER) return { gate: true, missing };
  }
  const missing: MissingField[] = [];
  const searches = new Map<string, Tri>();
  for (const [name, value] of Object.entries(rule.detection)) {
    if (name === 'condition') continue;
    const own: MissingField[] = [];
    const t = foldSelection(value, mapper, can, own);
    searches.set(name, t);
    // Only searches that can never match explain the verdict (a filter's missing field does not).
    if (t === NEVER) for (const f of own) if (!missing.some((x) => x.path === f.path && x.sigma === f.sigma)) missing.push(f);
  }
  if (foldCondition(parseDetection(rule.detection), searches) !== NEVER) return undefined;
  return { gate: false, missing };
}
