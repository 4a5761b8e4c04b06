import { request } from 'undici';
import { ErrorCodes, PluginError, isPluginError } from '../errors.js';
import { timerDelay } from '../schema.js';
import { HttpTransport, proxyFailure, tlsFailureHint } from './transport.js';
import { retryAfterMs } from './http.js';

/**
 * A REST backend's client: one transport per collector (TLS CA and verification, the proxy
 * environment; see transport.ts), a per-request
 * deadline combined with the poll's AbortSignal, and HTTP failures turned into PluginError codes
 * the host acts on. Error messages carry the backend's own reason, never request headers.
 */

export interface HttpClientSettings {
  /** e.g. https://es.internal:9200 — no credentials. */
  baseUrl: string;
  caFile?: string | undefined;
  verify: boolean;
  timeoutMs: number;
  /** Name used in error messages ("Elasticsearch"). */
  backend: string;
}

export interface HttpClientResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface HttpRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal: AbortSignal;
}

/** Extracts the backend's human reason from an error body, for messages. */
export type HttpReasonReader = (status: number, text: string) => string | undefined;

export class HttpClient {
  private transport: HttpTransport | undefined;

  constructor(
    private readonly settings: HttpClientSettings,
    private readonly authHeader: () => string | undefined,
    private readonly reason: HttpReasonReader,
  ) {}

  /** Reads the CA file; called from start() so create() stays free of I/O. */
  async open(): Promise<void> {
    if (this.transport) return;
    this.transport = await HttpTransport.open({ caFile: this.settings.caFile, verify: this.settings.verify });
  }

  async close(): Promise<void> {
    const transport = this.transport;
    this.transport = undefined;
    await transport?.close();
  }

  /** Sends a request and returns any HTTP answer; only transport failures throw. */
  async send(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, options: HttpRequestOptions): Promise<HttpClientResponse> {
    await this.open();
    const url = new URL(path, this.settings.baseUrl);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const auth = this.authHeader();
    if (auth) headers.authorization = auth;
    let body: string | undefined;
    if (options.body !== undefined) {
      if (typeof options.body === 'string') body = options.body;
      else {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const deadline = AbortSignal.timeout(timerDelay(this.settings.timeoutMs));
    const signal = AbortSignal.any([options.signal, deadline]);
    try {
      const res = await request(url, { method, headers, body, signal, dispatcher: this.transport?.dispatcher });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    } catch (err) {
      throw this.transportError(err, method, url.pathname, options.signal, deadline);
    }
  }

  /**
   * Sends and, on a 2xx, hands the body over as a stream of lines (Splunk export). The caller
   * returns false to stop reading; the connection is then dropped, which ends the search.
   */
  async lines(method: 'GET' | 'POST', path: string, options: HttpRequestOptions, onLine: (line: string) => boolean | void): Promise<HttpClientResponse | undefined> {
    await this.open();
    const url = new URL(path, this.settings.baseUrl);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const auth = this.authHeader();
    if (auth) headers.authorization = auth;
    const deadline = AbortSignal.timeout(timerDelay(this.settings.timeoutMs));
    const stopper = new AbortController();
    const signal = AbortSignal.any([options.signal, deadline, stopper.signal]);
    let body: string | undefined;
    if (typeof options.body === 'string') body = options.body;
    try {
      const res = await request(url, { method, headers, body, signal, dispatcher: this.transport?.dispatcher });
      if (res.statusCode < 200 || res.statusCode > 299) {
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      }
      let buffered = '';
      for await (const chunk of res.body) {
        buffered += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line && onLine(line) === false) {
            stopper.abort();
            res.body.destroy();
            return undefined;
          }
        }
      }
      if (buffered.trim()) onLine(buffered.trim());
      return undefined;
    } catch (err) {
      if (isPluginError(err)) {
        stopper.abort();
        throw err;
      }
      if (stopper.signal.aborted && !options.signal.aborted && !deadline.aborted) return undefined;
      throw this.transportError(err, method, url.pathname, options.signal, deadline);
    }
  }

  /** Sends and requires a 2xx JSON answer. */
  async json<T>(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, options: HttpRequestOptions): Promise<{ body: T; response: HttpClientResponse }> {
    const response = await this.send(method, path, options);
    if (response.status < 200 || response.status > 299) throw this.statusError(response, method, path);
    return { body: parseJsonBody<T>(response.text, `${this.settings.backend} ${method} ${path}`), response };
  }

  transportError(err: unknown, method: string, path: string, callerSignal: AbortSignal, deadline: AbortSignal): PluginError {
    const where = `${this.settings.backend} ${method} ${path}`;
    if (callerSignal.aborted) return new PluginError(ErrorCodes.ABORTED, `${where} aborted: the collector is stopping or the poll timed out`, { cause: err });
    if (deadline.aborted) return new PluginError(ErrorCodes.TIMEOUT, `${where} did not answer within ${this.settings.timeoutMs} ms (request_timeout_seconds)`, { cause: err });
    const proxy = proxyFailure(err);
    if (proxy) return new PluginError(proxy.code, `${where}: ${proxy.message}`, { detail: proxy.detail ?? {} });
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = e.code ?? e.cause?.code ?? '';
    const tls = tlsFailureHint(code);
    if (tls) return new PluginError(ErrorCodes.BAD_CONFIG, `${where} (${this.settings.baseUrl}): ${tls}`, { cause: err });
    return new PluginError(ErrorCodes.UNAVAILABLE, `${where} failed: ${code || e.message}`, { cause: err });
  }

  statusError(response: HttpClientResponse, method: string, path: string): PluginError {
    const where = `${this.settings.backend} ${method} ${path}`;
    const reason = this.reason(response.status, response.text) ?? snippet(response.text);
    const retryAfterMs = parseRetryAfterHeader(response.headers['retry-after']);
    const s = response.status;
    const detail = { status: s };
    if (s === 401) return new PluginError(ErrorCodes.AUTH_FAILED, `${where}: credentials refused (401: ${reason}); check the auth block`, { detail });
    if (s === 403) return new PluginError(ErrorCodes.AUTH_FAILED, `${where}: permission denied (403: ${reason}); grant the user read access`, { detail });
    if (s === 429) return new PluginError(ErrorCodes.RATE_LIMITED, `${where}: rate limited (429: ${reason})`, { detail, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    if (s >= 500) return new PluginError(ErrorCodes.UNAVAILABLE, `${where}: server error (${s}: ${reason})`, { detail, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    return new PluginError(ErrorCodes.BAD_RESPONSE, `${where}: unexpected status ${s}: ${reason}`, { detail });
  }
}

export function parseJsonBody<T>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PluginError(ErrorCodes.BAD_RESPONSE, `${where} answered a body that is not JSON: ${snippet(text)}`);
  }
}

export function snippet(text: string, max = 200): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t || '(empty body)';
}

/** A raw Retry-After header value (seconds or an HTTP date), read as retryAfterMs() reads it. */
export function parseRetryAfterHeader(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v ? retryAfterMs({ get: (name) => (name === 'retry-after' ? v : null) }) : undefined;
}
