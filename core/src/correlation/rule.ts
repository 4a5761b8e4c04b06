/** A Sigma correlation rule after validation (https://github.com/SigmaHQ/sigma-specification, correlation rules v2). */

export type CorrelationType = 'event_count' | 'value_count' | 'temporal' | 'temporal_ordered';
export const CORRELATION_TYPES: readonly CorrelationType[] = ['event_count', 'value_count', 'temporal', 'temporal_ordered'];

export type { SigmaLevel } from '../events/priority.js';
import type { SigmaLevel } from '../events/priority.js';
export const SIGMA_LEVELS: readonly SigmaLevel[] = ['informational', 'low', 'medium', 'high', 'critical'];

export type ConditionOperator = 'gt' | 'gte' | 'lt' | 'lte' | 'eq';
export const CONDITION_OPERATORS: readonly ConditionOperator[] = ['gt', 'gte', 'lt', 'lte', 'eq'];

/** Every operator present must hold (the spec's conjunction, e.g. `gt: 100, lte: 200`). */
export type CountCondition = Partial<Record<ConditionOperator, number>>;

export interface CorrelationRule {
  /** Stable identity for state, alert ids and `disabled`: the Sigma `id`, else the `name`. */
  key: string;
  id?: string;
  name?: string;
  title: string;
  description?: string;
  type: CorrelationType;
  /** References as written: Sigma rule names or ids, detection or correlation. */
  rules: string[];
  groupBy: string[];
  timespan: string;
  timespanMs: number;
  condition: CountCondition;
  /** value_count: the field whose distinct values are counted. */
  field?: string;
  /** alias → (referenced rule as written in `rules`) → field in that rule's events. */
  aliases: Record<string, Record<string, string>>;
  level?: SigmaLevel;
  tags: string[];
  /** Whether the rules this one references should also produce their own output. */
  generate: boolean;
  /** `file#document` it came from, for messages. */
  source: string;
  /** Hash of everything that affects evaluation: checkpointed state survives only an unchanged rule. */
  fingerprint: string;
}

/** Conditions that can only become true as more detections arrive are checked as each arrives; others at window close. */
export function isMonotone(condition: CountCondition): boolean {
  return condition.lt === undefined && condition.lte === undefined && condition.eq === undefined;
}

export function conditionHolds(condition: CountCondition, n: number): boolean {
  if (condition.gt !== undefined && !(n > condition.gt)) return false;
  if (condition.gte !== undefined && !(n >= condition.gte)) return false;
  if (condition.lt !== undefined && !(n < condition.lt)) return false;
  if (condition.lte !== undefined && !(n <= condition.lte)) return false;
  if (condition.eq !== undefined && n !== condition.eq) return false;
  return true;
}

export function describeCondition(condition: CountCondition): string {
  return CONDITION_OPERATORS.filter((op) => condition[op] !== undefined)
    .map((op) => `${op} ${condition[op]}`)
    .join(' and ');
}
