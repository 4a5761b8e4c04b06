// Over 400 lines: a test asset reproducing the documented Splunk search-job and export API
// (../shared/docs/vendor-apis.md) endpoint by endpoint, with its fault injection.
import { randomBytes, randomUUID } from 'node:crypto';
import { LogStoreFake, parseBasic, type FakeRequest, type FakeResponse } from './logstore-fake-base.js';
import type { TimedRecord } from './loghub-seed.js';

/**
 * Splunk Enterprise REST fake (shared/docs/vendor-apis.md):
 * - auth: Basic, `POST /services/auth/login` → sessionKey used as `Authorization: Splunk <key>`,
 *   or `Authorization: Bearer <token>`; 401 `call not properly authenticated`;
 * - search jobs: create (form-encoded, `search` must start with `search` or `|`), status with
 *   dispatchState QUEUED → RUNNING → DONE (or FAILED), results v1 (GET) and v2 (GET/POST) with
 *   offset/count, 204 while the job runs, control/cancel and DELETE;
 * - streaming export: one JSON object per line, the last with `"lastrow":true`, optional
 *   `{"messages":[…]}` lines;
 * - the SPL it understands: `search` with index=, _index_earliest=, _index_latest=, earliest=,
 *   latest=, field=value and bare words, then `| sort [0] [-]field…` and `| head N`; anything
 *   else is 400 `Unknown search command 'x'.`;
 * - rows as Splunk returns raw events: strings, with _time, _raw, _indextime, _cd, _bkt, _serial,
 *   host, source, sourcetype, index, splunk_server.
 */

export interface SplunkCredentials {
  username?: string;
  password?: string;
  token?: string;
}

export interface SplunkFakeOptions {
  credentials?: SplunkCredentials;
  /** How long a job stays QUEUED/RUNNING before DONE. */
  jobDurationMs?: number;
  serverName?: string;
}

export interface SplunkEventInput {
  raw: string;
  /** Event time, epoch ms. */
  time: number;
  /** Index time, epoch seconds; default: now. */
  indexTime?: number;
  index?: string;
  host: string;
  source?: string;
  sourcetype?: string;
}

interface StoredEvent {
  raw: string;
  time: number;
  indexTime: number;
  index: string;
  host: string;
  source: string;
  sourcetype: string;
  bucket: number;
  offset: number;
}

interface Job {
  sid: string;
  createdAt: number;
  results: Record<string, string | string[]>[];
  state: 'RUNNING' | 'DONE' | 'FAILED' | 'CANCELED';
  failText?: string;
}

const NOT_AUTHENTICATED = { messages: [{ type: 'WARN', text: 'call not properly authenticated' }] };
const BUCKET_GUID = 'B2C8F0B0-6F3A-4C47-9C2B-2D3C4F5A6B7C';

export class SplunkFake extends LogStoreFake {
  private credentials: SplunkCredentials;
  private readonly sessions = new Set<string>();
  private readonly events: StoredEvent[] = [];
  private readonly jobs = new Map<string, Job>();
  private readonly bucketOffsets = new Map<string, number>();
  private failNext: string | undefined;
  jobDurationMs: number;
  readonly serverName: string;
  /** Streamed before the results of an export, like Splunk's search warnings. */
  exportNotice: string | undefined;
  /** Called when a search (job or export) starts: tests index "late" events mid-pull here. */
  onSearch: ((searchNo: number) => void) | undefined;
  readonly stats = { searches: 0, logins: 0, cancels: 0, deletes: 0, statusPolls: 0 };

  constructor(options: SplunkFakeOptions = {}) {
    super();
    this.credentials = options.credentials ?? {};
    this.jobDurationMs = options.jobDurationMs ?? 30;
    this.serverName = options.serverName ?? 'splunk-idx1';
  }

  setCredentials(credentials: SplunkCredentials): void {
    this.credentials = credentials;
  }

  /** Forget every session key (as a Splunk restart or session timeout does). */
  expireSessions(): void {
    this.sessions.clear();
  }

  /** The next job fails with this message (dispatchState FAILED). */
  failNextJob(text: string): void {
    this.failNext = text;
  }

  get jobCount(): number {
    return this.jobs.size;
  }

  /** Index events; returns their `_bkt/_cd` ids. */
  addEvents(inputs: SplunkEventInput[]): string[] {
    const nowSec = Math.floor(Date.now() / 1000);
    return inputs.map((e) => {
      const index = e.index ?? 'main';
      // One bucket per index per 10 minutes of index time, like a hot bucket rolling.
      const indexTime = e.indexTime ?? nowSec;
      const bucket = Math.floor(indexTime / 600) % 1000;
      const key = `${index}~${bucket}`;
      const offset = (this.bucketOffsets.get(key) ?? 0) + 1 + (e.raw.length % 7);
      this.bucketOffsets.set(key, offset);
      const ev: StoredEvent = {
        raw: e.raw,
        time: e.time,
        indexTime,
        index,
        host: e.host,
        source: e.source ?? '/var/log/secure',
        sourcetype: e.sourcetype ?? 'linux_secure',
        bucket,
        offset,
      };
      this.events.push(ev);
      return `${index}~${bucket}~${BUCKET_GUID}/${bucket}:${offset}`;
    });
  }

  protected faultResponse(status: number): FakeResponse {
    const text =
      status === 429
        ? 'Too many requests'
        : status === 503
          ? 'Search not executed: The maximum number of concurrent historical searches on this instance has been reached., concurrency_category="historical", concurrency_context="instance-wide", current_concurrency=6, concurrency_limit=6'
          : status === 401
            ? 'call not properly authenticated'
            : status === 400
              ? 'Unbalanced quotes.'
              : `Internal server error (injected ${status})`;
    const type = status === 401 ? 'WARN' : status === 400 ? 'FATAL' : 'ERROR';
    return { status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: { messages: [{ type, text }] } };
  }

  protected route(req: FakeRequest): FakeResponse {
    const { method, path } = req;
    if (path === '/services/auth/login' && method === 'POST') return this.login(req);
    if (!this.authenticated(req))
      return { status: 401, headers: { 'content-type': 'application/json; charset=UTF-8', 'www-authenticate': 'Basic realm="/splunk"' }, body: NOT_AUTHENTICATED };
    const form = method === 'GET' ? req.query : new URLSearchParams(req.body);
    if (path === '/services/server/info' && method === 'GET') return this.serverInfo();
    if (path === '/services/search/jobs/export' && (method === 'POST' || method === 'GET')) return this.exportSearch(form);
    if (path === '/services/search/jobs' && method === 'POST') return this.createJob(form);
    let m = /^\/services\/search\/(?:v2\/)?jobs\/([^/]+)\/results$/.exec(path);
    if (m && (method === 'GET' || (method === 'POST' && path.includes('/v2/')))) return this.results(decodeURIComponent(m[1]!), form);
    m = /^\/services\/search\/jobs\/([^/]+)\/control$/.exec(path);
    if (m && method === 'POST') return this.control(decodeURIComponent(m[1]!), form);
    m = /^\/services\/search\/(?:v2\/)?jobs\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return this.status(decodeURIComponent(m[1]!));
    if (m && method === 'DELETE') {
      this.stats.deletes++;
      return this.jobs.delete(decodeURIComponent(m[1]!)) ? this.json(200, { messages: [{ type: 'INFO', text: 'Search job cancelled.' }] }) : this.unknownSid();
    }
    return this.json(404, { messages: [{ type: 'ERROR', text: `Not Found` }] });
  }

  private json(status: number, body: unknown): FakeResponse {
    return { status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body };
  }

  private serverInfo(): FakeResponse {
    return this.json(200, {
      links: {},
      origin: 'https://127.0.0.1:8089/services/server/info',
      generator: { build: '8d0a6b7c1f2e', version: '9.3.2' },
      entry: [
        {
          name: 'server-info',
          content: { serverName: this.serverName, version: '9.3.2', build: '8d0a6b7c1f2e', product_type: 'enterprise', os_name: 'Linux', health_info: 'green', mode: 'normal' },
        },
      ],
    });
  }

  private unknownSid(): FakeResponse {
    return this.json(404, { messages: [{ type: 'FATAL', text: 'Unknown sid.' }] });
  }

  private login(req: FakeRequest): FakeResponse {
    const form = new URLSearchParams(req.body);
    const c = this.credentials;
    if (!c.username || form.get('username') !== c.username || form.get('password') !== c.password) {
      return this.json(401, { messages: [{ type: 'WARN', text: 'Login failed' }] });
    }
    this.stats.logins++;
    const key = randomBytes(24).toString('base64url');
    this.sessions.add(key);
    if (form.get('output_mode') === 'json') return this.json(200, { sessionKey: key });
    return { status: 200, headers: { 'content-type': 'text/xml; charset=UTF-8' }, body: `<response>\n  <sessionKey>${key}</sessionKey>\n</response>\n` };
  }

  private authenticated(req: FakeRequest): boolean {
    const header = req.headers['authorization'];
    if (!header) return false;
    const c = this.credentials;
    if (header.startsWith('Splunk ')) return this.sessions.has(header.slice(7));
    if (header.startsWith('Bearer ')) return c.token !== undefined && header.slice(7) === c.token;
    const basic = parseBasic(header);
    return basic !== undefined && c.username !== undefined && basic.username === c.username && basic.password === c.password;
  }

  private exportSearch(form: URLSearchParams): FakeResponse {
    const run = this.runSearch(form);
    if ('status' in run) return run;
    const mode = form.get('output_mode') ?? 'xml';
    if (mode !== 'json') return { status: 200, headers: { 'content-type': 'text/xml' }, body: '<results preview="0"></results>' };
    const lines: string[] = [];
    if (this.exportNotice) lines.push(JSON.stringify({ messages: [{ type: 'INFO', text: this.exportNotice }] }) + '\n');
    run.results.forEach((result, i) => {
      const row: Record<string, unknown> = { preview: false, offset: i };
      if (i === run.results.length - 1) row.lastrow = true;
      row.result = result;
      lines.push(JSON.stringify(row) + '\n');
    });
    // Chunks of a few rows: the client sees a stream, not one body.
    const chunks: string[] = [];
    for (let i = 0; i < lines.length; i += 50) chunks.push(lines.slice(i, i + 50).join(''));
    return { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: chunks };
  }

  private createJob(form: URLSearchParams): FakeResponse {
    const run = this.runSearch(form);
    if ('status' in run) return run;
    const sid = `${Math.floor(Date.now() / 1000)}.${this.jobs.size + 1}_${randomUUID().slice(0, 8).toUpperCase()}`;
    const job: Job = { sid, createdAt: Date.now(), results: run.results, state: 'RUNNING' };
    if (this.failNext) {
      job.state = 'FAILED';
      job.failText = this.failNext;
      this.failNext = undefined;
    }
    this.jobs.set(sid, job);
    return this.json(201, { sid });
  }

  private jobState(job: Job): string {
    if (job.state === 'CANCELED') return 'FAILED';
    const elapsed = Date.now() - job.createdAt;
    if (elapsed < this.jobDurationMs / 3) return 'QUEUED';
    if (elapsed < this.jobDurationMs) return 'RUNNING';
    return job.state === 'FAILED' ? 'FAILED' : 'DONE';
  }

  private status(sid: string): FakeResponse {
    this.stats.statusPolls++;
    const job = this.jobs.get(sid);
    if (!job) return this.unknownSid();
    const state = this.jobState(job);
    const done = state === 'DONE' || state === 'FAILED';
    const messages = state === 'FAILED' ? [{ type: 'FATAL', text: job.failText ?? 'Search was cancelled.' }] : [];
    return this.json(200, {
      links: {},
      origin: `https://127.0.0.1/services/search/jobs`,
      entry: [
        {
          name: sid,
          id: `https://127.0.0.1/services/search/jobs/${sid}`,
          content: {
            sid,
            dispatchState: state,
            isDone: done,
            isFailed: state === 'FAILED',
            isFinalized: job.state === 'CANCELED',
            doneProgress: done ? 1 : 0.5,
            resultCount: state === 'DONE' ? job.results.length : 0,
            eventCount: job.results.length,
            messages,
          },
        },
      ],
    });
  }

  private results(sid: string, form: URLSearchParams): FakeResponse {
    const job = this.jobs.get(sid);
    if (!job) return this.unknownSid();
    const state = this.jobState(job);
    if (state !== 'DONE') return { status: 204 };
    const offset = Number(form.get('offset') ?? 0);
    const count = Number(form.get('count') ?? 100);
    const page = count === 0 ? job.results.slice(offset) : job.results.slice(offset, offset + count);
    const fields = [...new Set(page.flatMap((r) => Object.keys(r)))].sort().map((name) => ({ name }));
    return this.json(200, { preview: false, init_offset: offset, messages: [], fields, results: page });
  }

  private control(sid: string, form: URLSearchParams): FakeResponse {
    const job = this.jobs.get(sid);
    if (!job) return this.unknownSid();
    if (form.get('action') === 'cancel') {
      this.stats.cancels++;
      job.state = 'CANCELED';
      return this.json(200, { messages: [{ type: 'INFO', text: 'Search job cancelled.' }] });
    }
    return this.json(400, { messages: [{ type: 'ERROR', text: `Unknown action: ${form.get('action')}` }] });
  }

  /** Evaluates the SPL subset; a 400 FakeResponse for searches Splunk would refuse. */
  private runSearch(form: URLSearchParams): { results: Record<string, string | string[]>[] } | FakeResponse {
    this.stats.searches++;
    this.onSearch?.(this.stats.searches);
    const spl = (form.get('search') ?? '').trim();
    if (!spl) return this.json(400, { messages: [{ type: 'FATAL', text: 'Empty search.' }] });
    const [first, ...pipes] = spl.split('|').map((s) => s.trim());
    const firstWord = (first ?? '').split(/\s+/)[0] ?? '';
    if (spl.startsWith('|') || firstWord !== 'search') {
      return this.json(400, { messages: [{ type: 'FATAL', text: `Unknown search command '${spl.startsWith('|') ? (pipes[0] ?? '').split(/\s+/)[0] : firstWord}'.` }] });
    }
    const earliest = parseTime(form.get('earliest_time'));
    const latest = parseTime(form.get('latest_time'));
    const filters: Array<(e: StoredEvent) => boolean> = [];
    for (const term of (first ?? '').slice(6).match(/[^\s=]+="[^"]*"|[^\s=]+=[^\s]+|"[^"]*"|\S+/g) ?? []) {
      const eq = term.indexOf('=');
      if (eq > 0) {
        const key = term.slice(0, eq);
        const value = term.slice(eq + 1).replace(/^"|"$/g, '');
        if (key === '_index_earliest') filters.push((e) => e.indexTime >= Number(value));
        else if (key === '_index_latest') filters.push((e) => e.indexTime < Number(value));
        else if (key === 'earliest') filters.push((e) => e.time >= (parseTime(value) ?? 0));
        else if (key === 'latest') filters.push((e) => e.time < (parseTime(value) ?? Infinity));
        else filters.push((e) => matchesGlob(fieldOf(e, key), value));
      } else {
        const needle = term.replace(/^"|"$/g, '').toLowerCase();
        filters.push((e) => e.raw.toLowerCase().includes(needle));
      }
    }
    let matched = this.events.filter((e) => (earliest === undefined || e.time >= earliest) && (latest === undefined || e.time < latest) && filters.every((f) => f(e)));
    // Splunk returns newest first unless told otherwise.
    matched = [...matched].sort((a, b) => b.time - a.time);
    for (const pipe of pipes) {
      const [cmd, ...args] = pipe.split(/\s+/);
      if (cmd === 'sort') {
        const keys = args.filter((a) => !/^\d+$/.test(a)).map((a) => ({ field: a.replace(/^[-+]/, ''), desc: a.startsWith('-') }));
        matched.sort((a, b) => {
          for (const k of keys) {
            const x = sortable(a, k.field);
            const y = sortable(b, k.field);
            if (x !== y) return (x < y ? -1 : 1) * (k.desc ? -1 : 1);
          }
          return 0;
        });
      } else if (cmd === 'head') {
        matched = matched.slice(0, Number(args[0] ?? 10));
      } else {
        return this.json(400, { messages: [{ type: 'FATAL', text: `Unknown search command '${cmd}'.` }] });
      }
    }
    return { results: matched.map((e, i) => this.row(e, i)) };
  }

  private row(e: StoredEvent, serial: number): Record<string, string | string[]> {
    return {
      _bkt: `${e.index}~${e.bucket}~${BUCKET_GUID}`,
      _cd: `${e.bucket}:${e.offset}`,
      _indextime: String(e.indexTime),
      _raw: e.raw,
      _serial: String(serial),
      _si: [this.serverName, e.index],
      _sourcetype: e.sourcetype,
      _time: splunkTime(e.time),
      host: e.host,
      index: e.index,
      linecount: '1',
      source: e.source,
      sourcetype: e.sourcetype,
      splunk_server: this.serverName,
    };
  }
}

/** Splunk's JSON `_time`: ISO 8601 with milliseconds and a numeric offset. */
function splunkTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

function parseTime(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '' || v === 'now') return v === 'now' ? Date.now() : undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const rel = /^([-+])(\d+)([smhd])$/.exec(v);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[3] as 's' | 'm' | 'h' | 'd'];
    return Date.now() + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * unit;
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function fieldOf(e: StoredEvent, key: string): string {
  switch (key) {
    case 'index':
      return e.index;
    case 'host':
      return e.host;
    case 'source':
      return e.source;
    case 'sourcetype':
      return e.sourcetype;
    default:
      return '';
  }
}

function sortable(e: StoredEvent, field: string): number | string {
  if (field === '_indextime') return e.indexTime;
  if (field === '_time') return e.time;
  if (field === '_cd') return e.bucket * 1e9 + e.offset;
  return fieldOf(e, field);
}

function matchesGlob(value: string, pattern: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
    'i',
  );
  return re.test(value);
}

/** Loghub lines as Splunk events (indexed now unless the record says otherwise). */
export function loghubSplunkEvents(records: TimedRecord[], options: { index?: string; sourcetype?: string; source?: string; indexTime?: number } = {}): SplunkEventInput[] {
  return records.map(({ record, timestamp }) => ({
    raw: record.line,
    time: timestamp,
    host: record.host,
    index: options.index ?? 'main',
    sourcetype: options.sourcetype ?? (record.dataset === 'openssh.log' ? 'linux_secure' : 'syslog'),
    source: options.source ?? (record.dataset === 'openssh.log' ? '/var/log/secure' : '/var/log/messages'),
    ...(options.indexTime !== undefined ? { indexTime: options.indexTime } : {}),
  }));
}
