import { isIP } from 'node:net';

/**
 * ECS checks for what a source emits. These are the rules the pipeline and downstream consumers
 * (Sigma rules, Elasticsearch mappings, Kafka consumers) rely on; each problem names the field
 * path so a plugin author can find it.
 */

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;

export const ECS_EVENT_KINDS = ['alert', 'asset', 'enrichment', 'event', 'metric', 'state', 'pipeline_error', 'signal'] as const;
export const ECS_EVENT_CATEGORIES = [
  'api',
  'authentication',
  'configuration',
  'database',
  'driver',
  'email',
  'file',
  'host',
  'iam',
  'intrusion_detection',
  'library',
  'malware',
  'network',
  'package',
  'process',
  'registry',
  'session',
  'threat',
  'vulnerability',
  'web',
] as const;
export const ECS_EVENT_TYPES = [
  'access',
  'admin',
  'allowed',
  'change',
  'connection',
  'creation',
  'deletion',
  'denied',
  'device',
  'end',
  'error',
  'group',
  'indicator',
  'info',
  'installation',
  'protocol',
  'start',
  'user',
] as const;
export const ECS_EVENT_OUTCOMES = ['success', 'failure', 'unknown'] as const;

type FieldRule = (value: unknown) => string | undefined;

const str: FieldRule = (v) => (typeof v === 'string' ? undefined : `must be a string, got ${describeValue(v)}`);
const isoTime: FieldRule = (v) =>
  typeof v === 'string' && ISO_8601.test(v) && !Number.isNaN(Date.parse(v))
    ? undefined
    : `must be an ISO 8601 timestamp string such as "2024-05-01T12:00:00.000Z", got ${describeValue(v)}`;
const port: FieldRule = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? undefined : `must be an integer port 0-65535, got ${describeValue(v)}`);
const ip: FieldRule = (v) => (typeof v === 'string' && isIP(v) !== 0 ? undefined : `must be an IPv4 or IPv6 address string, got ${describeValue(v)}`);
const num: FieldRule = (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : `must be a finite number, got ${describeValue(v)}`);
const oneOf =
  (allowed: readonly string[]): FieldRule =>
  (v) =>
    typeof v === 'string' && allowed.includes(v) ? undefined : `must be one of ${allowed.join(', ')}, got ${describeValue(v)}`;
const arrayOf =
  (rule: FieldRule): FieldRule =>
  (v) => {
    if (!Array.isArray(v)) return `must be an array, got ${describeValue(v)}`;
    for (const [i, item] of v.entries()) {
      const p = rule(item);
      if (p) return `[${i}] ${p}`;
    }
    return undefined;
  };
const stringOrStrings: FieldRule = (v) => (Array.isArray(v) ? arrayOf(str)(v) : str(v));
const technique: FieldRule = (v) => {
  const check = (t: unknown) =>
    typeof t === 'string' && /^T\d{4}(\.\d{3})?$/.test(t) ? undefined : `must be an ATT&CK technique id like "T1110" or "T1059.004", got ${describeValue(t)}`;
  if (Array.isArray(v)) {
    for (const t of v) {
      const p = check(t);
      if (p) return p;
    }
    return undefined;
  }
  return check(v);
};

/** Types of the ECS fields plugins most often set; other fields are only checked for shape. */
const FIELD_RULES: Record<string, FieldRule> = {
  message: str,
  tags: arrayOf(str),
  'event.id': str,
  'event.kind': oneOf(ECS_EVENT_KINDS),
  'event.category': arrayOf(oneOf(ECS_EVENT_CATEGORIES)),
  'event.type': arrayOf(oneOf(ECS_EVENT_TYPES)),
  'event.outcome': oneOf(ECS_EVENT_OUTCOMES),
  'event.action': str,
  'event.dataset': str,
  'event.module': str,
  'event.provider': str,
  'event.original': str,
  'event.severity': num,
  'event.risk_score': num,
  'event.duration': num,
  'event.created': isoTime,
  'event.ingested': isoTime,
  'event.start': isoTime,
  'event.end': isoTime,
  'source.ip': ip,
  'source.port': port,
  'destination.ip': ip,
  'destination.port': port,
  'client.ip': ip,
  'client.port': port,
  'server.ip': ip,
  'server.port': port,
  'related.ip': arrayOf(ip),
  'related.user': arrayOf(str),
  'related.hash': arrayOf(str),
  'user.name': str,
  'host.name': str,
  'host.hostname': str,
  'url.full': str,
  'url.original': str,
  'process.command_line': str,
  'process.pid': (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? undefined : `must be a non-negative integer, got ${describeValue(v)}`),
  'file.path': str,
  'file.name': str,
  'file.hash.md5': str,
  'file.hash.sha1': str,
  'file.hash.sha256': str,
  'threat.framework': str,
  'threat.technique.id': technique,
  'threat.technique.name': stringOrStrings,
  'threat.tactic.id': stringOrStrings,
  'threat.tactic.name': stringOrStrings,
};

/** Objects whose children must themselves be objects when present (ECS field sets). */
const FIELD_SETS = ['event', 'source', 'destination', 'client', 'server', 'user', 'host', 'url', 'process', 'file', 'threat', 'network', 'related', 'observer', 'agent'];

/**
 * Problems that make `event` invalid ECS, each as "<field path>: <what is wrong>".
 * An empty array means the event is fine.
 */
export function validateEcsEvent(event: unknown): string[] {
  const problems: string[] = [];
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    return [`event must be a plain object, got ${describeValue(event)}`];
  }
  const e = event as Record<string, unknown>;
  if (!('@timestamp' in e)) problems.push('@timestamp: required field is missing');
  else {
    const p = isoTime(e['@timestamp']);
    if (p) problems.push(`@timestamp: ${p}`);
  }
  walk(e, '', problems);
  for (const set of FIELD_SETS) {
    if (set in e && (e[set] === null || typeof e[set] !== 'object' || Array.isArray(e[set]))) {
      problems.push(`${set}: must be an object (ECS field set), got ${describeValue(e[set])}`);
    }
  }
  for (const [path, rule] of Object.entries(FIELD_RULES)) {
    const value = nestedGet(e, path);
    if (value === undefined) continue;
    const p = rule(value);
    if (p) problems.push(`${path}: ${p}`);
  }
  return problems;
}

/** Dotted keys, non-JSON values (functions, Dates, NaN, bigint, undefined in arrays). */
function walk(value: unknown, path: string, problems: string[]): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) problems.push(`${path}: must be a finite number (JSON has no NaN/Infinity), got ${String(value)}`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) problems.push(`${path}[${i}]: undefined is not JSON`);
      else walk(item, `${path}[${i}]`, problems);
    });
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      problems.push(`${path || '(event)'}: must be a plain JSON object, got ${proto?.constructor?.name ?? 'an exotic object'} (convert Dates with toISOString())`);
      return;
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const childPath = path ? `${path}.${key}` : key;
      if (key.includes('.') && key !== '@timestamp') {
        problems.push(`${childPath}: dotted key "${key}"; ECS events use nested objects ({ ${key.split('.')[0]}: { ${key.split('.').slice(1).join('.')}: … } })`);
      }
      if (child !== undefined) walk(child, childPath, problems);
    }
    return;
  }
  problems.push(`${path}: ${typeof value} is not a JSON value`);
}

function nestedGet(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a Date object';
  return typeof v === 'object' ? 'an object' : typeof v;
}
