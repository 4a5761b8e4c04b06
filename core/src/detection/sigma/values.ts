import { compileCidr } from './cidr.js';
import { KEYWORDS, type CompileSession, type EvalContext } from './context.js';
import { RuleRefusal } from './errors.js';
import { compileSigmaRegex } from './regex.js';
import { compileWildcard, escapeWildcards, tokenize, type MatchMode, type StringTest } from './wildcard.js';

export type Predicate = (ctx: EvalContext) => boolean;

const MATCH_MODES = new Set(['contains', 'startswith', 'endswith']);
const TRANSFORMS = new Set(['base64', 'base64offset', 'windash']);
const COMPARE = new Set(['lt', 'lte', 'gt', 'gte']);
const RE_FLAGS = new Set(['i', 'm', 's']);
const KNOWN_BUT_UNSUPPORTED: Record<string, string> = {
  wide: 'UTF-16 encodings (wide/utf16/utf16le/utf16be) only make sense on binary data; text logs never hold them',
  utf16: 'UTF-16 encodings only make sense on binary data',
  utf16le: 'UTF-16 encodings only make sense on binary data',
  utf16be: 'UTF-16 encodings only make sense on binary data',
  expand: 'placeholder expansion (%name%) needs a pipeline that defines the placeholders',
  fieldref: 'field references are not supported',
};

export interface FieldSpec {
  /** Event field path, or undefined for keyword search (the raw message). */
  path: string | undefined;
  modifiers: string[];
  values: unknown[];
  /** Where in the rule this came from, for refusals. */
  at: (string | number)[];
}

function base64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** The three encodings of `s` at byte offsets 0, 1, 2 inside a longer base64 string (Sigma base64offset). */
export function base64Offsets(s: string): string[] {
  const startTrim = [0, 2, 3];
  const endTrim = [0, -3, -2];
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const enc = base64(' '.repeat(i) + s);
    const end = endTrim[(s.length + i) % 3]!;
    out.push(enc.slice(startTrim[i], end === 0 ? undefined : end));
  }
  return out;
}

const DASHES = ['-', '/', '\u2013', '\u2014', '\u2015'];

/** Every spelling of a command line's option dashes that Windows accepts (Sigma windash). */
export function windash(s: string): string[] {
  const positions: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if ((s[i] === '-' || s[i] === '/') && (i === 0 || /\s/.test(s[i - 1]!))) positions.push(i);
  }
  if (positions.length === 0) return [s];
  if (positions.length > 4) throw new RuleRefusal('windash', `windash on a value with ${positions.length} options would expand to too many variants`);
  let variants = [s];
  for (const p of positions) {
    const next: string[] = [];
    for (const v of variants) for (const d of DASHES) next.push(v.slice(0, p) + d + v.slice(p + 1));
    variants = next;
  }
  return variants;
}

/** Compile one `field|modifiers: values` entry of a selection. */
export function compileFieldSpec(spec: FieldSpec, session: CompileSession): Predicate {
  let mode: MatchMode = 'equals';
  let all = false;
  let cased = false;
  let re = false;
  let cidr = false;
  let exists = false;
  let compare: string | undefined;
  const reFlags: string[] = [];
  const transforms: string[] = [];
  for (const m of spec.modifiers) {
    if (m === '') continue;
    if (MATCH_MODES.has(m)) {
      if (mode !== 'equals') throw new RuleRefusal(`modifier ${m}`, `modifiers ${mode} and ${m} cannot be combined`, spec.at);
      mode = m as MatchMode;
    } else if (m === 'all') all = true;
    else if (m === 'cased') cased = true;
    else if (m === 're') re = true;
    else if (RE_FLAGS.has(m) && re) reFlags.push(m);
    else if (m === 'cidr') cidr = true;
    else if (m === 'exists') exists = true;
    else if (COMPARE.has(m)) compare = m;
    else if (TRANSFORMS.has(m)) transforms.push(m);
    else if (m in KNOWN_BUT_UNSUPPORTED) throw new RuleRefusal(`modifier ${m}`, `unsupported modifier "${m}": ${KNOWN_BUT_UNSUPPORTED[m]}`, spec.at);
    else throw new RuleRefusal(`modifier ${m}`, `unknown modifier "${m}"`, spec.at);
  }
  const path = spec.path;
  // Sigma keywords are full-text searches: a bare keyword matches anywhere in the message.
  if (path === undefined && mode === 'equals' && !re) mode = 'contains';
  if (exists) {
    if (path === undefined) throw new RuleRefusal('modifier exists', 'exists needs a field name', spec.at);
    const want = spec.values[0];
    if (spec.values.length !== 1 || typeof want !== 'boolean') throw new RuleRefusal('modifier exists', 'exists takes true or false', spec.at);
    return (ctx) => {
      const v = ctx.get(path);
      return (v !== undefined && v !== null) === want;
    };
  }
  const slot = path === undefined ? -1 : session.slot(path);

  const merged = mergedLiterals();
  if (merged) return merged;
  const tests = spec.values.map(compileValue);
  if (tests.length === 0) throw new RuleRefusal('empty value list', 'a field with an empty list of values can never match', spec.at);
  if (tests.length === 1) return tests[0]!;
  if (all) {
    return (ctx) => {
      for (const t of tests) if (!t(ctx)) return false;
      return true;
    };
  }
  return (ctx) => {
    for (const t of tests) if (t(ctx)) return true;
    return false;
  };

  /**
   * A list of plain literals (no wildcards, case-insensitive, OR) becomes one predicate: a Set for
   * equality, one loop for startswith/endswith, one automaton lookup for contains — instead of a
   * closure per value. Rules like `a0: [mkdir, nano, touch, vi, vim]` are common.
   */
  function mergedLiterals(): Predicate | undefined {
    const vals = spec.values;
    if (vals.length < 2 || all || re || cidr || compare || cased || transforms.length || !vals.every((v) => typeof v === 'string')) return undefined;
    const lits: string[] = [];
    for (const v of vals as string[]) {
      const t = tokenize(v.toLowerCase());
      if (t.length !== 1 || !('lit' in t[0]!)) return undefined;
      lits.push(t[0].lit);
    }
    if (mode === 'contains') {
      const refs = lits.map((l) => session.containsLiteral(path ?? KEYWORDS, l));
      const a = refs[0]![0];
      const ids = Int32Array.from(refs.map((r) => r[1]));
      if (path === undefined) {
        return (ctx) => {
          const s = ctx.keywordText();
          return s !== undefined && ctx.hasAny(a, ids, s);
        };
      }
      const p = path;
      return (ctx) => {
        const v = ctx.rec[p];
        if (v === undefined || v === null) return false;
        if (typeof v === 'object') return Array.isArray(v) && v.some((x) => x !== null && typeof x !== 'object' && lits.some((l) => String(x).toLowerCase().includes(l)));
        const s = ctx.lower(slot, p)!;
        return s !== '' && ctx.hasAny(a, ids, s);
      };
    }
    let test: (s: string) => boolean;
    if (mode === 'equals') {
      const set = new Set(lits);
      test = (s) => set.has(s);
    } else if (mode === 'startswith') {
      test = (s) => {
        for (let i = 0; i < lits.length; i++) if (s.startsWith(lits[i]!)) return true;
        return false;
      };
    } else {
      test = (s) => {
        for (let i = 0; i < lits.length; i++) if (s.endsWith(lits[i]!)) return true;
        return false;
      };
    }
    if (path === undefined) {
      return (ctx) => {
        const s = ctx.keywordText();
        return s !== undefined && test(s);
      };
    }
    const p = path;
    return (ctx) => {
      const v = ctx.rec[p];
      if (v === undefined || v === null) return false;
      if (typeof v === 'object') return Array.isArray(v) && v.some((x) => x !== null && typeof x !== 'object' && test(String(x).toLowerCase()));
      return test(ctx.lower(slot, p)!);
    };
  }

  function compileValue(raw: unknown): Predicate {
    if (raw === null) {
      if (path === undefined) throw new RuleRefusal('null keyword', 'a keyword cannot be null', spec.at);
      // Sigma keeps null (field absent or null) and '' (present and empty) apart.
      return (ctx) => {
        const v = ctx.get(path);
        return v === undefined || v === null;
      };
    }
    if (typeof raw === 'object') throw new RuleRefusal('nested value', 'a value must be a string, number, boolean or null', spec.at);
    if (compare) {
      if (typeof raw !== 'number') throw new RuleRefusal(`modifier ${compare}`, `${compare} needs a number, got ${JSON.stringify(raw)}`, spec.at);
      const n = raw;
      const cmp = compare === 'lt' ? (x: number) => x < n : compare === 'lte' ? (x: number) => x <= n : compare === 'gt' ? (x: number) => x > n : (x: number) => x >= n;
      return scalar((v) => {
        const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
        return !Number.isNaN(x) && cmp(x);
      });
    }
    if (cidr) {
      const t = compileCidr(String(raw));
      if (!t) throw new RuleRefusal('modifier cidr', `invalid CIDR ${JSON.stringify(raw)}`, spec.at);
      return scalar((v) => typeof v === 'string' && t(v));
    }
    if (re) {
      // RE2 (linear time): a crafted line cannot make a rule backtrack; see regex.ts for the PCRE semantics kept.
      const r = compileSigmaRegex(String(raw), { i: reFlags.includes('i'), m: reFlags.includes('m'), s: reFlags.includes('s') }, path, spec.at);
      return scalar((v) => (typeof v === 'string' || typeof v === 'number' ? r.test(String(v)) : false));
    }
    if (typeof raw !== 'string' && mode === 'equals' && transforms.length === 0) {
      const want = String(raw).toLowerCase();
      return scalar((v) => v !== null && v !== undefined && typeof v !== 'object' && String(v).toLowerCase() === want);
    }
    let variants = [String(raw)];
    for (const t of transforms) {
      if (t === 'windash') variants = variants.flatMap(windash);
      // base64 output is case-significant and has no wildcards of its own.
      else if (t === 'base64') variants = variants.map((v) => escapeWildcards(base64(v)));
      else variants = variants.flatMap((v) => base64Offsets(v).map(escapeWildcards));
    }
    const caseSensitive = cased || transforms.some((t) => t.startsWith('base64'));
    const preds = variants.map((v) => stringPredicate(v, caseSensitive));
    if (preds.length === 1) return preds[0]!;
    return (ctx) => {
      for (const p of preds) if (p(ctx)) return true;
      return false;
    };
  }

  /** One string pattern on the field; case-insensitive `contains` of a plain literal goes through the automaton. */
  function stringPredicate(pattern: string, caseSensitive: boolean): Predicate {
    const tokens = tokenize(caseSensitive ? pattern : pattern.toLowerCase());
    const plainLiteral = tokens.length === 1 && 'lit' in tokens[0]! ? tokens[0].lit : undefined;
    if (!caseSensitive && mode === 'contains' && plainLiteral !== undefined) {
      const [a, id] = session.containsLiteral(path ?? KEYWORDS, plainLiteral);
      const lit = plainLiteral;
      if (path === undefined) {
        return (ctx) => {
          const s = ctx.keywordText();
          return s !== undefined && ctx.has(a, id, s);
        };
      }
      const p = path;
      return (ctx) => {
        const v = ctx.rec[p];
        if (v === undefined || v === null) return false;
        if (typeof v === 'object') return Array.isArray(v) && v.some((x) => x !== null && typeof x !== 'object' && String(x).toLowerCase().includes(lit));
        // An empty value is never scanned: keywords then read another field through the same automaton.
        const s = ctx.lower(slot, p)!;
        return s !== '' && ctx.has(a, id, s);
      };
    }
    const test: StringTest = compileWildcard(pattern, mode, caseSensitive);
    if (path === undefined) {
      if (caseSensitive) {
        return (ctx) => {
          const kp = ctx.keywordPath();
          return kp !== undefined && test(String(ctx.get(kp)));
        };
      }
      return (ctx) => {
        const s = ctx.keywordText();
        return s !== undefined && test(s);
      };
    }
    const p = path;
    return (ctx) => {
      const v = ctx.rec[p];
      if (v === undefined || v === null) return false;
      if (typeof v === 'object') return Array.isArray(v) && v.some((x) => x !== null && typeof x !== 'object' && test(caseSensitive ? String(x) : String(x).toLowerCase()));
      return test(caseSensitive ? String(v) : ctx.lower(slot, p)!);
    };
  }

  function scalar(test: (v: unknown) => boolean): Predicate {
    if (path === undefined) {
      return (ctx) => {
        const kp = ctx.keywordPath();
        return kp !== undefined && test(ctx.get(kp));
      };
    }
    const p = path;
    return (ctx) => {
      const v = ctx.get(p);
      if (Array.isArray(v)) return v.some(test);
      return test(v);
    };
  }
}
