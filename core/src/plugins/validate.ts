import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import type { FieldError } from '../host.js';
import { isSecretSchema } from '../plugin-api/schema.js';

/**
 * Validate a candidate config against a JSON Schema (TypeBox), applying defaults first.
 * Errors carry the JSON pointer of the field, a message and the offending value, with
 * secret fields' values withheld.
 */
export function validateAgainstSchema(schema: TSchema, candidate: unknown): { value: unknown; errors: FieldError[] } {
  const cloned = candidate === undefined ? {} : structuredClone(candidate);
  // TypeBox's Value.Default only knows TypeBox-built schemas; plugins may ship plain JSON Schema.
  const value = applyDefaults(schema, Value.Default(schema, cloned));
  const errors: FieldError[] = [];
  for (const e of Value.Errors(schema, value)) {
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'boolean' && e.message === 'schema is false') continue; // reported as additionalProperties below
    if (e.keyword === 'additionalProperties' && Array.isArray(params.additionalProperties)) {
      for (const key of params.additionalProperties as string[]) {
        errors.push({ path: `${e.instancePath}/${key}`, message: `unknown field "${key}": remove it or check its spelling` });
      }
      continue;
    }
    if (e.keyword === 'required' && Array.isArray(params.requiredProperties)) {
      for (const key of params.requiredProperties as string[]) {
        errors.push({ path: `${e.instancePath}/${key}`, message: `required field "${key}" is missing` });
      }
      continue;
    }
    const fieldSchema = schemaAt(schema, e.instancePath);
    const raw = pointerGet(value, e.instancePath);
    errors.push({
      path: e.instancePath || '/',
      message: e.message,
      ...(isSecretSchema(fieldSchema) ? { value: '[redacted]' } : { value: raw }),
    });
  }
  return { value, errors: dedupe(errors) };
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
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Best-effort walk of an object schema along a JSON pointer (properties and array items). */
export function schemaAt(schema: unknown, pointer: string): unknown {
  let cur = schema as Record<string, unknown> | undefined;
  for (const raw of pointer.split('/').slice(1)) {
    if (!cur) return undefined;
    const props = cur.properties as Record<string, unknown> | undefined;
    if (props && raw in props) cur = props[raw] as Record<string, unknown>;
    else if (cur.items) cur = cur.items as Record<string, unknown>;
    else return undefined;
  }
  return cur;
}

/** Collect every value in `config` that sits at a Secret() field of `schema`. */
export function secretValues(schema: unknown, config: unknown, out: string[] = []): string[] {
  const s = schema as Record<string, unknown> | undefined;
  if (!s || config === null || config === undefined) return out;
  if (isSecretSchema(s) && typeof config === 'string' && config.length > 0) {
    out.push(config);
    return out;
  }
  if (typeof config === 'object') {
    const props = s.properties as Record<string, unknown> | undefined;
    if (props && !Array.isArray(config)) {
      for (const [k, v] of Object.entries(config as Record<string, unknown>)) if (props[k]) secretValues(props[k], v, out);
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
export function applyDefaults(schema: unknown, value: unknown): unknown {
  const s = schema as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object') return value;
  if (value === undefined && 'default' in s) return structuredClone(s.default);
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
