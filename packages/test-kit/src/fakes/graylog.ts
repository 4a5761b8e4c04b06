import { randomBytes, randomUUID } from 'node:crypto';
import { LogStoreFake, parseBasic, type FakeRequest, type FakeResponse } from './logstore-fake-base.js';
import type { TimedRecord } from './loghub-seed.js';

/**
 * Graylog 5.x/6.x search API fake (shared/docs/vendor-apis.md):
 * - auth: Basic with an access token as user and the literal password `token`, or user/password;
 *   401 with `WWW-Authenticate: Basic realm="Graylog Server"`;
 * - every non-GET needs `X-Requested-By`, else 400 "CSRF protection header is missing…";
 * - legacy `GET /api/search/universal/{absolute|relative}` (query required, from/to, limit default
 *   150, offset — ignored before 5.1 —, filter=streams:<id>, fields, sort default timestamp:desc);
 * - scripting `POST /api/search/messages` with absolute/relative timerange, from/size, sort and
 *   sort_order, fields → tabular `{schema, datarows, metadata}`;
 * - from + size past 10,000 is refused as Elasticsearch/OpenSearch underneath would;
 * - queries: `*`, field:value (quoted or trailing *), bare words, AND-ed.
 */

export interface GraylogCredentials {
  tokens?: string[];
  users?: Array<{ username: string; password: string }>;
}

export interface GraylogFakeOptions {
  credentials?: GraylogCredentials;
  /** Reported version; before 5.1 the universal search ignores `offset`. */
  version?: string;
}

export interface GraylogMessageInput {
  timestamp: number;
  source: string;
  message: string;
  fullMessage?: string;
  streams?: string[];
  fields?: Record<string, string | number>;
}

interface StoredMessage {
  id: string;
  gl2Id: string;
  index: string;
  timestamp: number;
  fields: Record<string, unknown>;
}

const CSRF = 'CSRF protection header is missing. Please add a "X-Requested-By" header to your request.';
const MAX_WINDOW = 10_000;

export class GraylogFake extends LogStoreFake {
  private credentials: GraylogCredentials;
  readonly version: string;
  private readonly messages: StoredMessage[] = [];
  /** Called before each search runs: tests add late messages mid-pull here. */
  onSearch: ((searchNo: number) => void) | undefined;
  readonly stats = { searches: 0, maxFromPlusSize: 0 };

  constructor(options: GraylogFakeOptions = {}) {
    super();
    this.credentials = options.credentials ?? {};
    this.version = options.version ?? '6.1.4';
  }

  setCredentials(credentials: GraylogCredentials): void {
    this.credentials = credentials;
  }

  /** Store messages; returns their `_id`s. */
  addMessages(inputs: GraylogMessageInput[]): string[] {
    return inputs.map((m) => {
      const id = randomUUID();
      const gl2Id = ulidLike(m.timestamp);
      const day = new Date(m.timestamp).toISOString().slice(0, 10).replace(/-/g, '');
      const fields: Record<string, unknown> = {
        _id: id,
        gl2_message_id: gl2Id,
        timestamp: graylogTime(m.timestamp),
        source: m.source,
        message: m.message,
        streams: m.streams ?? ['000000000000000000000001'],
        gl2_source_input: '65a1b2c3d4e5f60718293a4b',
        gl2_source_node: 'b4c1f0d2-8d4e-4d27-9a5c-1c2d3e4f5a6b',
        ...(m.fullMessage !== undefined ? { full_message: m.fullMessage } : {}),
        ...m.fields,
      };
      this.messages.push({ id, gl2Id, index: `graylog_${Number(day) % 7}`, timestamp: m.timestamp, fields });
      return id;
    });
  }

  protected faultResponse(status: number): FakeResponse {
    const message = status === 429 ? 'Too many requests' : status === 401 ? '' : `Unable to perform search query: injected ${status}`;
    if (status === 401) return this.unauthorized();
    return { status, headers: { 'content-type': 'application/json' }, body: { type: 'ApiError', message } };
  }

  protected route(req: FakeRequest): FakeResponse {
    if (req.method !== 'GET' && !req.headers['x-requested-by']) return this.apiError(400, CSRF);
    if (!this.authenticated(req)) return this.unauthorized();
    const m = /^\/api\/search\/universal\/(absolute|relative)$/.exec(req.path);
    if (m && req.method === 'GET') return this.universal(req, m[1] as 'absolute' | 'relative');
    if (req.path === '/api/search/messages' && req.method === 'POST') return this.scripting(req);
    if (req.path === '/api/system' && req.method === 'GET') {
      return this.json(200, {
        facility: 'graylog-server',
        codename: 'Noir',
        node_id: 'b4c1f0d2-8d4e-4d27-9a5c-1c2d3e4f5a6b',
        cluster_id: 'fake-cluster',
        version: this.version,
        started_at: new Date().toISOString(),
        hostname: 'graylog',
        lifecycle: 'running',
        lb_status: 'alive',
        timezone: 'UTC',
        operating_system: 'Linux',
        is_processing: true,
      });
    }
    return this.apiError(404, `HTTP 404 Not Found`);
  }

  private json(status: number, body: unknown): FakeResponse {
    return { status, headers: { 'content-type': 'application/json' }, body };
  }

  private apiError(status: number, message: string): FakeResponse {
    return this.json(status, { type: 'ApiError', message });
  }

  private unauthorized(): FakeResponse {
    return { status: 401, headers: { 'www-authenticate': 'Basic realm="Graylog Server"' }, body: '' };
  }

  private authenticated(req: FakeRequest): boolean {
    const b = parseBasic(req.headers['authorization']);
    if (!b) return false;
    if (b.password === 'token') return (this.credentials.tokens ?? []).includes(b.username);
    return (this.credentials.users ?? []).some((u) => u.username === b.username && u.password === b.password);
  }

  private offsetHonoured(): boolean {
    const [major = 0, minor = 0] = this.version.split('.').map(Number);
    return major > 5 || (major === 5 && minor >= 1);
  }

  private select(query: string, streams: string[], from: number, to: number): StoredMessage[] {
    let matcher: (m: StoredMessage) => boolean;
    try {
      matcher = compileQuery(query);
    } catch (err) {
      throw Object.assign(new Error((err as Error).message), { status: 400 });
    }
    return this.messages.filter(
      (m) => m.timestamp >= from && m.timestamp <= to && (streams.length === 0 || (m.fields.streams as string[]).some((s) => streams.includes(s))) && matcher(m),
    );
  }

  private universal(req: FakeRequest, kind: 'absolute' | 'relative'): FakeResponse {
    this.stats.searches++;
    this.onSearch?.(this.stats.searches);
    const q = req.query;
    const query = q.get('query');
    if (query === null || query === '') return this.apiError(400, 'Missing or invalid query parameter: query must not be empty');
    let from: number;
    let to: number;
    if (kind === 'absolute') {
      from = parseGraylogTime(q.get('from'));
      to = parseGraylogTime(q.get('to'));
      if (Number.isNaN(from) || Number.isNaN(to)) return this.apiError(400, `Invalid absolute time range: from=${q.get('from')} to=${q.get('to')}`);
    } else {
      to = Date.now();
      from = to - Number(q.get('range') ?? 300) * 1000;
    }
    const limit = Number(q.get('limit') ?? 150);
    const offset = this.offsetHonoured() ? Number(q.get('offset') ?? 0) : 0;
    this.stats.maxFromPlusSize = Math.max(this.stats.maxFromPlusSize, offset + limit);
    if (offset + limit > MAX_WINDOW)
      return this.apiError(
        500,
        `Unable to perform search query: Result window is too large, from + size must be less than or equal to: [${MAX_WINDOW}] but was [${offset + limit}].`,
      );
    const filter = q.get('filter');
    const streams = filter?.startsWith('streams:') ? [filter.slice(8)] : [];
    let matched: StoredMessage[];
    try {
      matched = this.select(query, streams, from, to);
    } catch (err) {
      return this.apiError(400, (err as Error).message);
    }
    const [sortField = 'timestamp', order = 'desc'] = (q.get('sort') ?? 'timestamp:desc').split(':');
    sortMessages(matched, sortField, order === 'asc');
    const fieldsParam = q.get('fields');
    const wanted = fieldsParam ? fieldsParam.split(',').map((f) => f.trim()) : undefined;
    const page = matched.slice(offset, offset + limit).map((m) => ({
      message: wanted ? pick(m.fields, [...wanted, '_id']) : m.fields,
      index: m.index,
      highlight_ranges: {},
      decoration_stats: null,
    }));
    return this.json(200, {
      query,
      built_query: JSON.stringify({ from: offset, size: limit, query: { bool: { must: [{ query_string: { query } }] } } }),
      used_indices: [...new Set(matched.map((m) => m.index))].map((index_name) => ({
        index_name,
        begin: graylogTime(from),
        end: graylogTime(to),
        calculated_at: graylogTime(Date.now()),
        took_ms: 1,
      })),
      messages: page,
      fields: [...new Set(matched.flatMap((m) => Object.keys(m.fields)))],
      time: 3,
      total_results: matched.length,
      from: graylogTime(from),
      to: graylogTime(to),
    });
  }

  private scripting(req: FakeRequest): FakeResponse {
    this.stats.searches++;
    this.onSearch?.(this.stats.searches);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body || '{}') as Record<string, unknown>;
    } catch {
      return this.apiError(400, 'Unable to map property. Known properties include: query, streams, stream_categories, timerange, sort, sort_order, from, size, fields');
    }
    const tr = body.timerange as { type?: string; from?: string; to?: string; range?: number } | undefined;
    let from = Date.now() - 300_000;
    let to = Date.now();
    if (tr?.type === 'absolute') {
      from = parseGraylogTime(tr.from ?? null);
      to = parseGraylogTime(tr.to ?? null);
      if (Number.isNaN(from) || Number.isNaN(to)) return this.apiError(400, 'Invalid timerange');
    } else if (tr?.type === 'relative') {
      from = to - Number(tr.range ?? 300) * 1000;
    } else if (tr !== undefined) return this.apiError(400, `Unsupported timerange type: ${tr.type}`);
    const size = Number(body.size ?? 10);
    const offset = Number(body.from ?? 0);
    this.stats.maxFromPlusSize = Math.max(this.stats.maxFromPlusSize, offset + size);
    if (offset + size > MAX_WINDOW)
      return this.apiError(
        500,
        `Unable to perform search query: Result window is too large, from + size must be less than or equal to: [${MAX_WINDOW}] but was [${offset + size}].`,
      );
    let matched: StoredMessage[];
    try {
      matched = this.select(String(body.query ?? '*') || '*', (body.streams as string[] | undefined) ?? [], from, to);
    } catch (err) {
      return this.apiError(400, (err as Error).message);
    }
    sortMessages(matched, String(body.sort ?? 'timestamp'), String(body.sort_order ?? 'desc').toLowerCase() === 'asc');
    const fields = (body.fields as string[] | undefined) ?? ['timestamp', 'source', 'message'];
    const page = matched.slice(offset, offset + size);
    return this.json(200, {
      schema: fields.map((f) => ({ column_type: 'field', type: f === 'timestamp' ? 'date' : f === 'streams' ? 'string' : 'unknown', field: f, name: `field: ${f}` })),
      datarows: page.map((m) => fields.map((f) => m.fields[f] ?? null)),
      metadata: { effective_timerange: { type: 'absolute', from: graylogTime(from), to: graylogTime(to) } },
    });
  }
}

function graylogTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** ISO 8601, or Graylog's "yyyy-MM-dd HH:mm:ss[.SSS]" (UTC). */
function parseGraylogTime(v: string | null): number {
  if (!v) return Number.NaN;
  const spaced = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(v) ? `${v.replace(' ', 'T')}Z` : v;
  return Date.parse(spaced);
}

function ulidLike(ms: number): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rand = [...randomBytes(16)].map((b) => alphabet[b % 32]).join('');
  return time + rand;
}

function pick(fields: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) if (n in fields) out[n] = fields[n];
  return out;
}

function sortMessages(list: StoredMessage[], field: string, asc: boolean): void {
  list.sort((a, b) => {
    const x = field === 'timestamp' ? a.timestamp : String(a.fields[field] ?? '');
    const y = field === 'timestamp' ? b.timestamp : String(b.fields[field] ?? '');
    return x === y ? 0 : (x < y ? -1 : 1) * (asc ? 1 : -1);
  });
}

function compileQuery(query: string): (m: StoredMessage) => boolean {
  const q = query.trim();
  if (q === '*' || q === '') return () => true;
  const terms = (q.match(/(?:[^\s"]+:)?"[^"]*"|\S+/g) ?? []).filter((t) => t !== 'AND');
  if (terms.some((t) => t === 'OR' || t.startsWith('('))) throw new Error(`Unable to parse query "${query}": this fake supports field:value and words joined by AND`);
  return (m) =>
    terms.every((term) => {
      const i = term.indexOf(':');
      const field = i > 0 ? term.slice(0, i) : undefined;
      const raw = i > 0 ? term.slice(i + 1) : term;
      const phrase = raw.startsWith('"');
      let value = raw.replace(/^"|"$/g, '').toLowerCase();
      const prefix = value.endsWith('*');
      if (prefix) value = value.slice(0, -1);
      const hay = field ? [m.fields[field]] : [m.fields.message, m.fields.full_message];
      return hay.some((h) => {
        if (h === undefined || h === null) return false;
        const values = Array.isArray(h) ? h.map(String) : [String(h)];
        return values.some((text) => {
          const t = text.toLowerCase();
          return field && !prefix && !phrase ? t === value || t.split(/\W+/).includes(value) : t.includes(value);
        });
      });
    });
}

/** Loghub lines as a Graylog syslog input stores them. */
export function loghubGraylogMessages(records: TimedRecord[], streams?: string[]): GraylogMessageInput[] {
  return records.map(({ record, timestamp }) => ({
    timestamp,
    source: record.host,
    message: `${record.program}${record.pid !== undefined ? `[${record.pid}]` : ''}: ${record.message}`,
    fullMessage: record.line,
    ...(streams ? { streams } : {}),
    fields: {
      application_name: record.program,
      ...(record.pid !== undefined ? { process_id: String(record.pid) } : {}),
      facility: record.dataset === 'openssh.log' ? 'security/authorization' : 'system daemon',
      level: 6,
    },
  }));
}
