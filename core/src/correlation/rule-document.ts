import { createHash } from 'node:crypto';
import type { CorrelationRuleProblem } from './rule-problem.js';
import {
  CONDITION_OPERATORS,
  CORRELATION_TYPES,
  SIGMA_LEVELS,
  type ConditionOperator,
  type CorrelationRule,
  type CorrelationType,
  type CountCondition,
  type SigmaLevel,
} from './rule.js';

const UNSUPPORTED_TYPES: Record<string, string> = {
  value_sum: 'value_sum (Sigma correlation 2.1) is not supported by this engine; use value_count or event_count',
  value_avg: 'value_avg (Sigma correlation 2.1) is not supported by this engine; use value_count or event_count',
  value_percentile: 'value_percentile (Sigma correlation 2.1) is not supported by this engine; use value_count or event_count',
  value_median: 'value_median (Sigma correlation 2.1) is not supported by this engine; use value_count or event_count',
};

const CORRELATION_KEYS = new Set(['type', 'rules', 'group-by', 'timespan', 'condition', 'aliases', 'generate']);
const TIMESPAN_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseTimespan(value: unknown): number | string {
  if (typeof value !== 'string') return `must be a string such as "5m" (number + s, m, h or d), got ${JSON.stringify(value)}`;
  const m = /^([0-9]+)([smhd])$/.exec(value);
  if (!m) return `"${value}" is not a Sigma timespan: write a number followed by s, m, h or d in lowercase (e.g. 30s, 5m, 90m, 1d)`;
  const n = Number(m[1]);
  if (n <= 0) return `"${value}" must be longer than zero`;
  return n * TIMESPAN_UNITS[m[2]!]!;
}

function asStringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0)) return value as string[];
  return undefined;
}

function ruleLabel(doc: Record<string, unknown>): string | undefined {
  for (const k of ['id', 'name', 'title']) if (typeof doc[k] === 'string' && doc[k]) return doc[k] as string;
  return undefined;
}

function fingerprint(r: Omit<CorrelationRule, 'fingerprint' | 'source' | 'title' | 'description' | 'tags' | 'level' | 'generate'>): string {
  const material = JSON.stringify([r.type, r.rules, r.groupBy, r.timespanMs, r.condition, r.field ?? null, r.aliases]);
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}

/** Validate one YAML document as a correlation rule. Returns the rule or the reasons it is refused. */
export function validateCorrelationDocument(doc: unknown, file: string, document: number): { rule?: CorrelationRule; problems: CorrelationRuleProblem[] } {
  const problems: CorrelationRuleProblem[] = [];
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { problems: [{ file, document, message: 'a Sigma correlation rule must be a YAML mapping (title, correlation, ...)' }] };
  }
  const d = doc as Record<string, unknown>;
  const label = ruleLabel(d);
  const refuse = (field: string | undefined, message: string) => problems.push({ file, document, ...(label ? { rule: label } : {}), ...(field ? { field } : {}), message });

  if ('detection' in d || 'logsource' in d) {
    refuse(
      'detection',
      'this is a detection rule, not a correlation rule: put it in a detection rules folder (detection section of the config); correlation rules reference it by name or id',
    );
    return { problems };
  }
  if ('action' in d) {
    refuse('action', `Sigma v1 "action: ${String(d.action)}" documents are not supported; write each correlation as its own document with a correlation section`);
    return { problems };
  }
  if (!('correlation' in d)) {
    refuse('correlation', 'missing: a correlation rule needs a correlation section (type, rules, group-by, timespan, condition)');
    return { problems };
  }

  const title = d.title;
  if (typeof title !== 'string' || title.trim() === '') refuse('title', 'required: a short title of what the correlation detects');
  else if (title.length > 256) refuse('title', `is ${title.length} characters; Sigma allows at most 256`);

  const id = d.id;
  if (id !== undefined && (typeof id !== 'string' || id === '')) refuse('id', `must be a non-empty string (a UUID is recommended), got ${JSON.stringify(id)}`);
  const name = d.name;
  if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name))) {
    refuse('name', `must be a word of letters, digits, _ . - (it is how other correlation rules reference this one), got ${JSON.stringify(name)}`);
  }
  if (id === undefined && name === undefined) refuse('id', 'give the rule an id (UUID) or a name: its alerts, checkpointed state and `disabled` entries need a stable identity');

  const description = d.description;
  if (description !== undefined && typeof description !== 'string') refuse('description', 'must be a string');

  let level: SigmaLevel | undefined;
  if (d.level !== undefined) {
    if (typeof d.level === 'string' && (SIGMA_LEVELS as readonly string[]).includes(d.level)) level = d.level as SigmaLevel;
    else refuse('level', `${JSON.stringify(d.level)} is not a Sigma level; use one of ${SIGMA_LEVELS.join(', ')}`);
  }
  let tags: string[] = [];
  if (d.tags !== undefined) {
    const t = asStringList(d.tags);
    if (!t || typeof d.tags === 'string') refuse('tags', 'must be a list of strings such as attack.t1110.001');
    else tags = t;
  }

  const c = d.correlation;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) {
    refuse('correlation', 'must be a mapping with type, rules, group-by, timespan and condition');
    return { problems };
  }
  const corr = c as Record<string, unknown>;
  for (const k of Object.keys(corr)) {
    if (k === 'timeframe') refuse('correlation.timeframe', 'renamed in Sigma correlation v2: use timespan');
    else if (k === 'ordered') refuse('correlation.ordered', 'not a Sigma v2 attribute: use type: temporal_ordered');
    else if (k === 'field') refuse('correlation.field', 'belongs inside condition (condition.field), for value_count only');
    else if (!CORRELATION_KEYS.has(k)) refuse(`correlation.${k}`, `unknown attribute; a correlation section has ${[...CORRELATION_KEYS].join(', ')}`);
  }

  let type: CorrelationType | undefined;
  const rawType = corr.type;
  if (typeof rawType === 'string' && (CORRELATION_TYPES as readonly string[]).includes(rawType)) type = rawType as CorrelationType;
  else if (typeof rawType === 'string' && UNSUPPORTED_TYPES[rawType]) refuse('correlation.type', UNSUPPORTED_TYPES[rawType]!);
  else refuse('correlation.type', `${rawType === undefined ? 'missing' : JSON.stringify(rawType) + ' is not supported'}; use one of ${CORRELATION_TYPES.join(', ')}`);

  const rules = asStringList(corr.rules);
  if (!rules || rules.length === 0) refuse('correlation.rules', 'required: the names or ids of the Sigma rules (or correlation rules) whose matches are correlated');
  else {
    const seen = new Set<string>();
    for (const r of rules) {
      if (seen.has(r)) refuse('correlation.rules', `"${r}" is listed twice`);
      seen.add(r);
    }
    if ((type === 'temporal' || type === 'temporal_ordered') && rules.length < 2) {
      refuse('correlation.rules', `${type} needs at least two rules (it correlates different detections); for one rule use event_count`);
    }
    if (name !== undefined && rules.includes(String(name))) refuse('correlation.rules', 'a rule cannot reference itself');
    if (id !== undefined && rules.includes(String(id))) refuse('correlation.rules', 'a rule cannot reference itself');
  }

  let groupBy: string[] = [];
  if (corr['group-by'] !== undefined) {
    const g = asStringList(corr['group-by']);
    if (!g) refuse('correlation.group-by', `must be a list of field names (e.g. [source.ip]), got ${JSON.stringify(corr['group-by'])}`);
    else groupBy = g;
  }

  let timespanMs = 0;
  const ts = parseTimespan(corr.timespan);
  if (corr.timespan === undefined) refuse('correlation.timespan', 'required: the time window, e.g. 5m');
  else if (typeof ts === 'string') refuse('correlation.timespan', ts);
  else timespanMs = ts;

  const condition: CountCondition = {};
  let field: string | undefined;
  const rawCond = corr.condition;
  if (rawCond === undefined) {
    if (type === 'event_count' || type === 'value_count') refuse('correlation.condition', `required for ${type}: e.g. condition: { gte: 10 }`);
  } else if (rawCond === null || typeof rawCond !== 'object' || Array.isArray(rawCond)) {
    refuse('correlation.condition', `must be a mapping such as { gte: 10 }, got ${JSON.stringify(rawCond)}`);
  } else {
    for (const [k, v] of Object.entries(rawCond as Record<string, unknown>)) {
      if (k === 'field') {
        if (typeof v !== 'string' || v === '') refuse('correlation.condition.field', `must be a field name, got ${JSON.stringify(v)}`);
        else field = v;
      } else if ((CONDITION_OPERATORS as readonly string[]).includes(k)) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) refuse(`correlation.condition.${k}`, `must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
        else condition[k as ConditionOperator] = v;
      } else {
        refuse(`correlation.condition.${k}`, `unknown operator; use ${CONDITION_OPERATORS.join(', ')}${type === 'value_count' ? ' and field' : ''}`);
      }
    }
    if (Object.keys(condition).length === 0 && problems.every((p) => !p.field?.startsWith('correlation.condition.'))) {
      refuse('correlation.condition', `needs at least one of ${CONDITION_OPERATORS.join(', ')}`);
    }
  }
  if (type === 'value_count' && rawCond !== undefined && field === undefined && !problems.some((p) => p.field === 'correlation.condition.field')) {
    refuse('correlation.condition.field', 'required for value_count: the field whose distinct values are counted (e.g. field: user.name)');
  }
  if (type !== undefined && type !== 'value_count' && field !== undefined) refuse('correlation.condition.field', `only value_count counts a field; ${type} does not take one`);
  if (type === 'temporal' && rules && Object.keys(condition).length > 0) {
    for (const op of CONDITION_OPERATORS) {
      const v = condition[op];
      if (v !== undefined && v > rules.length)
        refuse(`correlation.condition.${op}`, `${v} is more than the ${rules.length} rules referenced: temporal counts distinct rules that matched`);
    }
  }
  if (type === 'temporal_ordered' && rules && Object.keys(condition).length > 0) {
    const full = (condition.gte === rules.length || condition.eq === rules.length) && Object.keys(condition).length === 1;
    if (!full) refuse('correlation.condition', `temporal_ordered matches the whole sequence of ${rules.length} rules in order; remove the condition (or use gte: ${rules.length})`);
  }
  if (type === 'temporal' && Object.keys(condition).length === 0 && rules) condition.gte = rules.length;
  if (type === 'temporal_ordered' && rules) {
    for (const k of Object.keys(condition)) delete condition[k as ConditionOperator];
    condition.gte = rules.length;
  }

  const aliases: Record<string, Record<string, string>> = {};
  if (corr.aliases !== undefined) {
    const a = corr.aliases;
    if (a === null || typeof a !== 'object' || Array.isArray(a)) refuse('correlation.aliases', 'must map alias → { referenced rule name: field }');
    else {
      for (const [alias, mapping] of Object.entries(a as Record<string, unknown>)) {
        if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) {
          refuse(`correlation.aliases.${alias}`, 'must map each referenced rule name to the field holding this value in its events');
          continue;
        }
        const m: Record<string, string> = {};
        for (const [ref, f] of Object.entries(mapping as Record<string, unknown>)) {
          if (rules && !rules.includes(ref)) refuse(`correlation.aliases.${alias}.${ref}`, `"${ref}" is not one of the referenced rules (${rules.join(', ')})`);
          else if (typeof f !== 'string' || f === '') refuse(`correlation.aliases.${alias}.${ref}`, `must be a field name, got ${JSON.stringify(f)}`);
          else m[ref] = f;
        }
        for (const ref of rules ?? []) {
          if (!(ref in (mapping as Record<string, unknown>))) refuse(`correlation.aliases.${alias}`, `has no field for referenced rule "${ref}": every referenced rule needs one`);
        }
        aliases[alias] = m;
      }
    }
  }

  let generate = false;
  const generates = [d.generate, corr.generate].filter((g) => g !== undefined);
  for (const g of generates) if (typeof g !== 'boolean') refuse('generate', `must be true or false, got ${JSON.stringify(g)}`);
  if (generates.length === 2 && generates[0] !== generates[1]) refuse('generate', 'set both at the top level and in correlation with different values; keep one');
  if (generates.length > 0 && typeof generates[0] === 'boolean') generate = generates[0];

  if (problems.length > 0 || !type || !rules) return { problems };
  const base = {
    key: (id as string | undefined) ?? (name as string),
    ...(id !== undefined ? { id: id as string } : {}),
    ...(name !== undefined ? { name: name as string } : {}),
    type,
    rules,
    groupBy,
    timespan: corr.timespan as string,
    timespanMs,
    condition,
    ...(field !== undefined ? { field } : {}),
    aliases,
  };
  const rule: CorrelationRule = {
    ...base,
    title: title as string,
    ...(description !== undefined ? { description: description as string } : {}),
    ...(level ? { level } : {}),
    tags,
    generate,
    source: `${file}#${document}`,
    fingerprint: fingerprint(base),
  };
  return { rule, problems };
}
