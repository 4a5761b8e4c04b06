import { validateAgainstSchema } from '@reactive-fabric/core/runtime';
import type { TSchema } from '@reactive-fabric/core';

export interface FieldError {
  path: string;
  message: string;
  value?: unknown;
}

/** A config the schema must refuse, and the JSON pointer of the field the error must name. */
export interface InvalidConfigCase {
  /** What is wrong, for the test name, e.g. "port out of range". */
  name?: string;
  config: unknown;
  /** JSON pointer the error must point at (or under), e.g. "/api_key" or "/tls/ca". */
  path: string;
}

/** Validate with core's own validator (defaults applied first), as the host does. */
export function validateConfig(schema: TSchema, candidate: unknown): { value: unknown; errors: FieldError[] } {
  return validateAgainstSchema(schema, candidate);
}

const UNKNOWN_FIELD = 'rf_conformance_unknown_field';

/**
 * Bad configs derived from the schema and a valid config: an unknown field, each required field
 * removed, each simply-typed field given a value of the wrong type. They must all be refused.
 */
export function derivedInvalidConfigs(schema: TSchema, validConfig: unknown): InvalidConfigCase[] {
  const base = (validConfig ?? {}) as Record<string, unknown>;
  const s = schema as unknown as Record<string, unknown>;
  const props = (s.properties ?? {}) as Record<string, Record<string, unknown>>;
  const cases: InvalidConfigCase[] = [];
  if (s.additionalProperties === false) {
    cases.push({ name: `unknown field "${UNKNOWN_FIELD}"`, config: { ...base, [UNKNOWN_FIELD]: true }, path: `/${UNKNOWN_FIELD}` });
  }
  const required = Array.isArray(s.required) ? (s.required as string[]) : [];
  for (const key of required) {
    if (props[key] && 'default' in props[key]!) continue;
    const { [key]: _removed, ...rest } = base;
    cases.push({ name: `required field "${key}" missing`, config: rest, path: `/${key}` });
  }
  for (const [key, fieldSchema] of Object.entries(props)) {
    const wrong = wrongValueFor(fieldSchema);
    if (wrong === NO_WRONG_VALUE) continue;
    cases.push({ name: `field "${key}" given ${JSON.stringify(wrong)}`, config: { ...base, [key]: wrong }, path: `/${key}` });
  }
  return cases;
}

const NO_WRONG_VALUE = Symbol('none');

function wrongValueFor(schema: Record<string, unknown>): unknown {
  if ('const' in schema || Array.isArray(schema.enum)) return 'rf-not-a-valid-choice';
  const alternatives = (schema.anyOf ?? schema.oneOf) as Array<Record<string, unknown>> | undefined;
  if (Array.isArray(alternatives) && alternatives.length > 0 && alternatives.every((a) => 'const' in a)) return 'rf-not-a-valid-choice';
  switch (schema.type) {
    case 'string':
      return 12345;
    case 'number':
    case 'integer':
      return 'not-a-number';
    case 'boolean':
      return 'yes';
    case 'array':
      return 'not-an-array';
    case 'object':
      return 'not-an-object';
    default:
      return NO_WRONG_VALUE;
  }
}

/** Problems if `errors` does not contain an error at (or under) `path` with a message. */
export function checkErrorAtPath(errors: readonly FieldError[], path: string): string[] {
  const hit = errors.find((e) => e.path === path || e.path.startsWith(`${path}/`));
  if (!hit) {
    return [`expected an error at ${path}, got ${errors.length === 0 ? 'no errors (the config was accepted)' : errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`];
  }
  if (typeof hit.message !== 'string' || hit.message.trim() === '') return [`the error at ${hit.path} has no message`];
  return [];
}
