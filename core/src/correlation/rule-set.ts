import { CorrelationRuleError, formatProblem, type CorrelationRuleProblem } from './rule-problem.js';
import type { CorrelationRule } from './rule.js';

/**
 * Cross-rule checks: unique ids and names, no reference cycles between correlation rules,
 * and (when the detection rule set is known) every reference resolves.
 */
export function checkRuleSet(rules: CorrelationRule[], detectionRules?: ReadonlyArray<{ id?: string; name?: string }>): CorrelationRuleProblem[] {
  const problems: CorrelationRuleProblem[] = [];
  const byRef = new Map<string, CorrelationRule>();
  const where = (r: CorrelationRule) => {
    const [file, doc] = splitSource(r.source);
    return { file, document: doc, rule: r.key };
  };
  for (const r of rules) {
    for (const ref of [r.id, r.name]) {
      if (ref === undefined) continue;
      const other = byRef.get(ref);
      if (other && other !== r)
        problems.push({ ...where(r), field: ref === r.id ? 'id' : 'name', message: `"${ref}" is already used by the rule in ${other.source}; ids and names must be unique` });
      else byRef.set(ref, r);
    }
  }
  const known = detectionRules ? new Set(detectionRules.flatMap((d) => [d.id, d.name].filter((x): x is string => !!x))) : undefined;
  for (const r of rules) {
    for (const ref of r.rules) {
      if (!byRef.has(ref) && known && !known.has(ref)) {
        problems.push({ ...where(r), field: 'correlation.rules', message: `"${ref}" matches no detection rule and no correlation rule (check the name or id)` });
      }
    }
  }
  // A chained rule reads its group-by from the upstream alert, which carries only the upstream's own
  // group-by values: anything else would be missing on every alert and the chain could never fire.
  for (const r of rules) {
    for (const ref of r.rules) {
      const upstream = byRef.get(ref);
      if (!upstream) continue;
      const carried = upstream.groupBy.filter((f) => !(f in upstream.aliases));
      for (const g of r.groupBy) {
        const field = r.aliases[g]?.[ref] ?? g;
        if (!carried.includes(field)) {
          problems.push({
            ...where(r),
            field: 'correlation.group-by',
            message: `groups by "${field}" for "${ref}", but that correlation rule's alerts only carry its own group-by fields (${carried.join(', ') || 'none'}); group both by the same field`,
          });
        }
      }
      if (r.type === 'value_count' && r.field) {
        const field = r.aliases[r.field]?.[ref] ?? r.field;
        if (!carried.includes(field)) {
          problems.push({
            ...where(r),
            field: 'correlation.condition.field',
            message: `counts "${field}" of "${ref}" alerts, which only carry ${carried.join(', ') || 'no fields'}`,
          });
        }
      }
    }
  }
  // Depth-first search for cycles among correlation→correlation references.
  const state = new Map<CorrelationRule, 'visiting' | 'done'>();
  const visit = (r: CorrelationRule, trail: CorrelationRule[]): void => {
    if (state.get(r) === 'done') return;
    if (state.get(r) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(r)), r].map((x) => x.key).join(' → ');
      problems.push({ ...where(r), field: 'correlation.rules', message: `correlation rules reference each other in a cycle (${cycle}); a chain must end at detection rules` });
      return;
    }
    state.set(r, 'visiting');
    for (const ref of r.rules) {
      const target = byRef.get(ref);
      if (target) visit(target, [...trail, r]);
    }
    state.set(r, 'done');
  };
  for (const r of rules) visit(r, []);
  return dedupeProblems(problems);
}

function dedupeProblems(problems: CorrelationRuleProblem[]): CorrelationRuleProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = formatProblem(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function splitSource(source: string): [string, number | undefined] {
  const i = source.lastIndexOf('#');
  return i < 0 ? [source, undefined] : [source.slice(0, i), Number(source.slice(i + 1))];
}

/**
 * Drop `disabled` rules (by id or name). Refuses an entry that matches nothing (a typo would
 * silently leave the rule on) and a rule left referencing a disabled correlation rule.
 */
export function withoutDisabled(rules: CorrelationRule[], disabled: readonly string[], configLabel = 'correlation.disabled'): CorrelationRule[] {
  if (disabled.length === 0) return rules;
  const problems: CorrelationRuleProblem[] = [];
  const off = new Set<CorrelationRule>();
  for (const entry of disabled) {
    const hits = rules.filter((r) => r.id === entry || r.name === entry);
    if (hits.length === 0) {
      problems.push({ file: configLabel, message: `"${entry}" matches no correlation rule; known: ${rules.map((r) => r.name ?? r.id).join(', ')}` });
    }
    for (const h of hits) off.add(h);
  }
  const kept = rules.filter((r) => !off.has(r));
  for (const r of kept) {
    for (const ref of r.rules) {
      // A rule kept under the same name (a replacement for a built-in) still answers the reference.
      const target = [...off].find((o) => o.id === ref || o.name === ref);
      if (target && !kept.some((k) => k.id === ref || k.name === ref)) {
        const [file, document] = splitSource(r.source);
        problems.push({
          file,
          document,
          rule: r.key,
          field: 'correlation.rules',
          message: `references "${ref}", which ${configLabel} turns off; disable this rule too or keep "${ref}"`,
        });
      }
    }
  }
  if (problems.length > 0) throw new CorrelationRuleError(problems);
  return kept;
}
