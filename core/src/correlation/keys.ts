import type { FabricEvent } from '../plugin-api/events.js';
import { isDetection } from '../events/ecs.js';
import { compileRules, targetsOf, type RuleInput } from './compiled-rule.js';
import type { CorrelationRule } from './rule.js';
import { groupKey, keptValue, WindowState } from './window-state.js';

/** A detection's place in one correlation rule: the rule's key and the detection's group-by key. */
export interface CorrelationKey {
  rule: string;
  key: string;
}

function missing(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
}

/**
 * Which correlation groups a detection counts in, computed as the engine does (same rule inputs,
 * same group-by readers, same key), without any window state. Cluster mode re-keys each detection
 * by these keys so the instance that owns a key sees every detection of it (Kafka Streams'
 * re-partitioning). Chained rules (a correlation rule counting another's alerts) are not listed:
 * they are evaluated where the upstream rule's alert fires.
 */
export class CorrelationKeys {
  private readonly inputs: ReadonlyMap<string, RuleInput[]>;

  constructor(rules: readonly CorrelationRule[]) {
    // The tables are never used: compileRules wants one per rule.
    const tables = new WindowState({ maxKeys: 1, maxEventsPerKey: 1, ordered: false, evicted: () => {}, droppedMembers: () => {} });
    this.inputs = compileRules(rules, () => tables.table()).inputs;
  }

  /** The event time a detection moves its collector to (as the engine reads it), or undefined. */
  static detectionTime(e: FabricEvent): number | undefined {
    if (!isDetection(e)) return undefined;
    const matches = (e.fabric as { matches?: unknown } | undefined)?.matches;
    if (!Array.isArray(matches) || matches.length === 0) return undefined;
    const t = Date.parse(e['@timestamp']);
    return Number.isNaN(t) ? undefined : t;
  }

  /** The groups `e` counts in (none for an event no rule references, or without its group-by values). */
  of(e: FabricEvent): CorrelationKey[] {
    const matches = (e.fabric as { matches?: unknown } | undefined)?.matches;
    if (!Array.isArray(matches)) return [];
    const targets = targetsOf(this.inputs, matches as Array<{ id?: unknown; name?: unknown } | null>);
    if (!targets) return [];
    const out: CorrelationKey[] = [];
    for (const { rule, ref } of targets) {
      const fields = rule.groupFields[ref]!;
      const values = new Array<unknown>(fields.length);
      let ok = true;
      for (let i = 0; i < fields.length && ok; i++) {
        const v = fields[i]!(e);
        ok = !missing(v);
        values[i] = keptValue(v);
      }
      if (!ok) continue;
      const key = groupKey(values);
      if (!out.some((k) => k.rule === rule.def.key && k.key === key)) out.push({ rule: rule.def.key, key });
    }
    return out;
  }
}
