import type { FlatRecord } from './sigma/context.js';

/**
 * Past this depth nothing is flattened. Pipeline events are already cut to
 * `pipeline.max_event_depth` at normalisation; this guard is for other callers (scan, tests)
 * and keeps a hostile object from recursing the stack away.
 */
const MAX_FLATTEN_DEPTH = 64;

/**
 * Dotted paths remembered, all prefixes together. Keys are written by whoever wrote the event, so
 * the cache is bounded: once full (a flood of made-up field names fills it), new paths are built
 * per event as they were before there was a cache; nothing is evicted, nothing grows.
 */
const MAX_CACHED_PATHS = 4096;
/** Keys longer than this are not remembered (a field name that long is not one every event has). */
const MAX_CACHED_KEY = 64;

/**
 * The dotted paths under one prefix. Every pipeline event has the same few dozen fields, so their
 * paths ("source.ip") are built once and reused instead of concatenated for every event: on the
 * pipeline's thread flattening took 9% of the time (bench/kafka, pipeline with an instant sink).
 */
class PathPrefix {
  private static cached = 0;
  private readonly paths = new Map<string, string>();
  private readonly children = new Map<string, PathPrefix>();

  /** `remember`: false for a prefix a caller passed in, whose paths are not kept past the call. */
  constructor(
    readonly prefix: string,
    private readonly remember: boolean,
  ) {}

  private keeps(key: string): boolean {
    if (!this.remember || key.length > MAX_CACHED_KEY || PathPrefix.cached >= MAX_CACHED_PATHS) return false;
    PathPrefix.cached++;
    return true;
  }

  /** `prefix + key`. */
  path(key: string): string {
    const known = this.paths.get(key);
    if (known !== undefined) return known;
    const p = this.prefix + key;
    if (this.keeps(key)) this.paths.set(key, p);
    return p;
  }

  /** The prefix of the fields under `key`. */
  child(key: string): PathPrefix {
    const known = this.children.get(key);
    if (known !== undefined) return known;
    // A prefix not kept remembers nothing under it either: its entries would be lost with it.
    const keep = this.keeps(key);
    const c = new PathPrefix(`${this.path(key)}.`, keep);
    if (keep) this.children.set(key, c);
    return c;
  }
}

const root = new PathPrefix('', true);

/** Nested ECS event → dotted-path record (scalars and arrays of scalars), what rules read. */
export function flattenEvent(event: Record<string, unknown>, out: FlatRecord = {}, prefix = ''): FlatRecord {
  walk(event, out, prefix === '' ? root : new PathPrefix(prefix, false), []);
  return out;
}

function walk(obj: Record<string, unknown>, out: FlatRecord, prefix: PathPrefix, ancestors: object[]): void {
  if (ancestors.length >= MAX_FLATTEN_DEPTH || ancestors.includes(obj)) return;
  ancestors.push(obj);
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) define(out, prefix.path(k), v);
    } else if (typeof v === 'object') walk(v as Record<string, unknown>, out, prefix.child(k), ancestors);
    else define(out, prefix.path(k), v as FlatRecord[string]);
  }
  ancestors.pop();
}

function define(out: FlatRecord, key: string, value: FlatRecord[string]): void {
  // A field literally named "__proto__" is data, not the record's prototype.
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}
