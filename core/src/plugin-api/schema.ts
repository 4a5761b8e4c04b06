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

/**
 * The longest delay a Node.js timer holds. `setTimeout` turns anything longer into 1 ms (with a
 * TimeoutOverflowWarning), so "wait a month" would become a busy loop.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A delay a timer can hold: at most MAX_TIMER_MS, never negative or NaN. Delays that come from
 * outside (a Retry-After, a config value times a factor, a timeout a plugin passes to the HTTP
 * toolkit) pass through here, so a huge one waits its longest instead of firing at once.
 */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
}

const UNIT_MS = { ms: 1, seconds: 1000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

/**
 * Options for a config field that a timer waits on (an interval, a timeout, a backoff), given in
 * `unit`: its `maximum` is what a timer can hold (about 24.8 days), and a value past it is refused
 * with that reason. Spread it into the field's options:
 * `Type.Integer({ minimum: 1, default: 30, ...timerLimit('seconds') })`.
 */
export function timerLimit(unit: DurationUnit): DurationLimit {
  return durationLimit(MAX_TIMER_MS, unit, 'a timer cannot wait longer than about 24.8 days');
}

/** A century: longer than any log store or feed keeps, short enough that date arithmetic stays valid. */
export const MAX_SPAN_MS = 100 * 365.25 * 86_400_000;

/**
 * Options for a config field that is a span of time compared with clocks and event times (a
 * look-back, an overlap, a TTL, a lateness), given in `unit`: at most a century, so a value meant
 * in another unit is refused at `fabric validate` instead of failing every poll with "Invalid time
 * value" or never expiring.
 */
export function spanLimit(unit: DurationUnit): DurationLimit {
  return durationLimit(MAX_SPAN_MS, unit, 'longer than a century: check the unit');
}

/** `x-limit` is the reason config validation prints after "must be <= maximum". */
export type DurationLimit = { maximum: number; 'x-limit': string };
function durationLimit(maxMs: number, unit: DurationUnit, reason: string): DurationLimit {
  return { maximum: Math.floor(maxMs / UNIT_MS[unit]), 'x-limit': reason };
}
