import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, HttpTransport, httpSend, isPluginError } from '../../src/plugin-api/index.js';
import { describeProxy, proxyCredentials } from '../../src/plugin-api/toolkit/transport.js';
import { type SelfSignedCert, selfSignedCert } from '../../../test/support/tls.js';

const PASSWORD = 'S3cret-proxy-pw';
const USER = 'fabric-proxy-user';

/** A forward proxy as corporate networks run them: CONNECT for https, absolute-URI requests for http, Basic auth. */
class ForwardProxy {
  readonly seen: Array<{ kind: 'connect' | 'forward'; target: string; auth: string | undefined }> = [];
  /** The Proxy-Authorization it wants; undefined lets everyone through. */
  requiredAuth: string | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly server = http.createServer((req, res) => {
    const auth = req.headers['proxy-authorization'];
    this.seen.push({ kind: 'forward', target: req.url ?? '', auth });
    if (this.requiredAuth !== undefined && auth !== this.requiredAuth) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end('proxy authentication required');
      return;
    }
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });

  constructor() {
    this.server.on('connection', (s: net.Socket) => this.track(s));
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const auth = req.headers['proxy-authorization'];
      this.seen.push({ kind: 'connect', target: req.url ?? '', auth });
      if (this.requiredAuth !== undefined && auth !== this.requiredAuth) {
        socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const [host, port] = (req.url ?? '').split(':');
      const upstream = this.track(
        net.connect(Number(port), host!, () => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          upstream.write(head);
          upstream.pipe(socket);
          socket.pipe(upstream);
        }),
      );
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
  }

  private track(s: net.Socket): net.Socket {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    return s;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The backend both transports talk to: answers its own name and the path it was asked for. */
function backend(name: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ backend: name, path: req.url }));
}

let cert: SelfSignedCert;
let plain: http.Server;
let tls: https.Server;
let plainPort: number;
let tlsPort: number;
let proxy: ForwardProxy;
let proxyAddress: string;
const saved: Record<string, string | undefined> = {};
const VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

beforeAll(async () => {
  for (const v of VARIABLES) saved[v] = process.env[v];
  cert = selfSignedCert();
  plain = http.createServer(backend('plain'));
  tls = https.createServer({ cert: cert.cert, key: cert.key }, backend('tls'));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  plainPort = (plain.address() as AddressInfo).port;
  tlsPort = (tls.address() as AddressInfo).port;
});
afterAll(async () => {
  plain.closeAllConnections();
  tls.closeAllConnections();
  await new Promise((resolve) => plain.close(resolve));
  await new Promise((resolve) => tls.close(resolve));
  cert.remove();
});

const transports: Array<HttpTransport | HttpClient> = [];
async function setProxyEnv(values: Record<string, string | undefined>): Promise<void> {
  for (const v of VARIABLES) delete process.env[v];
  for (const [k, v] of Object.entries(values)) if (v !== undefined) process.env[k] = v;
  proxy = new ForwardProxy();
  proxyAddress = await proxy.start();
}
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  await proxy?.stop();
  for (const v of VARIABLES) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
});

const signal = () => new AbortController().signal;
const send = (url: string, transport?: HttpTransport) =>
  httpSend(url, { method: 'GET' }, 'GET /x', { vendor: 'Fake', signal: signal(), timeoutMs: 5000, ...(transport ? { transport } : {}) });
function client(baseUrl: string): HttpClient {
  const c = new HttpClient(
    { baseUrl, caFile: cert.certFile, verify: true, timeoutMs: 5000, backend: 'Fake' },
    () => undefined,
    () => undefined,
  );
  transports.push(c);
  return c;
}
const targets = () => proxy.seen.map((s) => `${s.kind} ${s.target}`);

describe('HTTP proxy from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)', () => {
  it('threat-intel requests (httpSend) go through HTTP_PROXY, NO_PROXY hosts go direct', async () => {
    await setProxyEnv({ NO_PROXY: 'localhost' });
    process.env.HTTP_PROXY = `http://${proxyAddress}`;
    const proxied = await send(`http://127.0.0.1:${plainPort}/via-proxy`);
    const direct = await send(`http://localhost:${plainPort}/direct`);
    expect(proxied.json).toEqual({ backend: 'plain', path: '/via-proxy' });
    expect(direct.json).toEqual({ backend: 'plain', path: '/direct' });
    expect(targets()).toEqual([`forward http://127.0.0.1:${plainPort}/via-proxy`]);
  });

  it('REST clients (HttpClient) tunnel https through HTTPS_PROXY with CONNECT, still verifying the backend certificate', async () => {
    await setProxyEnv({ NO_PROXY: 'localhost' });
    process.env.HTTPS_PROXY = `http://${proxyAddress}`;
    const proxied = await client(`https://127.0.0.1:${tlsPort}`).json<{ backend: string }>('GET', '/tunnelled', { signal: signal() });
    const direct = await client(`https://localhost:${tlsPort}`).json<{ backend: string }>('GET', '/direct', { signal: signal() });
    expect(proxied.body).toEqual({ backend: 'tls', path: '/tunnelled' });
    expect(direct.body).toEqual({ backend: 'tls', path: '/direct' });
    expect(targets()).toEqual([`connect 127.0.0.1:${tlsPort}`]);

    // Through the tunnel the certificate is still checked: without the CA, the request is refused.
    const unverified = new HttpClient(
      { baseUrl: `https://127.0.0.1:${tlsPort}`, verify: true, timeoutMs: 5000, backend: 'Fake' },
      () => undefined,
      () => undefined,
    );
    transports.push(unverified);
    const err = await unverified.json('GET', '/x', { signal: signal() }).catch((e: unknown) => e);
    expect(isPluginError(err) && err.code).toBe('BAD_CONFIG');
    expect((err as Error).message).toMatch(/TLS verification failed .*tls\.ca_file/);
  });

  it('sends proxy credentials to the proxy and nowhere else: not in errors, not in what is logged', async () => {
    await setProxyEnv({});
    const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    proxy.requiredAuth = auth;
    process.env.HTTPS_PROXY = `http://${USER}:${PASSWORD}@${proxyAddress}`;
    process.env.HTTP_PROXY = process.env.HTTPS_PROXY;
    const transport = await HttpTransport.open({ caFile: cert.certFile, verify: true });
    transports.push(transport);
    expect((await send(`https://127.0.0.1:${tlsPort}/ok`, transport)).json).toEqual({ backend: 'tls', path: '/ok' });
    expect((await send(`http://127.0.0.1:${plainPort}/ok`)).json).toEqual({ backend: 'plain', path: '/ok' });
    expect(proxy.seen.map((s) => s.auth)).toEqual([auth, auth]);

    // The proxy now refuses them: the failure says so without quoting them.
    proxy.requiredAuth = 'Basic something-else';
    const refused = await HttpTransport.open({ caFile: cert.certFile, verify: true });
    transports.push(refused);
    const err = await send(`https://127.0.0.1:${tlsPort}/refused`, refused).catch((e: unknown) => e);
    const plainErr = await send(`http://127.0.0.1:${plainPort}/refused`).catch((e: unknown) => e);
    const restErr = await client(`https://127.0.0.1:${tlsPort}`)
      .json('GET', '/refused', { signal: signal() })
      .catch((e: unknown) => e);
    for (const e of [err, plainErr, restErr]) {
      expect(isPluginError(e) && e.code).toBe('BAD_CONFIG');
      expect((e as Error).message).toMatch(/proxy refused its credentials \(407.*HTTPS_PROXY/);
    }
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    logger.error({ err }, 'lookup failed');
    logger.info({ proxy: describeProxy() }, 'proxy');
    for (const text of [...[err, plainErr, restErr].flatMap((e) => [inspect(e, { depth: 10 }), (e as Error).stack ?? '']), ...lines]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
      expect(text).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    }
    expect(describeProxy()).toBe(`HTTPS_PROXY=http://***@${proxyAddress}, HTTP_PROXY=http://***@${proxyAddress}`);
    // The host registers these for redaction in every log line (compose/index.ts).
    expect(proxyCredentials()).toEqual(expect.arrayContaining([PASSWORD, USER]));
  });

  it('refuses a proxy variable that is not a URL, naming the variable and not its value', async () => {
    await setProxyEnv({ HTTPS_PROXY: `http//${USER}:${PASSWORD}@proxy.internal:3128` });
    const err = await HttpTransport.open().catch((e: unknown) => e);
    expect(isPluginError(err) && err.code).toBe('BAD_CONFIG');
    expect((err as Error).message).toMatch(/HTTPS_PROXY environment variable is not a proxy URL/);
    expect(inspect(err)).not.toContain(PASSWORD);
    const viaSend = await send(`http://127.0.0.1:${plainPort}/x`).catch((e: unknown) => e);
    expect(isPluginError(viaSend) && viaSend.code).toBe('BAD_CONFIG');
  });

  it('without proxy variables every request goes direct', async () => {
    await setProxyEnv({});
    expect((await send(`http://127.0.0.1:${plainPort}/direct`)).json).toEqual({ backend: 'plain', path: '/direct' });
    expect(await client(`https://127.0.0.1:${tlsPort}`).json('GET', '/direct', { signal: signal() })).toMatchObject({ body: { backend: 'tls' } });
    expect(proxy.seen).toEqual([]);
    expect(describeProxy()).toBeUndefined();
  });
});
