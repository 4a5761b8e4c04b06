import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What the log-store fakes (Elasticsearch/OpenSearch, Splunk, Graylog) share: a node:http server
 * on 127.0.0.1 with a random port, a request journal, and scripted faults (status codes with the
 * vendor's own error body, malformed bodies, slow answers, dropped connections) for tests.
 */

export interface FakeRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  /** Objects are sent as JSON; strings as they are; arrays of strings are streamed chunk by chunk. */
  body?: unknown;
  /** Pause between streamed chunks, to look like a server producing results as it goes. */
  chunkDelayMs?: number;
}

export type Fault =
  /** Answer with this status and the vendor's error body for it (429 gets Retry-After when given). */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; times?: number; match?: RegExp }
  /** Answer 200 with a body that is not what the API documents. */
  | { kind: 'malformed'; body?: string; contentType?: string; times?: number; match?: RegExp }
  /** Wait before answering (to trip client timeouts). */
  | { kind: 'slow'; delayMs: number; times?: number; match?: RegExp }
  /** Drop the connection without an answer. */
  | { kind: 'reset'; times?: number; match?: RegExp };

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingMessage['headers'];
  body: string;
  status?: number;
}

export abstract class LogStoreFake {
  /** Every request the fake received, oldest first (bodies included, for assertions). */
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  private faults: Array<Fault & { left: number }> = [];
  private baseUrl = '';

  get url(): string {
    if (!this.baseUrl) throw new Error('fake not started: await fake.start() first');
    return this.baseUrl;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /**
   * Listens on 127.0.0.1; port 0 (the default) picks a free one. With `tls` (PEM key and
   * certificate, e.g. from selfSignedCertificate()) it speaks HTTPS, like the real services.
   */
  async start(port = 0, tls?: { key: string; cert: string }): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.dispatch(req, res);
    const server: Server = tls ? createTlsServer({ key: tls.key, cert: tls.cert }, handler) : createServer(handler);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.baseUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Queue a fault for the next `times` (default 1) matching requests. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Requests whose path matches, e.g. `fake.requestsTo(/_search$/)`. */
  requestsTo(path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => path.test(r.path));
  }

  protected abstract route(req: FakeRequest): FakeResponse | Promise<FakeResponse>;

  /** The vendor's error answer for an injected status fault. */
  protected abstract faultResponse(status: number, req: FakeRequest): FakeResponse;

  private takeFault(path: string): (Fault & { left: number }) | undefined {
    const i = this.faults.findIndex((f) => !f.match || f.match.test(path));
    if (i === -1) return undefined;
    const f = this.faults[i]!;
    f.left -= 1;
    if (f.left <= 0) this.faults.splice(i, 1);
    return f;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const u = new URL(req.url ?? '/', 'http://fake');
    const request: FakeRequest = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
    const record: RecordedRequest = { method: request.method, path: request.path, query: u.search, headers: req.headers, body: request.body };
    this.requests.push(record);

    let response: FakeResponse;
    const fault = this.takeFault(request.path);
    try {
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault?.kind === 'status') {
        response = this.faultResponse(fault.status, request);
        if (fault.retryAfterSeconds !== undefined) response.headers = { ...response.headers, 'retry-after': String(fault.retryAfterSeconds) };
      } else if (fault?.kind === 'malformed') {
        response = {
          status: 200,
          headers: { 'content-type': fault.contentType ?? 'application/json' },
          body: fault.body ?? '{"took":3,"timed_out":false,"hits":{"hits":[{"_index":',
        };
      } else {
        response = await this.route(request);
      }
    } catch (err) {
      response = { status: 500, headers: { 'content-type': 'text/plain' }, body: `fake crashed: ${(err as Error).stack}` };
    }
    record.status = response.status;
    if (res.destroyed) return;
    const headers: Record<string, string | string[]> = { ...response.headers };
    const body = response.body;
    if (Array.isArray(body) && body.every((c) => typeof c === 'string')) {
      res.writeHead(response.status, headers);
      for (const chunk of body as string[]) {
        if (res.destroyed) return;
        res.write(chunk);
        if (response.chunkDelayMs) await new Promise((r) => setTimeout(r, response.chunkDelayMs));
      }
      res.end();
      return;
    }
    let text = '';
    if (typeof body === 'string') text = body;
    else if (body !== undefined) {
      text = JSON.stringify(body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json; charset=UTF-8';
    }
    res.writeHead(response.status, headers);
    res.end(text);
  }
}

/** Parses `Authorization: Basic …` into its user and password. */
export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i === -1) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/**
 * A self-signed certificate for 127.0.0.1 (its own CA), made with the openssl CLI: for testing a
 * client's `ca_file` and `verify` settings against an HTTPS fake.
 */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fake-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
