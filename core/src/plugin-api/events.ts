/**
 * Events follow Elastic Common Schema (ECS) field names, as nested objects
 * (`{ source: { ip } }`), which is what ECS JSON, Elasticsearch and most Kafka consumers expect.
 * Dotted keys are accepted on input and normalised by the pipeline.
 */
export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** What a source emits: ECS fields. `@timestamp` is required; the rest is optional. */
export interface SourceEvent {
  '@timestamp': string;
  message?: string;
  event?: {
    id?: string;
    kind?: 'event' | 'alert' | 'signal' | 'enrichment' | 'state' | 'metric';
    category?: string[];
    type?: string[];
    action?: string;
    outcome?: 'success' | 'failure' | 'unknown';
    original?: string;
    dataset?: string;
    module?: string;
    severity?: number;
    ingested?: string;
    [key: string]: unknown;
  };
  [field: string]: unknown;
}

/** An event after the pipeline assigned identity and provenance. */
export interface FabricEvent extends SourceEvent {
  event: NonNullable<SourceEvent['event']> & { id: string };
  /** Reactive Fabric's own metadata: which collector produced it, its fingerprint, priority. */
  fabric: {
    collector: string;
    plugin: string;
    fingerprint: string;
    priority?: Priority;
    schema_version: string;
    [key: string]: unknown;
  };
}

export type Priority = 'critical' | 'high' | 'medium' | 'low' | 'info';

/**
 * Only own properties are fields: a path such as `constructor.name` or `__proto__.x` must not
 * walk into what every object inherits (that is how one log line pollutes `Object.prototype`).
 */
function own(obj: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** Read an ECS field by dotted path from nested objects, falling back to a literal dotted key. */
export function getField(event: Record<string, unknown>, path: string): unknown {
  if (own(event, path)) return event[path];
  let cur: unknown = event;
  let start = 0;
  while (start <= path.length) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const obj = cur as Record<string, unknown>;
    // Greedy: a nested object may itself hold a dotted key ("file.hash": {...}).
    let end = path.indexOf('.', start);
    if (end === -1) {
      const last = path.slice(start);
      return own(obj, last) ? obj[last] : undefined;
    }
    let next: unknown;
    let found = false;
    while (end !== -1) {
      const key = path.slice(start, end);
      if (own(obj, key)) {
        next = obj[key];
        found = true;
        break;
      }
      end = path.indexOf('.', end + 1);
    }
    if (!found) {
      const rest = path.slice(start);
      return own(obj, rest) ? obj[rest] : undefined;
    }
    cur = next;
    start = end + 1;
  }
  return undefined;
}

/**
 * The one key whose assignment (`o[k] = v`, Object.assign, a merge, a spread into an existing
 * object) changes an object's prototype instead of adding a field. Event data keeps it under
 * this name, so an analyst still sees what was sent.
 */
export const RENAMED_PROTO_KEY = '__proto___';

/** `key` as a field name that is safe to assign: `__proto__` becomes RENAMED_PROTO_KEY. */
export function safeFieldName(key: string): string {
  return key === '__proto__' ? RENAMED_PROTO_KEY : key;
}

/**
 * Write an ECS field by dotted path, creating nested objects. Safe with untrusted paths: only
 * own properties are walked into (`constructor.prototype.x` creates fields named `constructor`
 * and `prototype`, it does not reach Object), and a `__proto__` segment is renamed
 * (RENAMED_PROTO_KEY).
 */
export function setField(event: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.').map(safeFieldName);
  let cur = event;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i]!;
    const next = own(cur, key) ? cur[key] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      const created: Record<string, unknown> = {};
      cur[key] = created;
      cur = created;
    } else {
      cur = next as Record<string, unknown>;
    }
  }
  cur[parts[parts.length - 1]!] = value;
}
