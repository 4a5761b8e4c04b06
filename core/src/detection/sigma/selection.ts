import type { CompileSession, EvalContext } from './context.js';
import { RuleRefusal } from './errors.js';
import { compileFieldSpec, type Predicate } from './values.js';

/** Sigma field name → event field path, for one logsource. */
export type FieldMapper = (sigmaField: string) => string;

export const identityMapper: FieldMapper = (f) => f;

function compileMap(map: Record<string, unknown>, mapField: FieldMapper, at: (string | number)[], session: CompileSession): Predicate {
  const entries = Object.entries(map);
  if (entries.length === 0) throw new RuleRefusal('empty selection', 'a selection map with no fields', at);
  const preds = entries.map(([key, value]) => {
    const [field, ...modifiers] = key.split('|');
    const values = Array.isArray(value) ? value : [value];
    return compileFieldSpec({
      path: field === '' ? undefined : mapField(field!),
      modifiers: modifiers.map((m) => m.toLowerCase()),
      values,
      at: [...at, key],
    }, session);
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
    return compileFieldSpec({ path: undefined, modifiers: [], values: value, at }, session);
  }
  if (typeof value === 'object') return compileMap(value as Record<string, unknown>, mapField, at, session);
  return compileFieldSpec({ path: undefined, modifiers: [], values: [value], at }, session);
}
