import { attackFromTags } from './attack.js';
import { compileCondition, parseCondition, type ConditionNode } from './condition.js';
import type { CompileSession, EvalContext } from './context.js';
import { RuleRefusal } from './errors.js';
import type { LogsourceResolver, SigmaLogsource } from './logsource.js';
import { compileSelection } from './selection.js';
import { compilePrefilter, type Prefilter } from './prefilter.js';
import type { Predicate } from './values.js';

export type { SigmaLevel } from '../../events/priority.js';
import type { SigmaLevel } from '../../events/priority.js';
export const LEVELS: readonly SigmaLevel[] = ['informational', 'low', 'medium', 'high', 'critical'];

/** A loaded rule as plain data: what the loader produces and what workers receive. */
export interface SigmaRule {
  file: string;
  title: string;
  id: string;
  name?: string;
  description?: string;
  status?: string;
  author?: string;
  references?: string[];
  level: SigmaLevel;
  tags: string[];
  logsource: SigmaLogsource;
  detection: Record<string, unknown>;
  /** True for the rules shipped in core/rules. */
  builtin: boolean;
}

export interface CompiledRule {
  index: number;
  id: string;
  /** The Sigma `name` when set, else the id: what correlation rules and `disabled_rules` refer to. */
  name: string;
  title: string;
  description: string;
  /** ECS rule.author / rule.reference of the events it matches. */
  author: string | undefined;
  references: string[];
  level: SigmaLevel;
  techniques: string[];
  tactics: string[];
  gate: Predicate | undefined;
  gateKey: string;
  match: (ctx: EvalContext) => boolean;
  /** Cheap necessary condition checked before `match`; undefined when none could be derived. */
  prefilter: Prefilter | undefined;
}

export function ruleKey(rule: Pick<SigmaRule, 'name' | 'id'>): string {
  return rule.name ?? rule.id;
}

/** What a detection says about its rule (ECS rule.*, ATT&CK), without compiling it: the engine and `fabric scan` share it. */
export type RuleDescription = Omit<CompiledRule, 'gate' | 'gateKey' | 'match' | 'prefilter'>;

export function describeRule(rule: SigmaRule, index: number): RuleDescription {
  const { techniques, tactics } = attackFromTags(rule.tags);
  return {
    index,
    id: rule.id,
    name: ruleKey(rule),
    title: rule.title,
    description: rule.description ?? rule.title,
    author: rule.author,
    references: rule.references ?? [],
    level: rule.level,
    techniques,
    tactics,
  };
}

/** Parse the condition(s) of a detection block; a list of conditions is their OR. */
export function parseDetection(detection: Record<string, unknown>): ConditionNode {
  if (detection.timeframe !== undefined) {
    throw new RuleRefusal('timeframe', 'timeframe belongs to correlation rules; write a correlation rule instead', ['detection', 'timeframe']);
  }
  const identifiers = Object.keys(detection).filter((k) => k !== 'condition');
  const cond = detection.condition;
  if (cond === undefined) throw new RuleRefusal('condition', 'detection has no condition', ['detection']);
  const conds = Array.isArray(cond) ? cond : [cond];
  if (conds.length === 0 || conds.some((c) => typeof c !== 'string')) {
    throw new RuleRefusal('condition', 'condition must be a string or a list of strings', ['detection', 'condition']);
  }
  const nodes = (conds as string[]).map((c) => parseCondition(c, identifiers));
  return nodes.length === 1 ? nodes[0]! : { op: 'or', args: nodes };
}

export function compileRule(rule: SigmaRule, index: number, logsources: LogsourceResolver, session: CompileSession): CompiledRule {
  const ls = logsources.resolve(rule.logsource);
  const condition = parseDetection(rule.detection);
  const searches = new Map<string, Predicate>();
  for (const [name, value] of Object.entries(rule.detection)) {
    if (name === 'condition') continue;
    searches.set(name, compileSelection(value, ls.mapper, ['detection', name], session));
  }
  const match = compileCondition(condition, searches);
  const prefilter = compilePrefilter(rule.detection, condition, ls.mapper, session);
  return {
    ...describeRule(rule, index),
    gate: ls.gate,
    gateKey: ls.key,
    match,
    prefilter,
  };
}
