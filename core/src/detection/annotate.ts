import type { FabricEvent } from '../plugin-api/index.js';
import type { RuleInfo } from './engine.js';
import { LEVELS, type SigmaLevel } from './sigma/rule.js';
import { LEVEL_PRIORITY, LEVEL_SEVERITY } from '../events/priority.js';
import { ECS_VERSION } from '../events/ecs.js';

export interface Match {
  id: string;
  name: string;
  title: string;
  level: SigmaLevel;
  techniques: string[];
  tactics: string[];
}

/**
 * A rule match as ECS has it (docs/events.md): `event.kind: "alert"` (ECS keeps `signal` for
 * Elastic's own engine), the numeric `event.severity`, and only ECS fields under `rule` (the Sigma
 * title is ECS `rule.name`). What ECS has no field for — the Sigma level and name, every rule that
 * matched — lives under `fabric.*`. The highest-level rule wins rule/severity/priority.
 */
export function annotateDetection<E extends Record<string, unknown>>(event: E, rules: RuleInfo[]): E {
  let top = rules[0]!;
  for (const r of rules) if (LEVELS.indexOf(r.level) > LEVELS.indexOf(top.level)) top = r;
  const techniques = [...new Set(rules.flatMap((r) => r.techniques))];
  const tactics = [...new Set(rules.flatMap((r) => r.tactics))];
  const ev = event as unknown as FabricEvent;
  const doc = ev as Record<string, unknown>;
  ev.event = { ...(ev.event ?? {}), kind: 'alert', severity: LEVEL_SEVERITY[top.level] } as FabricEvent['event'];
  doc.ecs = { ...(doc.ecs as object | undefined), version: ECS_VERSION };
  doc.rule = {
    id: top.id,
    name: top.title,
    description: top.description,
    ruleset: 'sigma',
    ...(top.author ? { author: [top.author] } : {}),
    ...(top.references.length > 0 ? { reference: top.references } : {}),
  };
  doc.threat = {
    ...(doc.threat as object | undefined),
    framework: 'MITRE ATT&CK',
    technique: { id: techniques },
    tactic: { name: tactics },
  };
  const matches: Match[] = rules.map((r) => ({ id: r.id, name: r.name, title: r.title, level: r.level, techniques: r.techniques, tactics: r.tactics }));
  ev.fabric = {
    ...(ev.fabric ?? {}),
    alert_type: 'detection',
    rule: { name: top.name, level: top.level },
    priority: LEVEL_PRIORITY[top.level],
    matches,
  } as FabricEvent['fabric'];
  return event;
}
