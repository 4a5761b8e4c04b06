import type { FlatRecord } from './sigma/context.js';

/** Nested ECS event → dotted-path record (scalars and arrays of scalars), what rules read. */
export function flattenEvent(event: Record<string, unknown>, out: FlatRecord = {}, prefix = ''): FlatRecord {
  for (const k in event) {
    const v = event[k];
    const key = prefix + k;
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) out[key] = v;
    } else if (typeof v === 'object') flattenEvent(v as Record<string, unknown>, out, key + '.');
    else out[key] = v;
  }
  return out;
}
