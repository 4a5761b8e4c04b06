import {
  ErrorCodes,
  HttpClient,
  type HttpClientResponse,
  type HttpRequestOptions,
  isPluginError,
  parseJsonBody,
  PluginError,
  type TimeRange,
  WindowCursor,
  type WindowCursorOptions,
} from '@reactive-fabric/core';
import type { CollectorDescription, HealthReport, PluginContext, PollRequest, PollResult, SourceEvent, SourceInstance } from '@reactive-fabric/core';
import type { SplunkConfig } from './config.js';
import { rowId, rowIndexTime, rowToEvent, type SplunkRow } from './mapping.js';

/** Splunk error bodies: `{"messages":[{"type":"FATAL","text":"…"}]}`. */
export function splunkReason(_status: number, text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { messages?: Array<{ type?: string; text?: string }> };
    if (Array.isArray(body.messages) && body.messages.length > 0)
      return body.messages
        .map((m) => `${m.type ?? 'ERROR'}: ${m.text ?? ''}`)
        .join('; ')
        .slice(0, 400);
  } catch {
    // XML or HTML error pages: the caller shows a snippet.
  }
  return undefined;
}

export function checkAuth(auth: SplunkConfig['auth']): void {
  const need = (field: 'username' | 'password' | 'token') => {
    if (!auth[field]) throw new PluginError(ErrorCodes.BAD_CONFIG, `auth.type is "${auth.type}" but auth.${field} is not set: add it (use \${ENV_VAR} for secrets)`);
  };
  if (auth.type === 'token') need('token');
  else {
    need('username');
    need('password');
  }
}

interface JobContent {
  dispatchState?: string;
  isDone?: boolean;
  isFailed?: boolean;
  messages?: Array<{ type?: string; text?: string }>;
}

/** Sink for result rows; returns false once the poll has all the events it may take. */
type RowHandler = (row: SplunkRow) => boolean;

const form = (fields: Record<string, string | number>) => new URLSearchParams(Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)])).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export class SplunkSource implements SourceInstance {
  private readonly http: HttpClient;
  private readonly baseUrl: string;
  private sessionKey: string | undefined;
  private readonly cursorOptions: WindowCursorOptions;

  constructor(
    private readonly config: SplunkConfig,
    private readonly context: PluginContext,
  ) {
    checkAuth(config.auth);
    if (config.query?.includes('|')) {
      throw new PluginError(
        ErrorCodes.BAD_CONFIG,
        `query "${config.query}" contains a pipe: it must be search terms only (the plugin adds its own | sort), e.g. sourcetype=linux_secure action=failure`,
      );
    }
    this.baseUrl = `${config.scheme}://${config.host}:${config.port}`;
    this.http = new HttpClient(
      { baseUrl: this.baseUrl, caFile: config.tls.ca_file, verify: config.tls.verify, timeoutMs: config.request_timeout_seconds * 1000, backend: 'Splunk' },
      () => this.authorization(),
      splunkReason,
    );
    // Index time has whole seconds: windows start on a second; their end, taken up to the
    // current second (latest is rounded up), is read again whole by the next window.
    this.cursorOptions = {
      overlapMs: config.overlap_seconds * 1000,
      windowMs: Math.max(1000, Math.round(config.query_window_minutes * 60) * 1000),
      maxSeen: config.max_seen_ids,
      granularityMs: 1000,
    };
  }

  async start(): Promise<void> {
    await this.http.open();
  }

  async stop(): Promise<void> {
    this.sessionKey = undefined;
    await this.http.close();
  }

  describe(): CollectorDescription {
    return { backend: 'splunk', target: this.baseUrl, index: this.config.index, mode: this.config.mode, auth: this.config.auth.type };
  }

  async healthCheck(signal: AbortSignal): Promise<HealthReport> {
    try {
      await this.call('GET', '/services/server/info', { query: { output_mode: 'json' }, signal });
      return { status: 'healthy' };
    } catch (err) {
      const e = isPluginError(err) ? err : new PluginError(ErrorCodes.UNAVAILABLE, String(err));
      return { status: e.code === ErrorCodes.AUTH_FAILED ? 'unhealthy' : 'degraded', reason: e.message, code: e.code };
    }
  }

  private authorization(): string | undefined {
    const a = this.config.auth;
    if (a.type === 'token') return `Bearer ${a.token}`;
    if (a.type === 'basic') return `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
    return this.sessionKey ? `Splunk ${this.sessionKey}` : undefined;
  }

  private async login(signal: AbortSignal): Promise<void> {
    this.sessionKey = undefined;
    const res = await this.http.send('POST', '/services/auth/login', {
      body: form({ username: this.config.auth.username ?? '', password: this.config.auth.password ?? '', output_mode: 'json' }),
      headers: FORM,
      signal,
    });
    if (res.status !== 200) throw this.http.statusError(res, 'POST', '/services/auth/login');
    const body = parseJsonBody<{ sessionKey?: unknown }>(res.text, 'Splunk POST /services/auth/login');
    if (typeof body?.sessionKey !== 'string' || !body.sessionKey) throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Splunk login answered without sessionKey');
    this.sessionKey = body.sessionKey;
  }

  /**
   * One request with session handling: log in first when needed, and once more when splunkd
   * forgot the session (restart, timeout) before calling the credentials bad.
   */
  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, options: HttpRequestOptions): Promise<HttpClientResponse> {
    const session = this.config.auth.type === 'session';
    if (session && !this.sessionKey) await this.login(options.signal);
    let res = await this.http.send(method, path, options);
    if (res.status === 401 && session) {
      await this.login(options.signal);
      res = await this.http.send(method, path, options);
    }
    if (res.status < 200 || res.status > 299) throw this.http.statusError(res, method, path);
    return res;
  }

  private async callJson<T>(method: 'GET' | 'POST' | 'DELETE', path: string, options: HttpRequestOptions): Promise<T> {
    const res = await this.call(method, path, options);
    const body = parseJsonBody<T>(res.text, `Splunk ${method} ${path}`);
    if (body === null || typeof body !== 'object') throw new PluginError(ErrorCodes.BAD_RESPONSE, `Splunk ${method} ${path} answered JSON that is not an object`);
    return body;
  }

  private searchParams(range: TimeRange): { search: string; earliest_time: number; latest_time: number } {
    const earliest = Math.floor(range.from / 1000);
    const latest = Math.ceil(range.to / 1000);
    const query = this.config.query ? ` ${this.config.query}` : '';
    return {
      // Ordered by index time so a poll cut at maxEvents can resume where it stopped.
      search: `search index="${this.config.index}" _index_earliest=${earliest} _index_latest=${latest}${query} | sort 0 _indextime`,
      // _time prunes buckets, so it must be wide: events can be indexed long after they happened.
      earliest_time: Math.floor(earliest - this.config.earliest_lookback_hours * 3600),
      latest_time: latest + 86_400,
    };
  }

  async poll(request: PollRequest): Promise<PollResult> {
    const { signal } = request;
    const maxEvents = Math.max(1, request.maxEvents);
    const now = Date.now();
    const cursor = WindowCursor.resume(this.cursorOptions, request.checkpoint, now, () =>
      this.context.logger.warn({}, 'checkpoint is not one this plugin wrote; starting query_window_minutes back'),
    );
    const range = cursor.nextRange(now);
    const events: SourceEvent[] = [];
    let lastTs = range.from;
    const onRow: RowHandler = (row) => {
      const id = rowId(row);
      const ts = rowIndexTime(row);
      if (cursor.has(id)) return true;
      events.push(rowToEvent(row));
      cursor.add(id, ts);
      lastTs = ts;
      return events.length < maxEvents;
    };
    const params = this.searchParams(range);
    const exhausted = this.config.mode === 'export' ? await this.exportRows(params, onRow, signal) : await this.jobRows(params, onRow, signal);
    const hasMore = exhausted ? cursor.finish(range, now) : (cursor.pause(range, lastTs), true);
    return { events, checkpoint: cursor.toCheckpoint() as unknown as PollResult['checkpoint'], hasMore };
  }

  /** Streams the export; true when every row was read. */
  private async exportRows(params: ReturnType<SplunkSource['searchParams']>, onRow: RowHandler, signal: AbortSignal): Promise<boolean> {
    const path = '/services/search/jobs/export';
    const session = this.config.auth.type === 'session';
    let exhausted = true;
    const read = (line: string): boolean => {
      const obj = parseJsonBody<Record<string, unknown>>(line, `Splunk export line "${line.slice(0, 80)}"`);
      if (obj === null || typeof obj !== 'object') throw new PluginError(ErrorCodes.BAD_RESPONSE, `Splunk export streamed a line that is not an object: ${line.slice(0, 80)}`);
      if (Array.isArray(obj.messages)) {
        const fatal = (obj.messages as Array<{ type?: string; text?: string }>).find((m) => m.type === 'FATAL' || m.type === 'ERROR');
        if (fatal) throw new PluginError(ErrorCodes.UNAVAILABLE, `Splunk search failed while streaming: ${fatal.text ?? ''}`);
        return true;
      }
      if (obj.preview === true) return true;
      const result = obj.result;
      if (result === undefined) return true;
      if (result === null || typeof result !== 'object' || Array.isArray(result))
        throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Splunk export streamed a result that is not an object');
      if (!onRow(result as SplunkRow)) {
        exhausted = obj.lastrow === true;
        return false;
      }
      return true;
    };
    for (let attempt = 0; attempt < 2; attempt++) {
      if (session && !this.sessionKey) await this.login(signal);
      const options: HttpRequestOptions = { body: form({ ...params, output_mode: 'json' }), headers: FORM, signal };
      const failed = await this.http.lines('POST', path, options, read);
      if (!failed) return exhausted;
      if (failed.status === 401 && session && attempt === 0) {
        this.sessionKey = undefined;
        continue;
      }
      throw this.statusErrorWithConfigHint(failed, 'POST', path);
    }
    return exhausted;
  }

  /** A 400 on a search is the SPL: point at the config field. */
  private statusErrorWithConfigHint(res: HttpClientResponse, method: string, path: string): PluginError {
    if (res.status === 400) {
      return new PluginError(
        ErrorCodes.BAD_CONFIG,
        `Splunk refused the search (400: ${splunkReason(400, res.text) ?? res.text.slice(0, 200)}); check index and query in the collector config`,
      );
    }
    return this.http.statusError(res, method, path);
  }

  /** Runs a search job, waits for it and pages its results; true when every row was read. */
  private async jobRows(params: ReturnType<SplunkSource['searchParams']>, onRow: RowHandler, signal: AbortSignal): Promise<boolean> {
    let created: { sid?: unknown };
    try {
      created = await this.callJson<{ sid?: unknown }>('POST', '/services/search/jobs', {
        body: form({ ...params, exec_mode: 'normal', output_mode: 'json' }),
        headers: FORM,
        signal,
      });
    } catch (err) {
      if (isPluginError(err) && err.detail?.status === 400)
        throw new PluginError(ErrorCodes.BAD_CONFIG, `${err.message}; check index and query in the collector config`, { cause: err });
      throw err;
    }
    if (typeof created.sid !== 'string' || !created.sid) throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Splunk search/jobs answered without sid');
    const sid = created.sid;
    const jobPath = `/services/search/jobs/${encodeURIComponent(sid)}`;
    let finished = false;
    try {
      await this.waitForJob(jobPath, signal);
      finished = true;
      const count = this.config.max_results_per_query;
      for (let offset = 0; ; offset += count) {
        const rows = await this.resultsPage(sid, offset, count, signal);
        for (const row of rows) if (!onRow(row)) return false;
        if (rows.length < count) return true;
      }
    } finally {
      await this.disposeJob(jobPath, finished);
    }
  }

  private async waitForJob(jobPath: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.config.job_timeout_seconds * 1000;
    for (;;) {
      const status = await this.callJson<{ entry?: Array<{ content?: JobContent }> }>('GET', jobPath, { query: { output_mode: 'json' }, signal });
      const content = status.entry?.[0]?.content;
      if (!content || typeof content !== 'object') throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Splunk job status answered without entry[0].content');
      if (content.isFailed === true || content.dispatchState === 'FAILED') {
        const text =
          (content.messages ?? [])
            .map((m) => m.text)
            .filter(Boolean)
            .join('; ') || 'no message';
        throw new PluginError(ErrorCodes.UNAVAILABLE, `Splunk search job failed: ${text}`);
      }
      if (content.isDone === true || content.dispatchState === 'DONE') return;
      if (Date.now() >= deadline)
        throw new PluginError(ErrorCodes.TIMEOUT, `Splunk search job not done after ${this.config.job_timeout_seconds} s (job_timeout_seconds); it was cancelled`);
      await sleep(this.config.job_poll_interval_ms, signal);
    }
  }

  private async resultsPage(sid: string, offset: number, count: number, signal: AbortSignal): Promise<SplunkRow[]> {
    const v2 = this.config.results_api === 'v2';
    const path = v2 ? `/services/search/v2/jobs/${encodeURIComponent(sid)}/results` : `/services/search/jobs/${encodeURIComponent(sid)}/results`;
    const fields = { output_mode: 'json', offset, count };
    for (let attempt = 0; attempt < 20; attempt++) {
      const res = v2 ? await this.call('POST', path, { body: form(fields), headers: FORM, signal }) : await this.call('GET', path, { query: fields, signal });
      // 204: results not ready yet (the job is finalising).
      if (res.status === 204) {
        await sleep(this.config.job_poll_interval_ms, signal);
        continue;
      }
      const body = parseJsonBody<{ results?: unknown }>(res.text, `Splunk ${v2 ? 'POST' : 'GET'} ${path}`);
      if (body === null || typeof body !== 'object' || !Array.isArray(body.results)) throw new PluginError(ErrorCodes.BAD_RESPONSE, `Splunk results answered without results[]`);
      return body.results as SplunkRow[];
    }
    throw new PluginError(ErrorCodes.UNAVAILABLE, 'Splunk kept answering 204 (no results yet) for a finished job');
  }

  /** Cancels an unfinished job and deletes it: a poll must not leave searches running on splunkd. */
  private async disposeJob(jobPath: string, finished: boolean): Promise<void> {
    const signal = AbortSignal.timeout(5000);
    try {
      if (!finished) await this.http.send('POST', `${jobPath}/control`, { body: form({ action: 'cancel', output_mode: 'json' }), headers: FORM, signal });
      await this.http.send('DELETE', jobPath, { query: { output_mode: 'json' }, signal });
    } catch (err) {
      this.context.logger.debug({ err: (err as Error).message }, 'cleaning up the search job failed; splunkd expires it on its own');
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new PluginError(ErrorCodes.ABORTED, 'poll aborted while waiting for the Splunk job'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new PluginError(ErrorCodes.ABORTED, 'poll aborted while waiting for the Splunk job'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
