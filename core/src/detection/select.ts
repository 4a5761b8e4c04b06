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
  for (const r of loaded) {
    const prev = [...byKey.values()].find((p) => (r.name !== undefined && p.name === r.name) || p.id === r.id);
    if (prev) {
      byKey.delete(ruleKey(prev));
      replaced.push(`${ruleKey(prev)} (${prev.file}) replaced by ${r.file}`);
    }
    byKey.set(ruleKey(r), r);
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
