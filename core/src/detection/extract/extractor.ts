import { ipVersion } from '../../net/ip.js';
import type { ExtractorConfig } from '../config.js';
import type { CompileSession, EvalContext } from '../sigma/context.js';
import { RuleRefusal } from '../sigma/errors.js';
import { compileSelection, identityMapper } from '../sigma/selection.js';
import type { Predicate } from '../sigma/values.js';

/** Fields ECS types as numbers. */
const NUMERIC = new Set(['process.pid', 'process.ppid', 'source.port', 'destination.port', 'http.response.status_code', 'http.response.body.bytes', 'process.parent.pid']);

export type PostProcess = (ctx: ExtractionTarget) => void;

/** Where extractors write: the record being evaluated, remembering what was added. */
export interface ExtractionTarget {
  ctx: EvalContext;
  set(path: string, value: unknown): void;
}

export interface CompiledExtractor {
  name: string;
  when: Predicate | undefined;
  /** Set when `when` is just a list of program names: a Set lookup replaces the predicate. */
  programs: Set<string> | undefined;
  source: string[];
  /** Fields it can write: exact paths, and prefixes ending in "." for key=value/JSON extractors. */
  outputs: string[];
  /** Fields its `when` reads. */
  reads: string[];
  /**
   * Whether it can write text the source does not hold verbatim (JSON escapes undone, a post
   * processor decoding hex): keywords over the whole event then need it before matching. Regex
   * and key=value captures are pieces of the source text, already searched.
   */
  derives: boolean;
  /** Runs on the text; returns true when it extracted something. */
  apply(text: string, out: ExtractionTarget): boolean;
}

/**
 * Write an extracted value with ECS typing: numbers for ports/pids; what is not an address in `.ip`
 * (a host name, "999.1.1.1") moved to `.domain`, so an ip-typed index field never refuses the event.
 */
export function putField(out: ExtractionTarget, path: string, raw: string, nulls: readonly string[]): void {
  if (raw === '' || nulls.includes(raw)) return;
  if (NUMERIC.has(path)) {
    const n = Number(raw);
    if (Number.isFinite(n)) out.set(path, n);
    return;
  }
  if (path.endsWith('.ip') && ipVersion(raw) === undefined) {
    out.set(path.slice(0, -3) + '.domain', raw);
    return;
  }
  out.set(path, raw);
}

function groupPath(name: string, renames: Record<string, string>): string | undefined {
  if (name.startsWith('_')) return undefined;
  return renames[name] ?? name.replace(/__/g, '.');
}

/** `^` followed by plain characters: a startsWith check that skips most non-matching lines. */
function literalPrefix(src: string, flags: string): string {
  if (!src.startsWith('^') || flags.includes('i')) return '';
  let out = '';
  for (let i = 1; i < src.length; i++) {
    const c = src[i]!;
    if ('\\.[](){}*+?|^$'.includes(c)) {
      if ('*?{'.includes(c)) out = out.slice(0, -1);
      break;
    }
    out += c;
  }
  return out;
}

function compileRegexExtractor(cfg: ExtractorConfig): CompiledExtractor['apply'] {
  const renames = cfg.fields ?? {};
  const nulls = cfg.null_values ?? [];
  const all = cfg.match === 'all';
  const pats = (cfg.patterns ?? []).map((p, i) => {
    let re: RegExp;
    try {
      re = new RegExp(p.regex);
    } catch (e) {
      throw new RuleRefusal('extractor regex', `extractor "${cfg.name}" pattern ${i}: ${(e as Error).message}`);
    }
    const groups = [...p.regex.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]!);
    const targets = groups.map((g) => [g, groupPath(g, renames)] as const).filter((x): x is readonly [string, string] => x[1] !== undefined);
    return { re, prefix: literalPrefix(p.regex, ''), targets, set: Object.entries(p.set ?? {}) };
  });
  if (pats.length === 0) throw new RuleRefusal('extractor', `extractor "${cfg.name}" (regex) needs at least one pattern`);
  return (text, out) => {
    let hit = false;
    for (const p of pats) {
      if (p.prefix && !text.startsWith(p.prefix)) continue;
      const m = p.re.exec(text);
      if (!m) continue;
      const g = m.groups!;
      for (const [name, path] of p.targets) {
        const v = g[name];
        if (v !== undefined) putField(out, path, v, nulls);
      }
      for (const [path, v] of p.set) out.set(path, v);
      hit = true;
      if (!all) return true;
    }
    return hit;
  };
}

const KV = /([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']*)/g;

function compileKvExtractor(cfg: ExtractorConfig): CompiledExtractor['apply'] {
  const prefix = cfg.prefix ?? '';
  const renames = cfg.fields ?? {};
  const nulls = cfg.null_values ?? [];
  return (text, out) => {
    let hit = false;
    KV.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = KV.exec(text)) !== null) {
      let v = m[2]!;
      if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) v = v.slice(1, -1);
      const key = m[1]!;
      putField(out, renames[key] ?? prefix + key, v, nulls);
      hit = true;
    }
    return hit;
  };
}

function flattenInto(obj: Record<string, unknown>, prefix: string, out: ExtractionTarget, renames: Record<string, string>, nulls: readonly string[]): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flattenInto(v as Record<string, unknown>, key + '.', out, renames, nulls);
    else if (typeof v === 'string') putField(out, renames[key] ?? key, v, nulls);
    else if (v !== null && v !== undefined) out.set(renames[key] ?? key, v);
  }
}

function compileJsonExtractor(cfg: ExtractorConfig): CompiledExtractor['apply'] {
  const prefix = cfg.prefix ?? '';
  const renames = cfg.fields ?? {};
  const nulls = cfg.null_values ?? [];
  return (text, out) => {
    const start = text.indexOf('{');
    if (start === -1) return false;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.slice(start));
    } catch {
      return false;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
    flattenInto(parsed as Record<string, unknown>, prefix, out, renames, nulls);
    return true;
  };
}

function outputsOf(cfg: ExtractorConfig, extra: string[]): string[] {
  const renames = cfg.fields ?? {};
  const out = [...Object.values(renames), ...extra];
  if (cfg.type === 'regex') {
    for (const p of cfg.patterns ?? []) {
      for (const m of p.regex.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)) {
        const path = groupPath(m[1]!, renames);
        if (path) out.push(path, ...(path.endsWith('.ip') ? [path.slice(0, -3) + '.domain'] : []));
      }
      out.push(...Object.keys(p.set ?? {}));
    }
  } else out.push(cfg.prefix ?? '');
  return out;
}

export function compileExtractor(
  cfg: ExtractorConfig,
  session: CompileSession,
  post?: PostProcess & { outputs?: string[] },
  fast?: ((text: string, out: ExtractionTarget) => boolean) & { outputs?: string[] },
): CompiledExtractor {
  session.recording = new Set();
  const when = cfg.when ? compileSelection(cfg.when, identityMapper, ['extractors', cfg.name, 'when'], session) : undefined;
  const reads = [...session.recording, ...(cfg.source ?? ['message', 'event.original'])];
  session.recording = undefined;
  const general = cfg.type === 'regex' ? compileRegexExtractor(cfg) : cfg.type === 'kv' ? compileKvExtractor(cfg) : compileJsonExtractor(cfg);
  const base: CompiledExtractor['apply'] = fast ? (text, out) => fast(text, out) || general(text, out) : general;
  const apply: CompiledExtractor['apply'] = post
    ? (text, out) => {
        const hit = base(text, out);
        if (hit) post(out);
        return hit;
      }
    : base;
  const w = cfg.when as Record<string, unknown> | undefined;
  const names = w && !Array.isArray(w) && Object.keys(w).length === 1 ? w['process.name'] : undefined;
  const programs = Array.isArray(names) && names.every((n) => typeof n === 'string' && !/[*?\\]/.test(n)) ? new Set(names.map((n: string) => n.toLowerCase())) : undefined;
  return {
    name: cfg.name,
    when,
    programs,
    source: cfg.source ?? ['message', 'event.original'],
    apply,
    reads,
    derives: cfg.type === 'json' || post !== undefined,
    outputs: outputsOf(cfg, [...(post?.outputs ?? []), ...(fast?.outputs ?? [])]),
  };
}
