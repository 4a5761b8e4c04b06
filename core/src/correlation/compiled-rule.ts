import { getField, type FabricEvent } from '../plugin-api/events.js';
import { attackMappingFromTags } from '../detection/sigma/attack.js';
import { isMonotone, type CorrelationRule } from './rule.js';
import type { CompiledRule, CompiledRules, GroupTable, RuleInput } from './window-state.js';

export type { CompiledRule, CompiledRules, RuleInput } from './window-state.js';

/**
 * Compile the rule set: each rule gets its own group table (`table()`, called in rule order), and
 * references between correlation rules become chains (an upstream rule's alerts feed the rules
 * that reference it); references to anything else are detection rules, looked up per match.
 */
export function compileRules(defs: readonly CorrelationRule[], table: () => GroupTable): CompiledRules {
  const rules = defs.map((def) => compile(def, table()));
  const byKey = new Map<string, CompiledRule>();
  const inputs = new Map<string, RuleInput[]>();
  const byRef = new Map<string, CompiledRule>();
  for (const r of rules) {
    byKey.set(r.def.key, r);
    if (r.def.id) byRef.set(r.def.id, r);
    if (r.def.name) byRef.set(r.def.name, r);
  }
  for (const r of rules) {
    r.def.rules.forEach((ref, i) => {
      const upstream = byRef.get(ref);
      if (upstream) upstream.downstream.push({ rule: r, ref: i });
      else {
        const list = inputs.get(ref) ?? [];
        list.push({ rule: r, ref: i });
        inputs.set(ref, list);
      }
    });
  }
  for (const r of rules) r.emit = r.downstream.length === 0 || r.downstream.some((d) => d.rule.def.generate);
  return { rules, byKey, inputs };
}

/** The correlation rules (and reference positions) that count a detection with these matches, each once. */
export function targetsOf(inputs: ReadonlyMap<string, RuleInput[]>, matches: ReadonlyArray<{ id?: unknown; name?: unknown } | null>): RuleInput[] | undefined {
  let targets: RuleInput[] | undefined;
  for (const m of matches) {
    if (!m) continue;
    for (let r = 0; r < 2; r++) {
      const ref = r === 0 ? m.name : m.id;
      if (typeof ref !== 'string') continue;
      const list = inputs.get(ref);
      if (!list) continue;
      // Shared lists are never mutated: a second match builds a new array.
      if (!targets) targets = list;
      else for (const target of list) if (!targets.some((x) => x.rule === target.rule && x.ref === target.ref)) targets = [...targets, target];
    }
  }
  return targets;
}

function compile(def: CorrelationRule, groups: GroupTable): CompiledRule {
  const resolve = (field: string, ref: string) => def.aliases[field]?.[ref] ?? field;
  const aliasFields: Record<string, string[]> = {};
  for (const [alias, m] of Object.entries(def.aliases)) aliasFields[alias] = Object.values(m);
  return {
    def,
    monotone: isMonotone(def.condition),
    emit: true,
    groupFields: def.rules.map((ref) => def.groupBy.map((f) => fieldReader(resolve(f, ref)))),
    ...(def.type === 'value_count' && def.field ? { valueFields: def.rules.map((ref) => fieldReader(resolve(def.field!, ref))) } : {}),
    aliasFields,
    attack: attackMappingFromTags(def.tags),
    downstream: [],
    groups,
  };
}

/**
 * Reader of a dotted ECS field. Two-level paths (source.ip, user.name: the usual group-by fields)
 * read the nested objects directly; anything else, or an event that holds the field in another
 * shape (a literal dotted key), goes through getField, so the result is always getField's.
 */
function fieldReader(path: string): (e: FabricEvent) => unknown {
  const dot = path.indexOf('.');
  if (dot <= 0 || dot === path.length - 1 || path.indexOf('.', dot + 1) !== -1) return (e) => getField(e as unknown as Record<string, unknown>, path);
  const a = path.slice(0, dot);
  const b = path.slice(dot + 1);
  const has = Object.prototype.hasOwnProperty;
  return (e) => {
    const rec = e as unknown as Record<string, unknown>;
    if (!has.call(rec, path) && has.call(rec, a)) {
      const inner = rec[a];
      if (inner !== null && typeof inner === 'object') return has.call(inner, b) ? (inner as Record<string, unknown>)[b] : undefined;
    }
    return getField(rec, path);
  };
}
