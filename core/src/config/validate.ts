import { Value } from 'typebox/value';
import { Settings } from 'typebox/system';
import type { TSchema } from 'typebox';
import type { FieldError } from '../host.js';
import { isSecretSchema } from '../plugin-api/schema.js';
import { allowedValues } from './suggest.js';

/**
 * Most errors collected from one document. TypeBox stops at 8 by default, so one bad enum value
 * (which alone yields one error per allowed value) used to hide every other problem; this bound
 * only keeps a hostile file from making us build millions of messages.
 */
export const MAX_FIELD_ERRORS = 1000;

type Schema = Record<string, unknown>;

/**
 * Validate a candidate config against a JSON Schema (TypeBox), applying defaults first.
 * Every problem is reported in one pass. Unions are reported by the branch the value selects: a
 * discriminated union (e.g. the sink's `type`) reports only that branch's errors, or the allowed
 * values when the discriminator matches none; a union of literals reports the allowed values once.
 * Errors carry the JSON pointer of the field, a message and the offending value, with secret
 * fields' values withheld (also when they sit inside a reported object).
 */
export function validateAgainstSchema(schema: TSchema, candidate: unknown): { value: unknown; errors: FieldError[] } {
  const cloned = candidate === undefined ? {} : structuredClone(candidate);
  // TypeBox's Value.Default only knows TypeBox-built schemas; plugins may ship plain JSON Schema.
  const value = applyDefaults(schema, Value.Default(schema, cloned));
  const errors = collectErrors(schema as unknown as Schema, value, '');
  return { value, errors: dedupe(errors).slice(0, MAX_FIELD_ERRORS) };
}

interface RawError {
  keyword: string;
  instancePath: string;
  message: string;
  params: Record<string, unknown>;
}

function rawErrors(schema: Schema, value: unknown): RawError[] {
  const previous = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: MAX_FIELD_ERRORS });
  try {
    return [...Value.Errors(schema as unknown as TSchema, value)] as unknown as RawError[];
  } finally {
    Settings.Set({ maxErrors: previous });
  }
}

function within(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

function collectErrors(schema: Schema, value: unknown, base: string): FieldError[] {
  const raw = rawErrors(schema, value);
  // Outermost unions first: everything under a union is re-validated against the branch it selects.
  const unions = [...new Set(raw.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath))].sort((a, b) => a.length - b.length);
  const handled: string[] = [];
  const out: FieldError[] = [];
  for (const p of unions) {
    if (handled.some((h) => within(p, h))) continue;
    const union = schemaAt(schema, p) as Schema | undefined;
    if (!union || !(Array.isArray(union.anyOf) || Array.isArray(union.oneOf))) continue;
    handled.push(p);
    out.push(...unionErrors(union, pointerGet(value, p), `${base}${p}`));
  }
  for (const e of raw) {
    if (handled.some((h) => within(e.instancePath, h))) continue;
    const params = e.params ?? {};
    if (e.keyword === 'boolean' && e.message === 'schema is false') continue; // reported as additionalProperties below
    if (e.keyword === 'additionalProperties' && Array.isArray(params.additionalProperties)) {
      for (const key of params.additionalProperties as string[]) {
        out.push({ path: `${base}${e.instancePath}/${escapePointer(key)}`, message: `unknown field "${key}": remove it or check its spelling` });
      }
      continue;
    }
    if (e.keyword === 'required' && Array.isArray(params.requiredProperties)) {
      for (const key of params.requiredProperties as string[]) {
        out.push({ path: `${base}${e.instancePath}/${escapePointer(key)}`, message: `required field "${key}" is missing` });
      }
      continue;
    }
    const fieldSchema = schemaAt(schema, e.instancePath);
    const enumValues = (fieldSchema as Schema | undefined)?.enum;
    if (e.keyword === 'enum' && Array.isArray(enumValues)) {
      // A plain JSON Schema enum (plugins may ship one): the allowed values, not "must be equal to one of the allowed values".
      const got = pointerGet(value, e.instancePath);
      out.push({ path: `${base}${e.instancePath}` || '/', message: allowedValues(enumValues, got), value: redactSecretFields(fieldSchema, got) });
      continue;
    }
    // A limit that is not a taste (timerLimit, spanLimit): say why, so nobody raises it by trial and error.
    const why = e.keyword === 'maximum' ? (fieldSchema as Schema | undefined)?.['x-limit'] : undefined;
    const message = typeof why === 'string' ? `${e.message}: ${why}` : e.message;
    out.push({ path: `${base}${e.instancePath}` || '/', message, value: redactSecretFields(fieldSchema, pointerGet(value, e.instancePath)) });
  }
  return out;
}

function branchesOf(union: Schema): Schema[] {
  return ((union.anyOf ?? union.oneOf) as Schema[]).flatMap((b) => (Array.isArray(b.anyOf) || Array.isArray(b.oneOf) ? branchesOf(b) : [b]));
}

function constOf(schema: Schema | undefined): { has: boolean; value?: unknown } {
  if (schema && 'const' in schema) return { has: true, value: schema.const };
  if (schema && Array.isArray(schema.enum) && schema.enum.length === 1) return { has: true, value: schema.enum[0] };
  return { has: false };
}

/** The key whose constant value tells the branches of an object union apart (e.g. `type`), if any. */
export function discriminator(branches: Schema[]): string | undefined {
  const first = branches[0]?.properties as Record<string, Schema> | undefined;
  if (!first || branches.length < 2) return undefined;
  for (const key of Object.keys(first)) {
    const values = branches.map((b) => constOf((b.properties as Record<string, Schema> | undefined)?.[key]));
    if (values.every((v) => v.has) && new Set(values.map((v) => JSON.stringify(v.value))).size === values.length) return key;
  }
  return undefined;
}

/** The branch of a discriminated union that `value` names, when it names one. */
export function selectBranch(union: Schema, value: unknown): Schema | undefined {
  const branches = branchesOf(union);
  const key = discriminator(branches);
  if (key === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = (value as Record<string, unknown>)[key];
  return branches.find((b) => constOf((b.properties as Record<string, Schema>)[key]).value === v);
}

function unionErrors(union: Schema, value: unknown, path: string): FieldError[] {
  const branches = branchesOf(union);
  const consts = branches.map(constOf);
  if (consts.every((c) => c.has)) {
    return [
      {
        path: path || '/',
        message: allowedValues(
          consts.map((c) => c.value),
          value,
        ),
        value,
      },
    ];
  }
  const key = discriminator(branches);
  if (key !== undefined && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const allowed = branches.map((b) => constOf((b.properties as Record<string, Schema>)[key]).value);
    const v = (value as Record<string, unknown>)[key];
    const branch = selectBranch(union, value);
    if (!branch) {
      return v === undefined
        ? [{ path: `${path}/${escapePointer(key)}`, message: `required field "${key}" is missing: it ${allowedValues(allowed, undefined)}` }]
        : [{ path: `${path}/${escapePointer(key)}`, message: `unknown ${key} ${JSON.stringify(v)}: it ${allowedValues(allowed, v)}`, value: v }];
    }
    // The union's own default pass only fills a branch the value already satisfies: fill the selected one.
    const filled = applyDefaults(branch, Value.Default(branch as unknown as TSchema, structuredClone(value)));
    return collectErrors(branch, filled, path);
  }
  // No discriminator: report the branch the value comes closest to.
  let best: FieldError[] | undefined;
  for (const b of branches) {
    const errs = collectErrors(b, applyDefaults(b, Value.Default(b as unknown as TSchema, structuredClone(value))), path);
    if (best === undefined || errs.length < best.length) best = errs;
  }
  return best ?? [];
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A copy of `value` with every string at a Secret() field of `schema` replaced by "[redacted]". */
export function redactSecretFields(schema: unknown, value: unknown): unknown {
  const s = schema as Schema | undefined;
  if (!s || value === null || value === undefined) return value;
  if (isSecretSchema(s)) return '[redacted]';
  if (typeof value !== 'object') return value;
  if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const chosen = selectBranch(s, value);
    const candidates = chosen ? [chosen] : branchesOf(s);
    let out: unknown = value;
    for (const b of candidates) out = redactSecretFields(b, out);
    return out;
  }
  if (Array.isArray(value)) return s.items ? value.map((v) => redactSecretFields(s.items, v)) : value;
  const props = (s.properties ?? {}) as Record<string, unknown>;
  const extra = additionalSchema(s);
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactSecretFields(Object.hasOwn(props, k) ? props[k] : extra, v);
  return { ...out };
}

function additionalSchema(s: Schema): unknown {
  if (s.additionalProperties && typeof s.additionalProperties === 'object') return s.additionalProperties;
  const pattern = s.patternProperties as Record<string, unknown> | undefined;
  if (pattern) return Object.values(pattern)[0];
  return undefined;
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.path}\u0000${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function pointerGet(value: unknown, pointer: string): unknown {
  if (!pointer) return value;
  let cur: unknown = value;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * Best-effort walk of a schema along a JSON pointer: object properties, records, array items, and
 * — when the document is given — the branch a discriminated union selects (e.g. `sink.type`).
 */
export function schemaAt(schema: unknown, pointer: string, document?: unknown): unknown {
  let cur = schema as Schema | undefined;
  let walked = '';
  for (const raw of pointer.split('/').slice(1)) {
    if (!cur) return undefined;
    if ((Array.isArray(cur.anyOf) || Array.isArray(cur.oneOf)) && document !== undefined) cur = selectBranch(cur, pointerGet(document, walked));
    if (!cur) return undefined;
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const props = cur.properties as Record<string, unknown> | undefined;
    if (props && Object.hasOwn(props, key)) cur = props[key] as Schema;
    else if (cur.items && typeof cur.items === 'object' && /^\d+$/.test(key)) cur = cur.items as Schema;
    else if (additionalSchema(cur)) cur = additionalSchema(cur) as Schema;
    else return undefined;
    walked += `/${raw}`;
  }
  if (cur && (Array.isArray(cur.anyOf) || Array.isArray(cur.oneOf)) && document !== undefined) return selectBranch(cur, pointerGet(document, walked)) ?? cur;
  return cur;
}

/** Collect every value in `config` that sits at a Secret() field of `schema`. */
export function secretValues(schema: unknown, config: unknown, out: string[] = []): string[] {
  const s = schema as Schema | undefined;
  if (!s || config === null || config === undefined) return out;
  if (isSecretSchema(s) && typeof config === 'string' && config.length > 0) {
    out.push(config);
    return out;
  }
  if (typeof config === 'object') {
    const props = s.properties as Record<string, unknown> | undefined;
    if (props && !Array.isArray(config)) {
      for (const [k, v] of Object.entries(config as Record<string, unknown>)) if (Object.hasOwn(props, k)) secretValues(props[k], v, out);
    } else if (Array.isArray(config) && s.items) {
      for (const v of config) secretValues(s.items, v, out);
    }
    for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
      const alts = s[key];
      if (Array.isArray(alts)) for (const alt of alts) secretValues(alt, config, out);
    }
  }
  return out;
}

/** Fill `default`s of a plain JSON Schema (object properties, array items), without overwriting. */
export function applyDefaults(schema: unknown, input: unknown): unknown {
  const s = schema as Schema | undefined;
  if (!s || typeof s !== 'object') return input;
  // A default object gets its own properties' defaults too (tls: {} → tls: { verify: true }):
  // TypeBox's Value.Default does that only for schemas that still carry its hidden ~kind.
  const value = input === undefined && 'default' in s ? structuredClone(s.default) : input;
  if (value && typeof value === 'object' && !Array.isArray(value) && s.properties && typeof s.properties === 'object') {
    const obj = value as Record<string, unknown>;
    for (const [key, sub] of Object.entries(s.properties as Record<string, unknown>)) {
      const next = applyDefaults(sub, obj[key]);
      if (next !== undefined) obj[key] = next;
    }
  }
  if (Array.isArray(value) && s.items && typeof s.items === 'object') return value.map((v) => applyDefaults(s.items, v));
  return value;
}
