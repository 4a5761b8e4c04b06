import type { DetectionConfig } from './config.js';
import { ruleKey, type SigmaRule } from './sigma/rule.js';

export interface Selection {
  rules: SigmaRule[];
  /** Human-readable notes: overrides applied, unknown names in disabled_rules/overrides. */
  warnings: string[];
  replaced: string[];
}

/**
 * Apply user intent to loaded rules: a later rule with a built-in's name or id replaces it,
 * `disabled_rules` removes, `overrides` changes level or tags.
 */
export function selectRules(loaded: SigmaRule[], cfg: Pick<DetectionConfig, 'disabled_rules' | 'overrides'>): Selection {
  const warnings: string[] = [];
  const replaced: string[] = [];
  const byKey = new Map<string, SigmaRule>();
  // Indexes over byKey's rules, so a replacement is found without scanning every earlier rule
  // (thousands of SigmaHQ rules made this quadratic); `seq` keeps the first-inserted-wins order.
  const byName = new Map<string, Set<SigmaRule>>();
  const byId = new Map<string, Set<SigmaRule>>();
  const seq = new Map<SigmaRule, number>();
  let n = 0;
  const index = (m: Map<string, Set<SigmaRule>>, k: string | undefined, r: SigmaRule, add: boolean) => {
    if (k === undefined) return;
    let set = m.get(k);
    if (!set) m.set(k, (set = new Set()));
    if (add) set.add(r);
    else set.delete(r);
  };
  const remove = (r: SigmaRule) => {
    index(byName, r.name, r, false);
    index(byId, r.id, r, false);
  };
  for (const r of loaded) {
    let prev: SigmaRule | undefined;
    for (const c of [...(r.name !== undefined ? (byName.get(r.name) ?? []) : []), ...(byId.get(r.id) ?? [])]) {
      if (!prev || seq.get(c)! < seq.get(prev)!) prev = c;
    }
    if (prev) {
      byKey.delete(ruleKey(prev));
      remove(prev);
      replaced.push(`${ruleKey(prev)} (${prev.file}) replaced by ${r.file}`);
    }
    const key = ruleKey(r);
    const over = byKey.get(key);
    if (over) remove(over);
    byKey.set(key, r);
    seq.set(r, over ? seq.get(over)! : n++);
    index(byName, r.name, r, true);
    index(byId, r.id, r, true);
  }
  const known = (k: string) => [...byKey.values()].some((r) => r.name === k || r.id === k);
  const disabled = new Set(cfg.disabled_rules ?? []);
  for (const d of disabled) if (!known(d)) warnings.push(`detection.disabled_rules: no rule named or with id "${d}"`);
  const overrides = cfg.overrides ?? {};
  for (const k of Object.keys(overrides)) if (!known(k)) warnings.push(`detection.overrides: no rule named or with id "${k}"`);
  const rules: SigmaRule[] = [];
  for (const r of byKey.values()) {
    if (disabled.has(r.id) || (r.name !== undefined && disabled.has(r.name))) continue;
    const o = overrides[r.name ?? ''] ?? overrides[r.id];
    rules.push(o ? { ...r, ...(o.level ? { level: o.level } : {}), ...(o.tags ? { tags: o.tags } : {}) } : r);
  }
  return { rules, warnings, replaced };
}
