import type { ConditionNode } from './condition.js';
import { KEYWORDS, type CompileSession, type EvalContext } from './context.js';
import type { FieldMapper } from './selection.js';
import { tokenize } from './wildcard.js';

/**
 * A rule's necessary literals: if the rule can match, at least one of these lower-cased literals
 * occurs in the lower-cased text of its field. Derived conservatively from the detection (OR →
 * union, AND → the smallest side, NOT → unknown); the automaton scan then lets most records skip
 * most rules without evaluating a single predicate.
 */
type Necessary = Map<string, Set<string>> | null;

const size = (n: Map<string, Set<string>>) => [...n.values()].reduce((a, s) => a + s.size, 0);

function union(parts: Necessary[]): Necessary {
  const out = new Map<string, Set<string>>();
  for (const p of parts) {
    if (!p) return null;
    for (const [k, v] of p) {
      let s = out.get(k);
      if (!s) out.set(k, (s = new Set()));
      for (const x of v) s.add(x);
    }
  }
  return out;
}

function smallest(parts: Necessary[]): Necessary {
  let best: Necessary = null;
  for (const p of parts) if (p && p.size > 0 && (!best || size(p) < size(best))) best = p;
  return best;
}

const TEXT_MODS = new Set(['contains', 'startswith', 'endswith', 'cased', 'all']);

function valueLiteral(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  let best = '';
  for (const t of tokenize(v.toLowerCase())) if ('lit' in t && t.lit.length > best.length) best = t.lit;
  return best.length >= 2 ? best : null;
}

function fieldNecessary(key: string, value: unknown, mapField: FieldMapper): Necessary {
  const [field, ...mods] = key.split('|');
  const lmods = mods.map((m) => m.toLowerCase());
  if (lmods.some((m) => !TEXT_MODS.has(m))) return null;
  const path = field === '' ? KEYWORDS : mapField(field!);
  const values = Array.isArray(value) ? value : [value];
  const lits = values.map(valueLiteral);
  if (lits.length === 0) return null;
  if (lmods.includes('all')) {
    const one = lits.find((l) => l !== null);
    return one ? new Map([[path, new Set([one])]]) : null;
  }
  if (lits.some((l) => l === null)) return null;
  return new Map([[path, new Set(lits as string[])]]);
}

function selectionNecessary(value: unknown, mapField: FieldMapper): Necessary {
  if (Array.isArray(value)) {
    if (value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
      return union(value.map((m) => selectionNecessary(m, mapField)));
    }
    return fieldNecessary('', value, mapField);
  }
  if (value !== null && typeof value === 'object') {
    return smallest(Object.entries(value as Record<string, unknown>).map(([k, v]) => fieldNecessary(k, v, mapField)));
  }
  return fieldNecessary('', value, mapField);
}

function conditionNecessary(node: ConditionNode, searches: Map<string, Necessary>): Necessary {
  switch (node.op) {
    case 'id':
      return searches.get(node.name) ?? null;
    case 'not':
      return null;
    case 'and':
      return smallest(node.args.map((a) => conditionNecessary(a, searches)));
    case 'or':
      return union(node.args.map((a) => conditionNecessary(a, searches)));
  }
}

export type Prefilter = ((ctx: EvalContext) => boolean) & {
  /** Literal ids (with their automaton) whose presence can make the prefilter pass. */
  groups: { path: string; a: number; ids: Int32Array }[];
};

/** Undefined when nothing useful can be derived (the rule is then always evaluated). */
export function compilePrefilter(detection: Record<string, unknown>, condition: ConditionNode, mapField: FieldMapper, session: CompileSession): Prefilter | undefined {
  const searches = new Map<string, Necessary>();
  for (const [name, value] of Object.entries(detection)) if (name !== 'condition') searches.set(name, selectionNecessary(value, mapField));
  const nec = conditionNecessary(condition, searches);
  if (!nec || nec.size === 0) return undefined;
  const groups = [...nec].map(([path, lits]) => {
    const ids = [...lits].map((l) => session.containsLiteral(path, l));
    return { path, slot: path === KEYWORDS ? -1 : session.slot(path), a: ids[0]![0], ids: Int32Array.from(ids.map((x) => x[1])) };
  });
  const fn = (ctx: EvalContext) => {
    for (const g of groups) {
      let text: string | undefined;
      if (g.slot === -1) text = ctx.keywordText();
      else {
        const v = ctx.rec[g.path];
        if (v === undefined || v === null) continue;
        // Arrays are matched element by element; the scan of one string cannot rule them out.
        if (typeof v === 'object') return true;
        text = ctx.lower(g.slot, g.path);
        if (text === '') continue;
      }
      if (text === undefined) continue;
      if (ctx.hasAny(g.a, g.ids, text)) return true;
    }
    return false;
  };
  return Object.assign(fn, { groups });
}
