import type { FabricEvent } from '../plugin-api/index.js';
import type { RuleInfo } from './engine.js';
import { LEVELS, type SigmaLevel } from './sigma/rule.js';
import { LEVEL_PRIORITY, LEVEL_SEVERITY } from '../events/priority.js';

export interface Match {
  id: string;
  name: string;
  title: string;
  level: SigmaLevel;
  techniques: string[];
  tactics: string[];
}

/** The highest-level rule wins rule/severity/priority; every match is listed in fabric.matches. */
export function annotateSignal<E extends Record<string, unknown>>(event: E, rules: RuleInfo[]): E {
  let top = rules[0]!;
  for (const r of rules) if (LEVELS.indexOf(r.level) > LEVELS.indexOf(top.level)) top = r;
  const techniques = [...new Set(rules.flatMap((r) => r.techniques))];
  const tactics = [...new Set(rules.flatMap((r) => r.tactics))];
  const ev = event as unknown as FabricEvent;
  ev.event = { ...(ev.event ?? {}), kind: 'signal', severity: LEVEL_SEVERITY[top.level] } as FabricEvent['event'];
  (ev as Record<string, unknown>).rule = { id: top.id, name: top.name, description: top.description, level: top.level };
  (ev as Record<string, unknown>).threat = {
    ...((ev as Record<string, unknown>).threat as object | undefined),
    framework: 'MITRE ATT&CK',
    technique: { id: techniques },
    tactic: { name: tactics },
  };
  const matches: Match[] = rules.map((r) => ({ id: r.id, name: r.name, title: r.title, level: r.level, techniques: r.techniques, tactics: r.tactics }));
  ev.fabric = { ...(ev.fabric ?? {}), priority: LEVEL_PRIORITY[top.level], matches } as FabricEvent['fabric'];
  return event;
}
