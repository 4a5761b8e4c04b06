import { ErrorCodes, HttpClient, isPluginError, PluginError, type TimeRange, WindowCursor, type WindowCursorOptions } from '@reactive-fabric/core';
import type { CollectorDescription, HealthReport, PluginContext, PollRequest, PollResult, SourceEvent, SourceInstance } from '@reactive-fabric/core';
import type { GraylogConfig } from './config.js';
import { messageId, messageTime, messageToEvent, type GraylogMessage } from './mapping.js';

/** Graylog error bodies: `{"type":"ApiError","message":"…"}`. */
export function graylogReason(_status: number, text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string' && body.message) return body.message.slice(0, 400);
  } catch {
    // Empty 401 bodies and proxy HTML pages: the caller shows a snippet.
  }
  return undefined;
}

export function checkConfig(config: GraylogConfig): void {
  const { auth } = config;
  const need = (field: 'username' | 'password' | 'token') => {
    if (!auth[field]) throw new PluginError(ErrorCodes.BAD_CONFIG, `auth.type is "${auth.type}" but auth.${field} is not set: add it (use \${ENV_VAR} for secrets)`);
  };
  if (auth.type === 'token') need('token');
  else {
    need('username');
    need('password');
  }
  if (config.api === 'universal' && config.streams.length > 1) {
    throw new PluginError(
      ErrorCodes.BAD_CONFIG,
      `streams lists ${config.streams.length} streams but the universal search filters one: set api: scripting, or one collector per stream`,
    );
  }
}

/** Graylog's result window (Elasticsearch/OpenSearch underneath). */
const RESULT_WINDOW = 10_000;

export class GraylogSource implements SourceInstance {
  private readonly http: HttpClient;
  private readonly baseUrl: string;
  private readonly cursorOptions: WindowCursorOptions;

  constructor(
    private readonly config: GraylogConfig,
    private readonly context: PluginContext,
  ) {
    checkConfig(config);
    this.baseUrl = `${config.scheme}://${config.host}:${config.port}`;
    const a = config.auth;
    const header = `Basic ${Buffer.from(a.type === 'token' ? `${a.token}:token` : `${a.username}:${a.password}`).toString('base64')}`;
    this.http = new HttpClient(
      { baseUrl: this.baseUrl, caFile: config.tls.ca_file, verify: config.tls.verify, timeoutMs: config.request_timeout_seconds * 1000, backend: 'Graylog' },
      () => header,
      graylogReason,
    );
    this.cursorOptions = { overlapMs: config.overlap_seconds * 1000, windowMs: config.query_window_minutes * 60_000, maxSeen: config.max_seen_ids };
  }

  async start(): Promise<void> {
    await this.http.open();
  }

  async stop(): Promise<void> {
    await this.http.close();
  }

  describe(): CollectorDescription {
    return { backend: 'graylog', target: this.baseUrl, api: this.config.api, streams: this.config.streams.join(',') || 'all', auth: this.config.auth.type };
  }

  async healthCheck(signal: AbortSignal): Promise<HealthReport> {
    try {
      await this.http.json('GET', '/api/system', { signal });
      return { status: 'healthy' };
    } catch (err) {
      const e = isPluginError(err) ? err : new PluginError(ErrorCodes.UNAVAILABLE, String(err));
      return { status: e.code === ErrorCodes.AUTH_FAILED ? 'unhealthy' : 'degraded', reason: e.message, code: e.code };
    }
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
    let exhausted = false;
    // Pages restart at the newest timestamp read (offset 0, already-seen ids skipped), so paging
    // never depends on an order among equal timestamps and never nears the result window; the
    // offset only grows while a whole page shares one timestamp.
    let pageFrom = range.from;
    let offset = 0;
    const limit = this.config.max_results_per_query;
    outer: while (events.length < maxEvents) {
      if (offset + limit > RESULT_WINDOW) {
        throw new PluginError(
          ErrorCodes.BAD_RESPONSE,
          `more than ${RESULT_WINDOW} Graylog messages share the timestamp ${new Date(pageFrom).toISOString()}; they cannot be paged within the result window`,
        );
      }
      const page = await this.search({ from: pageFrom, to: range.to }, offset, limit, signal);
      let consumed = 0;
      for (const m of page) {
        consumed++;
        const id = messageId(m);
        const ts = messageTime(m);
        if (ts < pageFrom)
          throw new PluginError(ErrorCodes.BAD_RESPONSE, `Graylog returned a message (${id}) older than the requested range: the search is not sorted by timestamp ascending`);
        if (cursor.has(id)) continue;
        events.push(messageToEvent(m));
        cursor.add(id, ts);
        lastTs = ts;
        if (events.length >= maxEvents) break outer;
      }
      if (page.length < limit && consumed === page.length) {
        exhausted = true;
        break;
      }
      const newest = messageTime(page[page.length - 1]!);
      if (newest > pageFrom) {
        pageFrom = newest;
        offset = 0;
      } else offset += page.length;
    }
    // Graylog's `to` is inclusive: messages stamped exactly at range.to are already in `seen`.
    const hasMore = exhausted ? cursor.finish(range, now) : (cursor.pause(range, lastTs), true);
    return { events, checkpoint: cursor.toCheckpoint() as unknown as PollResult['checkpoint'], hasMore };
  }

  private async search(range: TimeRange, offset: number, limit: number, signal: AbortSignal): Promise<GraylogMessage[]> {
    const from = new Date(range.from).toISOString();
    const to = new Date(range.to).toISOString();
    return this.config.api === 'universal' ? this.universal(from, to, offset, limit, signal) : this.scripting(from, to, offset, limit, signal);
  }

  private async universal(from: string, to: string, offset: number, limit: number, signal: AbortSignal): Promise<GraylogMessage[]> {
    const query: Record<string, string | number> = { query: this.config.query, from, to, limit, offset, sort: 'timestamp:asc' };
    if (this.config.streams[0]) query.filter = `streams:${this.config.streams[0]}`;
    const { body } = await this.request<{ messages?: unknown }>('GET', '/api/search/universal/absolute', { query, signal });
    if (body === null || typeof body !== 'object' || !Array.isArray(body.messages))
      throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Graylog universal search answered without messages[]');
    return body.messages.map((entry) => {
      const e = entry as { message?: unknown; index?: unknown };
      if (e === null || typeof e !== 'object' || e.message === null || typeof e.message !== 'object')
        throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Graylog universal search answered an entry without message{}');
      return { fields: e.message as Record<string, unknown>, ...(typeof e.index === 'string' ? { index: e.index } : {}) };
    });
  }

  private async scripting(from: string, to: string, offset: number, limit: number, signal: AbortSignal): Promise<GraylogMessage[]> {
    const fields = [...new Set(['timestamp', '_id', 'gl2_message_id', ...this.config.fields])];
    const body = {
      query: this.config.query,
      streams: this.config.streams,
      timerange: { type: 'absolute', from, to },
      sort: 'timestamp',
      sort_order: 'asc',
      from: offset,
      size: limit,
      fields,
    };
    const { body: res } = await this.request<{ schema?: unknown; datarows?: unknown }>('POST', '/api/search/messages', {
      body,
      signal,
      headers: { 'x-requested-by': 'reactive-fabric' },
    });
    if (res === null || typeof res !== 'object' || !Array.isArray(res.schema) || !Array.isArray(res.datarows)) {
      throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Graylog scripting search answered without schema[] and datarows[]');
    }
    const columns = res.schema.map((c) => String((c as { field?: unknown }).field ?? ''));
    return res.datarows.map((row) => {
      if (!Array.isArray(row)) throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Graylog scripting search answered a data row that is not an array');
      const out: Record<string, unknown> = {};
      columns.forEach((c, i) => {
        if (row[i] !== null && row[i] !== undefined) out[c] = row[i];
      });
      return { fields: out };
    });
  }

  /** A 400 on a search is the query or the streams: point at the config. */
  private async request<T>(method: 'GET' | 'POST', path: string, options: Parameters<HttpClient['json']>[2]): Promise<{ body: T }> {
    try {
      return await this.http.json<T>(method, path, options);
    } catch (err) {
      if (isPluginError(err) && err.code === ErrorCodes.BAD_RESPONSE && err.detail?.status === 400) {
        throw new PluginError(ErrorCodes.BAD_CONFIG, `${err.message}; check query and streams in the collector config`, { cause: err });
      }
      throw err;
    }
  }
}
