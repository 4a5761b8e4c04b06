import Type from 'typebox';
import type { TSchema, TString, Static } from 'typebox';

export { Type };
export type { TSchema, Static };

/**
 * A secret config field (API key, password, token). The host redacts it from every description,
 * log line, error and API response. Write `${ENV_VAR}` in the YAML to keep it out of the file.
 */
export function Secret(options: { description?: string; minLength?: number } = {}): TString {
  return Type.String({ minLength: 1, ...options, writeOnly: true, 'x-secret': true });
}

/** True for schemas built with `Secret()`. */
export function isSecretSchema(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && (schema as Record<string, unknown>)['x-secret'] === true;
}
