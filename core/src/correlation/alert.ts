import { createHash } from 'node:crypto';
import { setField, type FabricEvent } from '../plugin-api/events.js';
import { EVENT_SCHEMA_VERSION } from '../events/schema-version.js';
import { ECS_VERSION } from '../events/ecs.js';
import type { AttackMapping } from '../detection/sigma/attack.js';
import { describeCondition, type CorrelationRule, type SigmaLevel } from './rule.js';
import { groupValues, type Group } from './window-state.js';
import { LEVEL_PRIORITY, LEVEL_SEVERITY } from '../events/priority.js';

/** A rule without a level still marks an incident: more than one detection agreeing is worth a look. */
const DEFAULT_LEVEL: SigmaLevel = 'medium';

/**
 * Deterministic: the same rule, group and window always give the same id, so a re-delivered
 * or re-computed alert is recognisable downstream and by the stage's own dedupe.
 */
export function alertId(ruleKey: string, groupKey: string, windowStart: number): string {
  const h = createHash('sha256').update(`${ruleKey}\u0000${groupKey}\u0000${windowStart}`).digest('hex');
  return `corr-${h.slice(0, 32)}`;
}

interface AlertInput {
  id: string;
  rule: CorrelationRule;
  attack: AttackMapping;
  /** Group-by field (or alias) → value. */
  groupBy: Array<[string, unknown]>;
  /** Fields each alias resolves to, to decide which values are addresses or users. */
  aliasFields: Record<string, string[]>;
  windowStart: number;
  windowEnd: number;
  firstSeen: number;
  lastSeen: number;
  /** Member detections in the window when it fired. */
  count: number;
  memberIds: string[];
  collectors: string[];
  /** value_count: distinct values counted; temporal: distinct rules matched. */
  measure: number;
  distinctValues?: string[];
  now: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One `fabric.correlation.group_by` entry. A list of {field, value} rather than an object keyed by
 * field: every rule groups by other fields, and an object would add one Elasticsearch mapping per
 * field name ever used (a mapping explosion) and clash when one rule groups `source.ip` as an
 * address and another as text. The value is text (JSON for a non-string), so one keyword mapping
 * holds them all.
 */
export interface GroupByValue {
  field: string;
  value: string;
}

function groupValueText(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
}

function isIpField(f: string): boolean {
  return f === 'ip' || f.endsWith('.ip') || f === 'related.ip';
}
function isUserField(f: string): boolean {
  return f === 'user.name' || f.endsWith('.user.name') || f === 'related.user' || f === 'user';
}

function addValue(out: string[], v: unknown): void {
  for (const x of Array.isArray(v) ? v : [v]) {
    if ((typeof x === 'string' && x !== '') || typeof x === 'number') {
      const s = String(x);
      if (!out.includes(s)) out.push(s);
    }
  }
}

/**
 * The alert of a window that fired: detections [i, end) of the group, the window anchored at the
 * first for the rule's timespan. `lastSeen` is the newest detection's time: a chained rule counts
 * the alert then, when its condition became true in event time.
 */
export function windowAlert(
  g: Group,
  i: number,
  end: number,
  w: { id: string; measure: number; count: number; now: number },
  maxMembers: number,
): { alert: FabricEvent; lastSeen: number } {
  const rule = g.rule;
  const ms = g.members;
  const values = groupValues(g);
  const start = ms[i]!.t;
  let last = start;
  const ids: string[] = [];
  const collectors: string[] = [];
  const distinct = rule.def.type === 'value_count' ? new Set<string>() : undefined;
  for (let k = i; k < end; k++) {
    const m = ms[k]!;
    if (m.t > last) last = m.t;
    ids.push(m.id);
    if (!collectors.includes(m.c) && m.c) collectors.push(m.c);
    distinct?.add(String(m.v));
  }
  const alert = buildAlert(
    {
      id: w.id,
      rule: rule.def,
      attack: rule.attack,
      groupBy: rule.def.groupBy.map((f, k) => [f, values[k]] as [string, unknown]),
      aliasFields: rule.aliasFields,
      windowStart: start,
      windowEnd: start + rule.def.timespanMs,
      firstSeen: start,
      lastSeen: last,
      count: w.count,
      memberIds: ids,
      collectors,
      measure: w.measure,
      ...(distinct ? { distinctValues: [...distinct] } : {}),
      now: w.now,
    },
    maxMembers,
  );
  return { alert, lastSeen: last };
}

function buildAlert(a: AlertInput, maxMembers: number): FabricEvent {
  const level = a.rule.level ?? DEFAULT_LEVEL;
  const r = a.rule;
  const groupBy: GroupByValue[] = [];
  const relatedIp: string[] = [];
  const relatedUser: string[] = [];
  for (const [field, value] of a.groupBy) {
    groupBy.push({ field, value: groupValueText(value) });
    const resolved = a.aliasFields[field] ?? [field];
    if (resolved.some(isIpField)) addValue(relatedIp, value);
    if (resolved.some(isUserField)) addValue(relatedUser, value);
  }
  if (r.type === 'value_count' && r.field && a.distinctValues) {
    const resolved = a.aliasFields[r.field] ?? [r.field];
    if (resolved.some(isIpField)) for (const v of a.distinctValues.slice(0, maxMembers)) addValue(relatedIp, v);
    if (resolved.some(isUserField)) for (const v of a.distinctValues.slice(0, maxMembers)) addValue(relatedUser, v);
  }
  const members = a.memberIds.slice(0, maxMembers);
  const groupText = a.groupBy.length ? a.groupBy.map(([f, v]) => `${f}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ') : 'all events';
  const measureText =
    r.type === 'value_count'
      ? `${a.measure} distinct ${r.field} over ${a.count} detections`
      : r.type === 'event_count'
        ? `${a.count} detections`
        : `${a.measure} of ${r.rules.length} rules in ${r.type === 'temporal_ordered' ? 'order' : 'any order'}`;

  const alert: Record<string, unknown> = {
    '@timestamp': iso(a.lastSeen),
    message: `${r.title}: ${measureText} for ${groupText} within ${r.timespan} (${iso(a.firstSeen)} – ${iso(a.lastSeen)})`,
    ecs: { version: ECS_VERSION },
    event: {
      id: a.id,
      kind: 'alert',
      category: ['intrusion_detection'],
      type: ['indicator'],
      module: 'correlation',
      dataset: 'fabric.correlation',
      severity: LEVEL_SEVERITY[level],
      start: iso(a.firstSeen),
      end: iso(a.lastSeen),
      created: iso(a.now),
    },
    rule: {
      id: r.id ?? r.key,
      name: r.title,
      ...(r.description ? { description: r.description } : {}),
      ruleset: 'sigma-correlation',
      category: r.type,
    },
    threat: {
      framework: 'MITRE ATT&CK',
      technique: { id: [...a.attack.techniques] },
      tactic: { id: a.attack.tactics.map((t) => t.id), name: a.attack.tactics.map((t) => t.name) },
    },
    // ECS related.* has only ip, user, hosts and hash: the member ids are fabric.correlation.members.
    ...(relatedIp.length || relatedUser.length ? { related: { ...(relatedIp.length ? { ip: relatedIp } : {}), ...(relatedUser.length ? { user: relatedUser } : {}) } } : {}),
    fabric: {
      collector: 'correlation',
      plugin: '@reactive-fabric/core',
      fingerprint: a.id,
      alert_type: 'correlation',
      rule: { name: r.name ?? r.key, level },
      priority: LEVEL_PRIORITY[level],
      schema_version: EVENT_SCHEMA_VERSION,
      matches: [
        {
          id: r.id ?? r.key,
          name: r.name ?? r.key,
          title: r.title,
          level,
          techniques: [...a.attack.techniques],
          tactics: a.attack.tactics.map((t) => t.name),
        },
      ],
      correlation: {
        id: a.id,
        rule: { id: r.id ?? r.key, ...(r.name ? { name: r.name } : {}), title: r.title, type: r.type },
        group_by: groupBy,
        timespan: r.timespan,
        condition: describeCondition(r.condition),
        window: { start: iso(a.windowStart), end: iso(a.windowEnd) },
        first_seen: iso(a.firstSeen),
        last_seen: iso(a.lastSeen),
        count: a.count,
        ...(r.type === 'value_count' ? { value_count: a.measure, field: r.field } : {}),
        ...(r.type === 'temporal' || r.type === 'temporal_ordered' ? { rules_matched: a.measure } : {}),
        members,
        ...(a.memberIds.length > members.length ? { members_truncated: true } : {}),
        collectors: a.collectors,
      },
    },
  };
  // Group-by values at their own ECS paths, so enrichers (source.ip reputation...) and routing treat the alert like any detection.
  for (const [field, value] of a.groupBy) {
    if (!(field in r.aliases) && !field.startsWith('@') && field !== 'message' && !/^(ecs|event|fabric|rule|threat|related)(\.|$)/.test(field)) {
      setField(alert, field, value);
    }
  }
  return alert as unknown as FabricEvent;
}

/** Link a detection to an alert it belongs to (`fabric.correlation.ids`), once per alert. */
export function annotateEvent(ev: FabricEvent, correlationId: string): void {
  const fabric = ev.fabric as Record<string, unknown>;
  const existing = fabric.correlation;
  // The usual case (a detection linked to one alert) in one allocation with its final shape.
  if (existing === undefined) {
    fabric.correlation = { ids: [correlationId] };
    return;
  }
  const corr = (existing && typeof existing === 'object' ? existing : (fabric.correlation = {})) as { ids?: unknown };
  // A source can send fabric.correlation itself: anything but a list of ids is replaced, never trusted
  // (a string there made push() throw, and the whole batch went uncorrelated).
  if (!Array.isArray(corr.ids)) corr.ids = [];
  const ids = corr.ids as string[];
  if (!ids.includes(correlationId)) ids.push(correlationId);
}
