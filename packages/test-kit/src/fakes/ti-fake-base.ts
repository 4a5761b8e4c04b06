import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * Shared machinery of the threat-intel API fakes (VirusTotal, AbuseIPDB, OTX, MISP): a loopback
 * HTTP server with a request log, API-key checks, per-minute/per-day quotas, injected 5xx answers
 * and slow answers. Each vendor fake supplies its routes and its exact error bodies and headers.
 */

export interface FakeRequestRecord {
  method: string;
  /** Path without the query string, e.g. "/api/v3/files/abc". */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body of POST requests, if any. */
  body?: unknown;
  /** Request headers (lower-case names); the values of credential headers are masked. */
  headers: Record<string, string>;
  status: number;
  /** Which quota bucket the request counted against (vendor-specific, e.g. "check"). */
  bucket: string;
  at: number;
}

export interface QuotaLimits {
  perMinute?: number;
  perDay?: number;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeIncoming {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  rawBody: string;
}

export interface QuotaState {
  bucket: string;
  /** Which limit was hit. */
  window: 'minute' | 'day';
  limit: number;
  remaining: number;
  /** Epoch ms when the window that was hit resets. */
  resetAt: number;
}

export interface TiFakeOptions {
  /** Fixed port (for manual runs); 0 or absent picks a free one. */
  port?: number;
  /** Keys the fake accepts. */
  apiKeys?: string[];
  /** Quotas per bucket; the key "*" applies to every bucket without its own entry. */
  quotas?: Record<string, QuotaLimits>;
  /** Delay before every answer, in ms. */
  delayMs?: number;
  /**
   * Serve HTTPS with this certificate and key (PEM) instead of plain HTTP, as a self-hosted
   * instance with its own CA does. `clientCa` makes the fake require a client certificate it signed.
   */
  tls?: { cert: string; key: string; clientCa?: string };
}

export abstract class TiFake {
  readonly requests: FakeRequestRecord[] = [];
  apiKeys: Set<string>;
  quotas: Record<string, QuotaLimits>;
  delayMs: number;
  /** The fake's clock; tests move it with advance() to cross quota windows. */
  clockOffsetMs = 0;
  private readonly counters = new Map<string, { minute: number; minuteCount: number; day: number; dayCount: number }>();
  private failures: Array<{ status: number } | { response: FakeResponse }> = [];
  private server: http.Server | undefined;
  private readonly port: number;
  private readonly tls: TiFakeOptions['tls'];
  private baseUrl = '';
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(options: TiFakeOptions, defaultKeys: string[]) {
    this.port = options.port ?? 0;
    this.tls = options.tls;
    this.apiKeys = new Set(options.apiKeys ?? defaultKeys);
    this.quotas = options.quotas ?? {};
    this.delayMs = options.delayMs ?? 0;
  }

  /** Where the API root lives, e.g. "http://127.0.0.1:43121/api/v3". */
  get url(): string {
    if (!this.baseUrl) throw new Error('fake not started: call start() first');
    return this.baseUrl + this.apiPrefix;
  }

  /** Origin without the API prefix. */
  get origin(): string {
    if (!this.baseUrl) throw new Error('fake not started: call start() first');
    return this.baseUrl;
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  advance(ms: number): void {
    this.clockOffsetMs += ms;
  }

  /** The next `count` requests answer with `status` (e.g. 503, 504) before any other processing. */
  failNext(count: number, status = 503): void {
    for (let i = 0; i < count; i++) this.failures.push({ status });
  }

  /** The next request gets exactly this answer (to test malformed or unexpected responses). */
  respondNext(response: FakeResponse): void {
    this.failures.push({ response });
  }

  setQuota(bucket: string, limits: QuotaLimits): void {
    this.quotas[bucket] = limits;
  }

  /** Forget every counted request, as if all windows had reset. */
  resetQuota(): void {
    this.counters.clear();
  }

  /** Requests whose path ends with the given suffix (or all when absent). */
  count(pathIncludes?: string): number {
    return pathIncludes === undefined ? this.requests.length : this.requests.filter((r) => r.path.includes(pathIncludes)).length;
  }

  async start(): Promise<string> {
    if (this.server) return this.url;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      void this.dispatch(req, res);
    };
    const tls = this.tls;
    const server = tls
      ? https.createServer({ cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : http.createServer(handler);
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.baseUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The API root below the origin, e.g. "/api/v3". */
  protected abstract readonly apiPrefix: string;
  /** The key the request carries, or undefined when it carries none. */
  protected abstract extractKey(req: FakeIncoming): string | undefined;
  /** The vendor's answer to a missing or wrong key. */
  protected abstract authError(req: FakeIncoming, key: string | undefined): FakeResponse;
  /** The vendor's answer when a quota is exhausted. */
  protected abstract quotaError(req: FakeIncoming, state: QuotaState): FakeResponse;
  /** The vendor's answer for an injected server error. */
  protected abstract serverError(req: FakeIncoming, status: number): FakeResponse;
  /** Serve an authenticated, within-quota request. */
  protected abstract route(req: FakeIncoming): FakeResponse;
  /** The quota bucket a request counts against; vendors with per-endpoint limits override it. */
  protected bucketOf(_req: FakeIncoming): string {
    return 'default';
  }
  /** Extra headers on successful answers (e.g. AbuseIPDB's X-RateLimit-Remaining). */
  protected quotaHeaders(_req: FakeIncoming, _bucket: string, _remaining: number | undefined, _limit: number | undefined): Record<string, string> {
    return {};
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown;
    if (rawBody) {
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = rawBody;
      }
    }
    const incoming: FakeIncoming = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers, body, rawBody };
    const bucket = this.bucketOf(incoming);
    const answer = this.answer(incoming, bucket);
    this.requests.push({
      method: incoming.method,
      path: incoming.path,
      query: Object.fromEntries(u.searchParams),
      ...(body === undefined ? {} : { body }),
      headers: maskedHeaders(req.headers),
      status: answer.status,
      bucket,
      at: this.now(),
    });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (res.destroyed) return;
    const headers: Record<string, string> = { ...(answer.headers ?? {}) };
    let payload = '';
    if (answer.body !== undefined) {
      payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      headers['content-type'] ??= typeof answer.body === 'string' ? 'text/html; charset=utf-8' : 'application/json';
    }
    res.writeHead(answer.status, headers);
    res.end(payload);
  }

  private answer(req: FakeIncoming, bucket: string): FakeResponse {
    const failure = this.failures.shift();
    if (failure) return 'response' in failure ? failure.response : this.serverError(req, failure.status);
    const key = this.extractKey(req);
    if (key === undefined || !this.apiKeys.has(key)) return this.authError(req, key);
    const quota = this.consume(bucket);
    if (quota.exceeded) return this.quotaError(req, quota.exceeded);
    const answer = this.route(req);
    return { ...answer, headers: { ...this.quotaHeaders(req, bucket, quota.remaining, quota.limit), ...(answer.headers ?? {}) } };
  }

  private consume(bucket: string): { exceeded?: QuotaState; remaining?: number; limit?: number } {
    const limits = this.quotas[bucket] ?? this.quotas['*'] ?? {};
    const now = this.now();
    const minute = Math.floor(now / 60_000);
    const day = Math.floor(now / 86_400_000);
    let c = this.counters.get(bucket);
    if (!c) {
      c = { minute, minuteCount: 0, day, dayCount: 0 };
      this.counters.set(bucket, c);
    }
    if (c.minute !== minute) {
      c.minute = minute;
      c.minuteCount = 0;
    }
    if (c.day !== day) {
      c.day = day;
      c.dayCount = 0;
    }
    if (limits.perDay !== undefined && c.dayCount >= limits.perDay) {
      return { exceeded: { bucket, window: 'day', limit: limits.perDay, remaining: 0, resetAt: (day + 1) * 86_400_000 } };
    }
    if (limits.perMinute !== undefined && c.minuteCount >= limits.perMinute) {
      return { exceeded: { bucket, window: 'minute', limit: limits.perMinute, remaining: 0, resetAt: (minute + 1) * 60_000 } };
    }
    c.minuteCount++;
    c.dayCount++;
    if (limits.perDay !== undefined) return { remaining: limits.perDay - c.dayCount, limit: limits.perDay };
    if (limits.perMinute !== undefined) return { remaining: limits.perMinute - c.minuteCount, limit: limits.perMinute };
    return {};
  }
}

const CREDENTIAL_HEADERS = new Set(['x-apikey', 'key', 'x-otx-api-key', 'authorization']);

function maskedHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = CREDENTIAL_HEADERS.has(k) ? '[present]' : Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Seconds until `resetAt` (epoch ms), at least 1, as vendors put in Retry-After. */
export function secondsUntil(resetAt: number, now: number): number {
  return Math.max(1, Math.ceil((resetAt - now) / 1000));
}

export function isIPv4(value: string): boolean {
  const parts = value.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

export function isIPv6(value: string): boolean {
  return value.includes(':') && /^[0-9a-fA-F:.]+$/.test(value);
}
