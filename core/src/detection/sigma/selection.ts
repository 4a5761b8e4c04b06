import { KEYWORD_VALUE, type CompileSession, type EvalContext } from './context.js';
import { RuleRefusal } from './errors.js';
import { compileFieldSpec, type Predicate } from './values.js';
import { tokenize } from './wildcard.js';

/** Sigma field name → event field path, for one logsource. */
export type FieldMapper = (sigmaField: string) => string;

export const identityMapper: FieldMapper = (f) => f;

function compileMap(map: Record<string, unknown>, mapField: FieldMapper, at: (string | number)[], session: CompileSession): Predicate {
  const entries = Object.entries(map);
  if (entries.length === 0) throw new RuleRefusal('empty selection', 'a selection map with no fields', at);
  const preds = entries.map(([key, value]) => {
    const [field, ...modifiers] = key.split('|');
    const values = Array.isArray(value) ? value : [value];
    if (field === '')
      return compileKeywords(
        modifiers.map((m) => m.toLowerCase()),
        values,
        [...at, key],
        session,
      );
    return compileFieldSpec(
      {
        path: field === '' ? undefined : mapField(field!),
        modifiers: modifiers.map((m) => m.toLowerCase()),
        values,
        at: [...at, key],
      },
      session,
    );
  });
  if (preds.length === 1) return preds[0]!;
  return (ctx: EvalContext) => {
    for (const p of preds) if (!p(ctx)) return false;
    return true;
  };
}

/**
 * A search identifier's value: a map (AND of fields), a list of maps (OR), a list of keywords (OR),
 * or a single keyword.
 */
export function compileSelection(value: unknown, mapField: FieldMapper, at: (string | number)[], session: CompileSession): Predicate {
  if (value === null || value === undefined) throw new RuleRefusal('empty selection', 'a search identifier with no value', at);
  if (Array.isArray(value)) {
    if (value.length === 0) throw new RuleRefusal('empty selection', 'an empty list never matches', at);
    const maps = value.filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
    if (maps.length === value.length) {
      const preds = value.map((m, i) => compileMap(m as Record<string, unknown>, mapField, [...at, i], session));
      return (ctx) => {
        for (const p of preds) if (p(ctx)) return true;
        return false;
      };
    }
    if (maps.length > 0 || value.some(Array.isArray)) throw new RuleRefusal('mixed selection', 'a list mixing maps and keywords', at);
    return compileKeywords([], value, at, session);
  }
  if (typeof value === 'object') return compileMap(value as Record<string, unknown>, mapField, at, session);
  return compileKeywords([], [value], at, session);
}

const MATCH_OR_TEST = new Set(['contains', 'startswith', 'endswith', 're', 'cidr', 'lt', 'lte', 'gt', 'gte']);

/**
 * Keywords (values without a field) search the whole event, as the Sigma specification says:
 * every value, the original line with its header included. Plain literals — nearly all keywords —
 * are looked up in the NUL-joined text of the event (one automaton scan per record for every
 * rule); anything else (wildcards, `cased`, `re`, `base64offset`, …) is tested against each value
 * on its own, so a pattern never matches across two fields. `|all` means every keyword occurs
 * somewhere in the event, not necessarily in the same value.
 */
function compileKeywords(modifiers: string[], values: unknown[], at: (string | number)[], session: CompileSession): Predicate {
  if (values.length === 0) throw new RuleRefusal('empty value list', 'a keyword list with no values can never match', at);
  if (modifiers.includes('exists')) throw new RuleRefusal('modifier exists', 'exists needs a field name', at);
  const all = modifiers.includes('all');
  const mods = modifiers.filter((m) => m !== 'all' && m !== '');
  const literalOnly = mods.every((m) => m === 'contains');
  const perValueMods = mods.some((m) => MATCH_OR_TEST.has(m)) ? mods : [...mods, 'contains'];
  const literals: unknown[] = [];
  const others: Predicate[] = [];
  for (const v of values) {
    if (v === null) throw new RuleRefusal('null keyword', 'a keyword cannot be null', at);
    const text = typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
    const tokens = text === undefined ? [] : tokenize(text.toLowerCase());
    if (literalOnly && tokens.length === 1 && 'lit' in tokens[0]!) literals.push(v);
    else {
      const pred = compileFieldSpec({ path: KEYWORD_VALUE, modifiers: perValueMods, values: [v], at }, session);
      others.push((ctx) => ctx.anyKeywordValue(pred));
    }
  }
  const preds = all
    ? [...literals.map((v) => compileFieldSpec({ path: undefined, modifiers: [], values: [v], at }, session)), ...others]
    : [...(literals.length ? [compileFieldSpec({ path: undefined, modifiers: [], values: literals, at }, session)] : []), ...others];
  if (preds.length === 1) return preds[0]!;
  if (all) {
    return (ctx) => {
      for (const p of preds) if (!p(ctx)) return false;
      return true;
    };
  }
  return (ctx) => {
    for (const p of preds) if (p(ctx)) return true;
    return false;
  };
}
