/**
 * The pipeline's boundary: whatever a plugin handed over (parsed from attacker-written data) is
 * copied once into plain JSON data — plain objects, arrays, strings, finite numbers, booleans,
 * null — or refused with a stable reason code. Everything after normalisation (fingerprint,
 * detection's flattening, correlation keys, enrichment, the sink's JSON.stringify) can then
 * assume bounded depth, no cycles, no accessors and no prototype tricks, so a single bad event
 * is refused on its own instead of throwing inside a stage and taking its batch with it.
 */
import { safeFieldName } from '../plugin-api/events.js';
import { codesOf } from '../errors/codes.js';

/**
 * Why an event was refused. Stable: it is the `reason` label of `fabric_events_dead_lettered_total`.
 * Each is a row of the error table (`core/src/errors/codes.ts`, area `event`), which says what it means.
 */
export const RejectCodes = codesOf('event');
export type RejectCode = (typeof RejectCodes)[keyof typeof RejectCodes];

/**
 * An event already refused where it was read (a plugin worker could not send it as JSON): it
 * travels in its batch's place and the pipeline dead-letters it with this code and reason, so
 * one bad event never holds up the others.
 */
export class RefusedEvent {
  constructor(
    readonly code: RejectCode,
    readonly reason: string,
    /** The event as its worker saw it, in describeValue's never-throwing text form (for the dead letter). */
    readonly original?: { text: string; truncated: boolean; length: number },
  ) {}
}

/**
 * `value` as a RefusedEvent, or undefined. Never throws: `instanceof` asks a Proxy for its
 * prototype, and a hostile (or revoked) Proxy throws there.
 */
export function asRefused(value: unknown): RefusedEvent | undefined {
  try {
    return value instanceof RefusedEvent ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface SanitizeLimits {
  /** Most nested objects/arrays (the event itself is depth 1). */
  maxDepth: number;
  /** Most UTF-16 code units of keys and string values, plus a few per other value. */
  maxBytes: number;
}

export const DEFAULT_SANITIZE_LIMITS: SanitizeLimits = { maxDepth: 32, maxBytes: 1_048_576 };

/**
 * What each value costs against `maxBytes`: roughly its JSON text length. One table for
 * toPlainJson and fitsAsParsedJson, which must count alike for a parsed batch to be refused
 * exactly where its copy would be.
 */
const CHARGE = {
  /** Added to a string's length: the quotes. */
  string: 2,
  number: 8,
  boolean: 5,
  null: 4,
  /** An object or array: the brackets. */
  container: 2,
  /** Each array item: the comma. */
  item: 1,
  /** Added to a field name's length: its quotes and colon. */
  field: 3,
} as const;

export type SanitizeResult = { ok: true; value: unknown } | { ok: false; code: RejectCode; reason: string };

class Refusal {
  constructor(
    readonly code: RejectCode,
    readonly reason: string,
  ) {}
}

/**
 * A deep copy of `input` with JSON.stringify's semantics (toJSON is honoured, undefined,
 * functions and symbols are left out of objects and become null in arrays, non-finite numbers
 * become null), within `limits`, never throwing. Keys named `__proto__` are renamed
 * (RENAMED_PROTO_KEY, `__proto___`), so no later assignment can reach a prototype.
 */
export function toPlainJson(input: unknown, limits: SanitizeLimits = DEFAULT_SANITIZE_LIMITS): SanitizeResult {
  let budget = limits.maxBytes;
  const ancestors: object[] = [];
  // Keys from the event down to the value being copied; made into a path only for an error.
  const trail: Array<string | number> = [];
  const where = (): string => {
    if (trail.length === 0) return 'the event';
    let out = '';
    for (const k of trail) out += typeof k === 'number' ? `[${k}]` : `${out ? '.' : ''}${k.length > 64 ? `${k.slice(0, 64)}…` : k}`;
    return out.length > 200 ? `${out.slice(0, 200)}…` : out;
  };
  const spend = (n: number): void => {
    budget -= n;
    if (budget < 0) throw new Refusal(RejectCodes.TOO_LARGE, `event is larger than pipeline.max_event_bytes (${limits.maxBytes}) at ${where()}`);
  };

  const copy = (value: unknown, key: string | number): unknown => {
    let v = value;
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
      let toJSON: unknown;
      try {
        toJSON = (v as { toJSON?: unknown }).toJSON;
      } catch (err) {
        throw new Refusal(RejectCodes.UNREADABLE, `reading ${where()}.toJSON threw: ${message(err)}`);
      }
      if (typeof toJSON === 'function') {
        try {
          v = (toJSON as (k: string) => unknown).call(v, String(key));
        } catch (err) {
          throw new Refusal(RejectCodes.UNREADABLE, `${where()}.toJSON() threw: ${message(err)}`);
        }
      }
    }
    switch (typeof v) {
      case 'string':
        spend(v.length + CHARGE.string);
        return v;
      case 'number':
        spend(CHARGE.number);
        return Number.isFinite(v) ? v : null;
      case 'boolean':
        spend(CHARGE.boolean);
        return v;
      case 'bigint':
        throw new Refusal(RejectCodes.NOT_JSON, `${where()} is a BigInt, which JSON cannot represent; emit it as a string or number`);
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
    }
    if (v === null) {
      spend(CHARGE.null);
      return null;
    }
    const obj = v as object;
    if (ancestors.includes(obj)) throw new Refusal(RejectCodes.CYCLE, `${where()} contains itself (a cycle)`);
    if (ancestors.length >= limits.maxDepth) throw new Refusal(RejectCodes.TOO_DEEP, `event is nested deeper than pipeline.max_event_depth (${limits.maxDepth}) at ${where()}`);
    ancestors.push(obj);
    try {
      if (Array.isArray(obj)) {
        const len = obj.length;
        spend(CHARGE.container);
        // Grown item by item and charged per item: a sparse array claiming length 2^32-1 is
        // refused as too large instead of looping for minutes.
        const out: unknown[] = [];
        for (let i = 0; i < len; i++) {
          spend(CHARGE.item);
          trail.push(i);
          let item: unknown;
          try {
            item = obj[i];
          } catch (err) {
            throw new Refusal(RejectCodes.UNREADABLE, `reading ${where()} threw: ${message(err)}`);
          }
          const c = copy(item, i);
          out.push(c === undefined ? null : c);
          trail.pop();
        }
        return out;
      }
      let keys: string[];
      try {
        keys = Object.keys(obj);
      } catch (err) {
        throw new Refusal(RejectCodes.UNREADABLE, `listing the fields of ${where()} threw: ${message(err)}`);
      }
      spend(CHARGE.container);
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        trail.push(k);
        let item: unknown;
        try {
          item = (obj as Record<string, unknown>)[k];
        } catch (err) {
          throw new Refusal(RejectCodes.UNREADABLE, `reading ${where()} threw: ${message(err)}`);
        }
        const c = copy(item, k);
        if (c !== undefined) {
          spend(k.length + CHARGE.field);
          out[safeFieldName(k)] = c;
        }
        trail.pop();
      }
      return out;
    } finally {
      ancestors.pop();
    }
  };

  try {
    return { ok: true, value: copy(input, '') };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, code: err.code, reason: err.reason };
    // RangeError from a pathological input we did not foresee: refuse the event, never the batch.
    return { ok: false, code: RejectCodes.UNREADABLE, reason: `event could not be copied: ${message(err)}` };
  }
}

/**
 * Event arrays this process parsed from JSON text itself (a plugin worker's batch, isolation/):
 * their events are plain JSON data already and referenced from nowhere else, so normalisation may
 * check them in place instead of copying them (fitsAsParsedJson). Only core marks an array; a
 * plugin running in-process cannot, and its events are always copied.
 */
const parsedBatches = new WeakSet<readonly unknown[]>();

export function markParsedJson(events: readonly unknown[]): void {
  parsedBatches.add(events);
}

export function isParsedJson(events: readonly unknown[]): boolean {
  return parsedBatches.has(events);
}

/**
 * Whether `value`, fresh from JSON.parse, is what toPlainJson would copy it to: within `limits`
 * (counted as toPlainJson counts them) and without a key it renames. Then the value itself can
 * stand for the copy; when not, toPlainJson gives the refusal (or the renamed copy) as always.
 * A third of toPlainJson's time on a typical event, and no copy to collect (bench/kafka).
 */
export function fitsAsParsedJson(value: unknown, limits: SanitizeLimits): boolean {
  let budget = limits.maxBytes;
  const fits = (v: unknown, depth: number): boolean => {
    switch (typeof v) {
      case 'string':
        budget -= v.length + CHARGE.string;
        return true;
      case 'number':
        budget -= CHARGE.number;
        return true;
      case 'boolean':
        budget -= CHARGE.boolean;
        return true;
      case 'object':
        break;
      default:
        return false;
    }
    if (v === null) {
      budget -= CHARGE.null;
      return true;
    }
    if (depth >= limits.maxDepth) return false;
    if (Array.isArray(v)) {
      budget -= CHARGE.container + CHARGE.item * v.length;
      for (let i = 0; i < v.length; i++) if (!fits(v[i], depth + 1)) return false;
      return budget >= 0;
    }
    budget -= CHARGE.container;
    const obj = v as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      if (safeFieldName(k) !== k) return false;
      budget -= k.length + CHARGE.field;
      if (!fits(obj[k], depth + 1)) return false;
    }
    return budget >= 0;
  };
  return fits(value, 0) && budget >= 0;
}

function message(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}

/**
 * A bounded, never-throwing text form of anything — for dead-letter records and log lines about
 * values the pipeline refused. Cycles, BigInts, throwing getters and depth past the cap are
 * written as markers instead of failing; the result is cut to `maxBytes` UTF-16 code units.
 */
export function describeValue(value: unknown, maxBytes: number, maxDepth = 64): { text: string; truncated: boolean; length: number } {
  if (typeof value === 'string') return cut(value, maxBytes);
  let budget = maxBytes + 1;
  const ancestors: object[] = [];
  const walk = (v: unknown, depth: number): unknown => {
    if (budget <= 0) return '[…]';
    try {
      if (typeof v === 'bigint') return `${v.toString()}n`;
      if (typeof v === 'string') {
        budget -= v.length;
        return v.length > maxBytes ? v.slice(0, maxBytes) : v;
      }
      if (typeof v === 'function') return '[Function]';
      if (typeof v === 'symbol') return v.toString();
      if (v === null || typeof v !== 'object') return v;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? '[Invalid Date]' : v.toISOString();
      if (ancestors.includes(v)) return '[Circular]';
      if (depth >= maxDepth) return '[Too deep]';
      ancestors.push(v);
      try {
        if (Array.isArray(v)) {
          const out: unknown[] = [];
          for (let i = 0; i < v.length && budget > 0; i++) {
            budget -= 2;
            out.push(walk(v[i], depth + 1));
          }
          return out;
        }
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v)) {
          if (budget <= 0) break;
          budget -= k.length + 3;
          let item: unknown;
          try {
            item = (v as Record<string, unknown>)[k];
          } catch (err) {
            item = `[Unreadable: ${message(err)}]`;
          }
          // Own data property, so even "__proto__" is kept as a field of the copy.
          Object.defineProperty(out, k, { value: walk(item, depth + 1), enumerable: true, writable: true, configurable: true });
        }
        return out;
      } finally {
        ancestors.pop();
      }
    } catch (err) {
      return `[Unreadable: ${message(err)}]`;
    }
  };
  let text: string;
  try {
    text = JSON.stringify(walk(value, 0)) ?? String(value);
  } catch (err) {
    text = `[unserialisable: ${message(err)}]`;
  }
  return cut(text, maxBytes);
}

function cut(text: string, maxBytes: number): { text: string; truncated: boolean; length: number } {
  return text.length > maxBytes ? { text: text.slice(0, maxBytes), truncated: true, length: text.length } : { text, truncated: false, length: text.length };
}
