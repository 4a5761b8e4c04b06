// Over 400 lines: a test asset reproducing the documented Elasticsearch/OpenSearch PIT, search_after
// and scroll APIs (../shared/docs/vendor-apis.md) endpoint by endpoint, with its fault injection.
import { randomBytes } from 'node:crypto';
import { LogStoreFake, parseBasic, type FakeRequest, type FakeResponse } from './logstore-fake-base.js';
import type { TimedRecord } from './loghub-seed.js';

/**
 * Elasticsearch 8.x / OpenSearch 2.x search API fake (shared/docs/vendor-apis.md):
 * - auth: ApiKey / Basic / Bearer with ES `security_exception` 401/403 bodies and WWW-Authenticate
 *   headers (OpenSearch's security plugin answers a plain `Unauthorized`);
 * - `x-elastic-product: Elasticsearch` and a JSON content type on every ES 2xx; OpenSearch answers
 *   406 to the ES client's `compatible-with` media type;
 * - PIT: ES `POST /{index}/_pit` + `DELETE /_pit`, OpenSearch `POST /{index}/_search/point_in_time`
 *   + `DELETE /_search/point_in_time`; a PIT sees the documents that existed when it was opened,
 *   expires after keep_alive, and ES appends the implicit `_shard_doc` sort value;
 * - `sort` + `search_after`, `from + size` capped by max_result_window (400 with the real body);
 * - queries: match_all, bool (filter/must/must_not), range, term(s), query_string (field:value and
 *   bare words, AND-ed), exists.
 */

export type EsFlavour = 'elasticsearch' | 'opensearch';

export type EsCredentials =
  | { type: 'api_key'; id: string; key: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'bearer'; token: string }
  | { type: 'none' };

export interface ElasticsearchFakeOptions {
  flavour?: EsFlavour;
  /** Reported version: ES default 8.15.3, OpenSearch 2.19.1. */
  version?: string;
  credentials?: EsCredentials;
  maxResultWindow?: number;
}

export interface EsDoc {
  index: string;
  id?: string;
  source: Record<string, unknown>;
}

interface StoredDoc {
  index: string;
  id: string;
  source: Record<string, unknown>;
  /** Global insertion order: the fake's `_shard_doc`, and what a PIT snapshot is cut on. */
  seq: number;
}

interface Pit {
  indices: string[];
  maxSeq: number;
  expiresAt: number;
  /** Every id handed out for this PIT; ES keeps older ids valid while the PIT lives. */
  ids: Set<string>;
}

interface SortSpec {
  field: string;
  desc: boolean;
}

const WWW_AUTHENTICATE_ES = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', 'ApiKey'];

export class ElasticsearchFake extends LogStoreFake {
  readonly flavour: EsFlavour;
  readonly version: string;
  private credentials: EsCredentials;
  private readonly maxResultWindow: number;
  private readonly docs: StoredDoc[] = [];
  private readonly pits = new Map<string, Pit>();
  private seq = 0;
  private forbidden = false;
  /** Called before each search runs: tests add "late" documents here, in the middle of a pull. */
  onSearch: ((searchNo: number) => void) | undefined;
  readonly stats = { searches: 0, pitsOpened: 0, pitsClosed: 0, maxFromPlusSize: 0 };

  constructor(options: ElasticsearchFakeOptions = {}) {
    super();
    this.flavour = options.flavour ?? 'elasticsearch';
    this.version = options.version ?? (this.flavour === 'opensearch' ? '2.19.1' : '8.15.3');
    this.credentials = options.credentials ?? { type: 'none' };
    this.maxResultWindow = options.maxResultWindow ?? 10_000;
  }

  /** Change what the cluster accepts (e.g. rotate a key to make the plugin's one stale). */
  setCredentials(credentials: EsCredentials): void {
    this.credentials = credentials;
  }

  /** Make authenticated searches fail with 403 (user lacks the read privilege). */
  setForbidden(forbidden: boolean): void {
    this.forbidden = forbidden;
  }

  /** Index documents (visible at once, like `refresh=true`). Returns their `_index/_id`. */
  addDocs(docs: EsDoc[]): string[] {
    return docs.map((d) => {
      const id = d.id ?? randomBytes(10).toString('base64url');
      this.docs.push({ index: d.index, id, source: structuredClone(d.source), seq: this.seq++ });
      return `${d.index}/${id}`;
    });
  }

  get docCount(): number {
    return this.docs.length;
  }

  /** Let every open point in time lapse now (as if keep_alive ran out between two pages). */
  expirePits(): void {
    for (const pit of this.pits.values()) pit.expiresAt = 0;
  }

  /** Point in times still open (not closed and not expired). */
  get openPits(): number {
    const now = Date.now();
    return [...this.pits.values()].filter((p) => p.expiresAt > now).length;
  }

  protected faultResponse(status: number, req: FakeRequest): FakeResponse {
    if (status === 429) {
      const reason =
        'rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]';
      return this.json(429, { error: { root_cause: [{ type: 'es_rejected_execution_exception', reason }], type: 'es_rejected_execution_exception', reason }, status: 429 });
    }
    if (status === 401) return this.unauthorized(req, 'missing');
    if (status === 503) {
      const reason = 'blocked by: [SERVICE_UNAVAILABLE/2/no master];';
      return this.json(503, { error: { root_cause: [{ type: 'cluster_block_exception', reason }], type: 'cluster_block_exception', reason }, status: 503 });
    }
    return this.json(status, { error: { root_cause: [{ type: 'exception', reason: `injected ${status}` }], type: 'exception', reason: `injected ${status}` }, status });
  }

  protected route(req: FakeRequest): FakeResponse {
    if (this.flavour === 'opensearch') {
      const media = `${req.headers['accept'] ?? ''} ${req.headers['content-type'] ?? ''}`;
      if (media.includes('compatible-with')) {
        const ct = String(req.headers['content-type'] ?? req.headers['accept']);
        return { status: 406, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: { error: `Content-Type header [${ct}] is not supported`, status: 406 } };
      }
    }
    const auth = this.authenticate(req);
    if (auth) return auth;

    const { method, path } = req;
    if (path === '/' && (method === 'GET' || method === 'HEAD')) return this.ok(this.info());
    if (this.flavour === 'elasticsearch' && path === '/_pit' && method === 'DELETE') return this.closeEsPit(req);
    if (this.flavour === 'opensearch' && path === '/_search/point_in_time' && method === 'DELETE') return this.closeOsPit(req);
    const esPit = /^\/([^/]+)\/_pit$/.exec(path);
    if (esPit && method === 'POST' && this.flavour === 'elasticsearch') return this.openPit(req, decodeURIComponent(esPit[1]!));
    const osPit = /^\/([^/]+)\/_search\/point_in_time$/.exec(path);
    if (osPit && method === 'POST' && this.flavour === 'opensearch') return this.openPit(req, decodeURIComponent(osPit[1]!));
    const search = /^(?:\/([^/_][^/]*))?\/_search$/.exec(path);
    if (search && (method === 'GET' || method === 'POST')) return this.search(req, search[1] === undefined ? undefined : decodeURIComponent(search[1]));
    return this.json(400, { error: 'no handler found for uri [' + path + '] and method [' + method + ']', status: 400 });
  }

  // --- auth -------------------------------------------------------------------------------------

  private authenticate(req: FakeRequest): FakeResponse | undefined {
    const c = this.credentials;
    if (c.type === 'none') return undefined;
    const header = req.headers['authorization'];
    if (!header) return this.unauthorized(req, 'missing');
    let ok = false;
    let user = '';
    if (c.type === 'basic') {
      const b = parseBasic(header);
      user = b?.username ?? '';
      ok = b !== undefined && b.username === c.username && b.password === c.password;
    } else if (c.type === 'api_key') {
      ok = header === `ApiKey ${Buffer.from(`${c.id}:${c.key}`).toString('base64')}`;
      user = c.id;
    } else {
      ok = header === `Bearer ${c.token}`;
    }
    if (!ok) return this.unauthorized(req, 'invalid', user);
    if (this.forbidden && req.path.includes('_search')) {
      const reason = `action [indices:data/read/search] is unauthorized for user [${user || 'fabric'}] with effective roles [viewer] on indices [${req.path.split('/')[1] ?? ''}], this action is granted by the index privileges [read,all]`;
      return this.json(403, { error: { root_cause: [{ type: 'security_exception', reason }], type: 'security_exception', reason }, status: 403 });
    }
    return undefined;
  }

  private unauthorized(req: FakeRequest, why: 'missing' | 'invalid', user = ''): FakeResponse {
    if (this.flavour === 'opensearch') {
      return { status: 401, headers: { 'www-authenticate': 'Basic realm="OpenSearch Security"', 'content-type': 'text/plain; charset=UTF-8' }, body: 'Unauthorized' };
    }
    const uri = req.path + (req.query.size ? `?${req.query.toString()}` : '');
    const reason =
      why === 'missing'
        ? `missing authentication credentials for REST request [${uri}]`
        : this.credentials.type === 'basic'
          ? `unable to authenticate user [${user}] for REST request [${uri}]`
          : 'unable to authenticate with provided credentials and anonymous access is not allowed for this request';
    const header = { 'WWW-Authenticate': WWW_AUTHENTICATE_ES };
    return {
      status: 401,
      headers: { 'www-authenticate': WWW_AUTHENTICATE_ES, 'content-type': 'application/json; charset=UTF-8' },
      body: { error: { root_cause: [{ type: 'security_exception', reason, header }], type: 'security_exception', reason, header }, status: 401 },
    };
  }

  // --- responses --------------------------------------------------------------------------------

  private ok(body: unknown): FakeResponse {
    return this.json(200, body);
  }

  private json(status: number, body: unknown): FakeResponse {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=UTF-8' };
    if (this.flavour === 'elasticsearch' && status !== 401) headers['x-elastic-product'] = 'Elasticsearch';
    return { status, headers, body };
  }

  private error(status: number, type: string, reason: string, extra: Record<string, unknown> = {}): FakeResponse {
    const cause = { type, reason, ...extra };
    return this.json(status, { error: { root_cause: [cause], ...cause }, status });
  }

  private phaseError(status: number, type: string, reason: string, index: string): FakeResponse {
    const cause = { type, reason };
    return this.json(status, {
      error: {
        root_cause: [cause],
        type: 'search_phase_execution_exception',
        reason: 'all shards failed',
        phase: 'query',
        grouped: true,
        failed_shards: [{ shard: 0, index, node: 'fake-node-0', reason: cause }],
        caused_by: { ...cause, caused_by: cause },
      },
      status,
    });
  }

  private info(): unknown {
    if (this.flavour === 'opensearch') {
      return {
        name: 'fake-node-0',
        cluster_name: 'fake-cluster',
        cluster_uuid: 'fake-cluster-uuid',
        version: {
          distribution: 'opensearch',
          number: this.version,
          build_type: 'tar',
          lucene_version: '9.12.1',
          minimum_wire_compatibility_version: '7.10.0',
          minimum_index_compatibility_version: '7.0.0',
        },
        tagline: 'The OpenSearch Project: https://opensearch.org/',
      };
    }
    return {
      name: 'fake-node-0',
      cluster_name: 'fake-cluster',
      cluster_uuid: 'fake-cluster-uuid',
      version: {
        number: this.version,
        build_flavor: 'default',
        build_type: 'docker',
        lucene_version: '9.11.1',
        minimum_wire_compatibility_version: '7.17.0',
        minimum_index_compatibility_version: '7.0.0',
      },
      tagline: 'You Know, for Search',
    };
  }

  // --- indices and PIT --------------------------------------------------------------------------

  private resolveIndices(expr: string, ignoreUnavailable: boolean): string[] | FakeResponse {
    const known = new Set(this.docs.map((d) => d.index));
    const out = new Set<string>();
    for (const part of expr.split(',')) {
      if (part === '_all' || part === '*') {
        known.forEach((i) => out.add(i));
        continue;
      }
      if (part.includes('*')) {
        const re = new RegExp(
          '^' +
            part
              .split('*')
              .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
              .join('.*') +
            '$',
        );
        known.forEach((i) => re.test(i) && out.add(i));
        continue;
      }
      if (!known.has(part)) {
        if (ignoreUnavailable) continue;
        return this.error(404, 'index_not_found_exception', `no such index [${part}]`, { index: part, 'resource.id': part, 'resource.type': 'index_or_alias', index_uuid: '_na_' });
      }
      out.add(part);
    }
    return [...out];
  }

  private keepAliveMs(value: unknown): number {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(String(value ?? ''));
    if (!m) return -1;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return Number(m[1]) * unit;
  }

  private openPit(req: FakeRequest, expr: string): FakeResponse {
    const keepAlive = this.keepAliveMs(req.query.get('keep_alive'));
    if (keepAlive <= 0) return this.error(400, 'action_request_validation_exception', 'Validation Failed: 1: [keep_alive] is not specified;');
    const indices = this.resolveIndices(expr, req.query.get('ignore_unavailable') === 'true');
    if (!Array.isArray(indices)) return indices;
    if (indices.length === 0 && this.flavour === 'opensearch') {
      // What OpenSearch 2.19 answers (checked against the real node) when nothing matches.
      return this.json(400, {
        error: {
          root_cause: [{ type: 'illegal_argument_exception', reason: 'invalid id: [null]' }],
          type: 'illegal_argument_exception',
          reason: 'invalid id: [null]',
          caused_by: { type: 'null_pointer_exception', reason: 'Cannot invoke "String.getBytes(java.nio.charset.Charset)" because "src" is null' },
        },
        status: 400,
      });
    }
    const id = randomBytes(24).toString('base64url');
    this.pits.set(id, { indices, maxSeq: this.seq, expiresAt: Date.now() + keepAlive, ids: new Set([id]) });
    this.stats.pitsOpened++;
    const shards = { total: indices.length, successful: indices.length, skipped: 0, failed: 0 };
    if (this.flavour === 'opensearch') return this.ok({ pit_id: id, _shards: shards, creation_time: Date.now() });
    return this.ok({ id, _shards: shards });
  }

  private findPit(id: string): [string, Pit] | undefined {
    for (const [key, pit] of this.pits) if (pit.ids.has(id)) return [key, pit];
    return undefined;
  }

  private closeEsPit(req: FakeRequest): FakeResponse {
    const id = (safeJson(req.body) as { id?: string } | undefined)?.id;
    if (!id) return this.error(400, 'action_request_validation_exception', 'Validation Failed: 1: point in time id is not specified;');
    const found = this.findPit(id);
    if (!found || found[1].expiresAt <= Date.now()) return this.json(404, { succeeded: true, num_freed: 0 });
    this.pits.delete(found[0]);
    this.stats.pitsClosed++;
    return this.ok({ succeeded: true, num_freed: found[1].indices.length });
  }

  private closeOsPit(req: FakeRequest): FakeResponse {
    const ids = (safeJson(req.body) as { pit_id?: string[] } | undefined)?.pit_id;
    if (!Array.isArray(ids) || ids.length === 0) return this.error(400, 'action_request_validation_exception', 'Validation Failed: 1: no pit ids specified;');
    const pits = ids.map((id) => {
      const found = this.findPit(id);
      if (found) {
        this.pits.delete(found[0]);
        this.stats.pitsClosed++;
      }
      return { successful: found !== undefined, pit_id: id };
    });
    return this.ok({ pits });
  }

  // --- search -----------------------------------------------------------------------------------

  private search(req: FakeRequest, expr: string | undefined): FakeResponse {
    this.stats.searches++;
    this.onSearch?.(this.stats.searches);
    const body = (req.body ? safeJson(req.body) : {}) as Record<string, unknown> | undefined;
    if (body === undefined || typeof body !== 'object' || Array.isArray(body)) {
      return this.error(400, 'parsing_exception', 'request body or source parameter is required', { line: 1, col: 1 });
    }
    const started = Date.now();
    let candidates: StoredDoc[];
    let pitId: string | undefined;
    let indexLabel = expr ?? '_all';
    const pitRef = body.pit as { id?: string; keep_alive?: string } | undefined;
    if (pitRef) {
      if (expr !== undefined)
        return this.error(
          400,
          'action_request_validation_exception',
          'Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;',
        );
      const found = pitRef.id ? this.findPit(pitRef.id) : undefined;
      if (!found || found[1].expiresAt <= Date.now()) {
        return this.phaseError(404, 'search_context_missing_exception', `No search context found for id [${(pitRef.id ?? '').slice(0, 12)}]`, '');
      }
      const pit = found[1];
      if (pitRef.keep_alive) pit.expiresAt = Date.now() + this.keepAliveMs(pitRef.keep_alive);
      candidates = this.docs.filter((d) => d.seq < pit.maxSeq && pit.indices.includes(d.index));
      pitId = randomBytes(24).toString('base64url');
      pit.ids.add(pitId);
      indexLabel = pit.indices[0] ?? '';
    } else {
      const indices = this.resolveIndices(expr ?? '_all', req.query.get('ignore_unavailable') === 'true');
      if (!Array.isArray(indices)) return indices;
      candidates = this.docs.filter((d) => indices.includes(d.index));
    }

    const size = Number(body.size ?? req.query.get('size') ?? 10);
    const from = Number(body.from ?? req.query.get('from') ?? 0);
    this.stats.maxFromPlusSize = Math.max(this.stats.maxFromPlusSize, from + size);
    if (from + size > this.maxResultWindow) {
      const reason = `Result window is too large, from + size must be less than or equal to: [${this.maxResultWindow}] but was [${from + size}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.`;
      return this.phaseError(400, 'illegal_argument_exception', reason, indexLabel);
    }

    let matches: StoredDoc[];
    try {
      matches = candidates.filter((d) => matchQuery(body.query ?? { match_all: {} }, d));
    } catch (err) {
      return this.error(400, 'parsing_exception', (err as Error).message, { line: 1, col: 1 });
    }

    const sorts = parseSort(body.sort);
    for (const s of sorts) {
      if (s.field === '_id' && this.flavour === 'elasticsearch' && !this.version.startsWith('7.')) {
        return this.phaseError(
          400,
          'illegal_argument_exception',
          'Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled',
          indexLabel,
        );
      }
      if (s.field === '_shard_doc' && !(pitRef && this.flavour === 'elasticsearch')) {
        return this.phaseError(400, 'illegal_argument_exception', 'No mapping found for [_shard_doc] in order to sort on', indexLabel);
      }
    }
    if (pitRef && this.flavour === 'elasticsearch' && sorts.length > 0 && !sorts.some((s) => s.field === '_shard_doc')) sorts.push({ field: '_shard_doc', desc: false });
    const keyed = matches.map((d) => ({ d, key: sorts.map((s) => sortValue(d, s.field)) }));
    if (sorts.length > 0) keyed.sort((a, b) => compareKeys(a.key, b.key, sorts));

    let page = keyed;
    const after = body.search_after;
    if (after !== undefined) {
      if (!Array.isArray(after) || after.length !== sorts.length) {
        return this.error(400, 'illegal_argument_exception', `search_after has ${Array.isArray(after) ? after.length : 0} value(s) but sort has ${sorts.length}.`);
      }
      if (from > 0) return this.error(400, 'illegal_argument_exception', '[from] parameter must be set to 0 when [search_after] is used.');
      page = keyed.filter((k) => compareKeys(k.key, after as unknown[], sorts) > 0);
    }
    const hits = page.slice(from, from + size).map(({ d, key }) => {
      const hit: Record<string, unknown> = { _index: d.index, _id: d.id, _score: sorts.length > 0 ? null : 1, _source: d.source };
      if (sorts.length > 0) hit.sort = key;
      return hit;
    });
    const total = matches.length;
    const response: Record<string, unknown> = {};
    if (pitId) response.pit_id = pitId;
    Object.assign(response, {
      took: Date.now() - started,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: { total: { value: Math.min(total, 10_000), relation: total > 10_000 ? 'gte' : 'eq' }, max_score: sorts.length > 0 ? null : 1, hits },
    });
    return this.ok(response);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function getPath(source: Record<string, unknown>, path: string): unknown {
  if (path in source) return source[path];
  let cur: unknown = source;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function fieldOf(d: StoredDoc, field: string): unknown {
  if (field === '_id') return d.id;
  if (field === '_index') return d.index;
  return getPath(d.source, field);
}

function toMillis(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

function isDateField(field: string): boolean {
  return field === '@timestamp' || field.endsWith('.ingested') || field.endsWith('timestamp') || field.endsWith('.created');
}

function matchQuery(q: unknown, d: StoredDoc): boolean {
  if (q === null || typeof q !== 'object') throw new Error('query malformed, expected an object');
  const [type, spec] = Object.entries(q as Record<string, unknown>)[0] ?? [];
  if (!type) return true;
  const s = spec as Record<string, unknown>;
  switch (type) {
    case 'match_all':
      return true;
    case 'bool': {
      const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
      return (
        list(s.filter).every((c) => matchQuery(c, d)) &&
        list(s.must).every((c) => matchQuery(c, d)) &&
        !list(s.must_not).some((c) => matchQuery(c, d)) &&
        (list(s.should).length === 0 || list(s.should).some((c) => matchQuery(c, d)))
      );
    }
    case 'range': {
      const [field, bounds] = Object.entries(s)[0]!;
      const b = bounds as Record<string, unknown>;
      const raw = fieldOf(d, field);
      const date = isDateField(field);
      const v = date ? toMillis(raw) : Number(raw);
      if (v === undefined || Number.isNaN(v)) return false;
      const bound = (x: unknown) => (date ? toMillis(x) : Number(x));
      if (b.gte !== undefined && !(v >= bound(b.gte)!)) return false;
      if (b.gt !== undefined && !(v > bound(b.gt)!)) return false;
      if (b.lte !== undefined && !(v <= bound(b.lte)!)) return false;
      if (b.lt !== undefined && !(v < bound(b.lt)!)) return false;
      return true;
    }
    case 'term': {
      const [field, value] = Object.entries(s)[0]!;
      const want = value !== null && typeof value === 'object' ? (value as { value: unknown }).value : value;
      return String(fieldOf(d, field)) === String(want);
    }
    case 'terms': {
      const [field, values] = Object.entries(s)[0]!;
      return (values as unknown[]).map(String).includes(String(fieldOf(d, field)));
    }
    case 'exists':
      return fieldOf(d, String(s.field)) !== undefined;
    case 'query_string':
      return matchQueryString(String(s.query ?? ''), d);
    default:
      throw new Error(`unknown query [${type}]`);
  }
}

/** A small Lucene subset: `field:value` (value may be quoted or end in *) and bare words, AND-ed. */
function matchQueryString(query: string, d: StoredDoc): boolean {
  const terms = query.match(/(?:[^\s"]+:)?"[^"]*"|\S+/g) ?? [];
  return terms
    .filter((t) => t !== 'AND')
    .every((term) => {
      const negate = term.startsWith('-') || term.startsWith('NOT ');
      const t = term.replace(/^-/, '');
      const i = t.indexOf(':');
      const field = i > 0 ? t.slice(0, i) : undefined;
      const rawValue = i > 0 ? t.slice(i + 1) : t;
      const phrase = rawValue.startsWith('"');
      let value = rawValue.replace(/^"|"$/g, '').toLowerCase();
      const prefix = value.endsWith('*');
      if (prefix) value = value.slice(0, -1);
      const haystack = field ? [fieldOf(d, field)] : [getPath(d.source, 'message'), getPath(d.source, 'event.original')];
      const hit = haystack.some((h) => {
        if (h === undefined || h === null) return false;
        const text = String(h).toLowerCase();
        return field && !prefix && !phrase ? text === value || text.split(/\W+/).includes(value) : text.includes(value);
      });
      return negate ? !hit : hit;
    });
}

function parseSort(sort: unknown): SortSpec[] {
  if (sort === undefined) return [];
  const list = Array.isArray(sort) ? sort : [sort];
  return list.map((s) => {
    if (typeof s === 'string') return { field: s, desc: false };
    const [field, spec] = Object.entries(s as Record<string, unknown>)[0]!;
    const order = typeof spec === 'string' ? spec : (spec as { order?: string }).order;
    return { field, desc: order === 'desc' };
  });
}

function sortValue(d: StoredDoc, field: string): string | number | null {
  if (field === '_shard_doc' || field === '_doc') return d.seq;
  const v = fieldOf(d, field);
  if (v === undefined || v === null) return null;
  if (isDateField(field)) return toMillis(v) ?? null;
  return typeof v === 'number' ? v : String(v);
}

function compareKeys(a: unknown[], b: unknown[], sorts: SortSpec[]): number {
  for (let i = 0; i < sorts.length; i++) {
    const x = a[i] as string | number | null;
    const y = b[i] as string | number | null;
    let c = 0;
    if (x === y) c = 0;
    else if (x === null) c = 1;
    else if (y === null) c = -1;
    else c = x < y ? -1 : 1;
    if (c !== 0) return sorts[i]!.desc ? -c : c;
  }
  return 0;
}

/** ECS documents as a Filebeat/Elastic Agent pipeline would have indexed the loghub lines. */
export function loghubEsDocs(records: TimedRecord[], index: string): EsDoc[] {
  return records.map(({ record, timestamp }) => ({
    index,
    source: {
      '@timestamp': new Date(timestamp).toISOString(),
      message: record.message,
      host: { name: record.host, hostname: record.host },
      process: { name: record.program, ...(record.pid !== undefined ? { pid: record.pid } : {}) },
      event: { original: record.line, dataset: record.dataset, ingested: new Date(timestamp).toISOString() },
      log: { offset: record.lineNo },
    },
  }));
}

// The shared pieces of the log-store fakes, exported once (from here) for plugin authors.
export * from './loghub-seed.js';
export { LogStoreFake, parseBasic, selfSignedCertificate, type Fault, type FakeRequest, type FakeResponse, type RecordedRequest } from './logstore-fake-base.js';
