import { redactDeep } from '../logging.js';
import { redactSecretFields } from './validate.js';

/** What a secret reads as wherever the host shows config: a Secret() field whole, a registered secret inside any string. */
export const REDACTED = '[redacted]';

/**
 * A config block as the admin API shows it: Secret() fields of `schema` and registered secret
 * values replaced. Without a schema (a plugin whose import failed: which fields are secret is not
 * known) every string is replaced.
 */
export function redactedConfig(schema: unknown, value: unknown): unknown {
  return schema === undefined ? redactStrings(value) : redactDeep(redactSecretFields(schema, value));
}

function redactStrings(value: unknown): unknown {
  if (typeof value === 'string') return REDACTED;
  if (Array.isArray(value)) return value.map(redactStrings);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: redactStrings(v), enumerable: true, writable: true, configurable: true });
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * `sent` with every value that still reads as it was shown redacted (`shown`, from
 * redactedConfig of `stored`) replaced by the stored value. A client that GETs a config, changes
 * one field and PUTs it back keeps its secrets without typing them again; a field it changed is
 * taken as sent.
 */
export function keepRedacted(sent: unknown, stored: unknown, shown: unknown): unknown {
  if (typeof sent === 'string') return sent.includes(REDACTED) && sent === shown ? stored : sent;
  if (Array.isArray(sent)) return Array.isArray(stored) && Array.isArray(shown) ? sent.map((v, i) => keepRedacted(v, stored[i], shown[i])) : sent;
  if (!isRecord(sent) || !isRecord(stored) || !isRecord(shown)) return sent;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sent)) {
    const kept = Object.hasOwn(stored, k) && Object.hasOwn(shown, k) ? keepRedacted(v, stored[k], shown[k]) : v;
    // A "__proto__" key from a request body stays a plain key.
    Object.defineProperty(out, k, { value: kept, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
