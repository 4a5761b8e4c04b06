import type { FlatRecord } from './sigma/context.js';

/**
 * Past this depth nothing is flattened. Pipeline events are already cut to
 * `pipeline.max_event_depth` at normalisation; this guard is for other callers (scan, tests)
 * and keeps a hostile object from recursing the stack away.
 */
const MAX_FLATTEN_DEPTH = 64;

/** Nested ECS event → dotted-path record (scalars and arrays of scalars), what rules read. */
export function flattenEvent(event: Record<string, unknown>, out: FlatRecord = {}, prefix = ''): FlatRecord {
  walk(event, out, prefix, []);
  return out;
}

function walk(obj: Record<string, unknown>, out: FlatRecord, prefix: string, ancestors: object[]): void {
  if (ancestors.length >= MAX_FLATTEN_DEPTH || ancestors.includes(obj)) return;
  ancestors.push(obj);
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    const key = prefix + k;
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) define(out, key, v);
    } else if (typeof v === 'object') walk(v as Record<string, unknown>, out, key + '.', ancestors);
    else define(out, key, v as FlatRecord[string]);
  }
  ancestors.pop();
}

function define(out: FlatRecord, key: string, value: FlatRecord[string]): void {
  // A field literally named "__proto__" is data, not the record's prototype.
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}
