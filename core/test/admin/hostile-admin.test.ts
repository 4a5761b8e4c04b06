import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Counter } from 'prom-client';
import { startAdminServer } from '../../src/admin/index.js';
import type { AdminServer } from '../../src/admin/index.js';
import { hostAllowed } from '../../src/admin/host-check.js';
import { resolveAdminConfig } from '../../src/admin/app.js';
import { standardHost } from './fake-host.js';
import type { FakeHost } from './fake-host.js';
import { SecretAudit, TOKEN, captureLogger, expectError, testApi } from './harness.js';
import { SseReader } from './sse-client.js';

const audit = new SecretAudit();
afterAll(() => audit.assertNoneOf([TOKEN]));

const servers: AdminServer[] = [];
const readers: SseReader[] = [];
const sockets: net.Socket[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function serve(host: FakeHost, config: Record<string, unknown> = {}): Promise<AdminServer> {
  const { logger } = captureLogger(audit, 'info');
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fabric-hostile-'));
  dirs.push(stateDir);
  const server = await startAdminServer(host, { port: 0, token: TOKEN, ...config }, { logger, stateDir });
  servers.push(server);
  return server;
}

/** A GET with an explicit Host header (fetch does not let a caller set one). */
function rawGet(url: string, route: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: route, method: 'GET', headers, setHost: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Host header (DNS rebinding)', () => {
  it('refuses a Host that names another server on every route, public ones included, with 421', async () => {
    const api = await testApi(standardHost(), audit);
    for (const url of ['/health', '/ready', '/collectors', '/docs', '/openapi.json', '/nowhere']) {
      const res = await api.call({ url, headers: { host: 'attacker.example:80' } });
      const body = expectError(res, 421, 'HOST_NOT_ALLOWED');
      expect(body.message).toMatch(/"attacker\.example:80" does not name this admin API.*admin\.allowed_hosts/);
    }
    for (const host of ['localhost:80', '127.0.0.1:80', '[::1]:80', 'LOCALHOST:80', 'localhost']) {
      expect((await api.call({ url: '/health', headers: { host } })).statusCode, host).toBe(200);
    }
    await api.app.close();
  });

  it('accepts names listed in admin.allowed_hosts', async () => {
    const api = await testApi(standardHost(), audit, { allowed_hosts: ['fabric.internal', 'proxy.example:8443'] });
    expect((await api.call({ url: '/health', headers: { host: 'fabric.internal:80' } })).statusCode).toBe(200);
    expect((await api.call({ url: '/health', headers: { host: 'proxy.example:8443' } })).statusCode).toBe(200);
    expect((await api.call({ url: '/health', headers: { host: 'evil.fabric.internal:80' } })).statusCode).toBe(421);
    await api.app.close();
  });

  it('on a real socket, requires the listening port', async () => {
    const server = await serve(standardHost());
    const port = new URL(server.url).port;
    expect((await rawGet(server.url, '/ready', { host: `127.0.0.1:${port}` })).status).toBe(200);
    expect((await rawGet(server.url, '/ready', { host: `localhost:${port}` })).status).toBe(200);
    const wrongPort = await rawGet(server.url, '/ready', { host: '127.0.0.1:1' });
    expect(wrongPort.status).toBe(421);
    const rebound = await rawGet(server.url, '/ready', { host: `rebind.attacker.example:${port}` });
    expect(rebound.status).toBe(421);
    expect(rebound.body).not.toMatch(/checks/);
  });

  it('knows a wildcard bind accepts the address the connection arrived on', () => {
    const config = resolveAdminConfig({ host: '0.0.0.0', port: 8600 });
    expect(hostAllowed(config, '10.1.2.3:8600', 8600, '10.1.2.3')).toBe(true);
    expect(hostAllowed(config, '0.0.0.0:8600', 8600, '127.0.0.1')).toBe(true); // what admin-url says for this bind
    expect(hostAllowed(resolveAdminConfig({ host: '::', port: 8600 }), '[::]:8600', 8600, '::1')).toBe(true);
    expect(hostAllowed(config, '10.9.9.9:8600', 8600, '10.1.2.3')).toBe(false);
    expect(hostAllowed(config, 'attacker.example:8600', 8600, '10.1.2.3')).toBe(false);
  });
});

describe('/ready without the token', () => {
  it('shows only whether the service is ready, never paths or error details', async () => {
    const host = standardHost();
    host.readiness_ = {
      ready: false,
      checks: {
        config: { ok: true, detail: '/etc/fabric/secret-location/fabric.yaml' },
        sink: { ok: false, detail: 'kafka: broker 10.0.0.7:9092 unreachable (SASL auth failed)' },
      },
    };
    const api = await testApi(host, audit);
    const anonymous = await api.call({ url: '/ready', auth: false });
    expect(anonymous.statusCode).toBe(503);
    expect(anonymous.json()).toEqual({ ready: false });
    expect(anonymous.body).not.toMatch(/etc|10\.0\.0\.7|SASL/);
    const withToken = await api.call({ url: '/ready' });
    expect(withToken.statusCode).toBe(503);
    expect(withToken.json().checks.sink.detail).toMatch(/10\.0\.0\.7/);
    // A wrong token is treated as no token.
    expect((await api.call({ url: '/ready', auth: 'wrong-token-0000000000000' })).json()).toEqual({ ready: false });
    await api.app.close();
  });
});

describe('rate limits cannot be turned against the operator', () => {
  it('a script spamming bad tokens from 127.0.0.1 is throttled while the CLI with the valid token, on the same address, is never refused', async () => {
    const host = standardHost();
    const api = await testApi(host, audit, { auth_failure_limit: { max: 10, window_seconds: 60 }, rate_limit: { max: 30, window_seconds: 60 } });
    const scriptCodes: number[] = [];
    const cliCodes: number[] = [];
    for (let i = 0; i < 60; i++) {
      scriptCodes.push((await api.call({ method: 'POST', url: '/collectors/auth-log/restart', auth: `guess-${i}-0000000000000000` })).statusCode);
      scriptCodes.push((await api.call({ method: 'GET', url: '/collectors', auth: false })).statusCode);
      if (i % 3 === 0) {
        cliCodes.push((await api.call({ method: 'POST', url: `/collectors/auth-log/${i % 2 === 0 ? 'pause' : 'resume'}` })).statusCode);
        cliCodes.push((await api.call({ url: '/collectors/auth-log' })).statusCode);
      }
    }
    // The script is slowed down: 401 for its first failures, then 429.
    expect(scriptCodes.slice(0, 10).every((c) => c === 401)).toBe(true);
    expect(scriptCodes.slice(10).every((c) => c === 429)).toBe(true);
    const throttled = await api.call({ url: '/collectors', auth: 'another-guess-000000000000' });
    expectError(throttled, 429, 'RATE_LIMITED');
    expect(throttled.headers['retry-after']).toMatch(/^\d+$/);
    // The operator was never refused.
    expect(cliCodes.length).toBe(40);
    expect(cliCodes.filter((c) => c === 429 || c === 401)).toEqual([]);
    await api.app.close();
  });

  it('counts the change budget per token, whatever address it comes from', async () => {
    const api = await testApi(standardHost(), audit, { rate_limit: { max: 3, window_seconds: 60 } });
    const codes: number[] = [];
    for (const remoteAddress of ['127.0.0.1', '10.0.0.5', '127.0.0.1', '10.0.0.6']) {
      codes.push(
        (await api.call({ method: 'POST', url: '/plugins/%40reactive-fabric%2Fplugin-log-file/config/validate', payload: { path: '/var/log/x' }, remoteAddress })).statusCode,
      );
    }
    expect(codes).toEqual([200, 200, 200, 429]);
    await api.app.close();
  });
});

describe('/events: bounded streams', () => {
  it('caps streams per token (429) and in total (503) with a message naming the setting', async () => {
    const perToken = await serve(standardHost(), { sse_max_clients_per_token: 2, sse_max_clients: 10 });
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (let i = 0; i < 2; i++) {
      const r = await SseReader.open(`${perToken.url}/events`, auth);
      readers.push(r);
      expect(r.status).toBe(200);
    }
    const third = await fetch(`${perToken.url}/events`, { headers: auth });
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ code: 'TOO_MANY_STREAMS', message: expect.stringMatching(/admin\.sse_max_clients_per_token/) });
    // Closing one frees its slot.
    readers.shift()!.close();
    await new Promise<void>((resolve) => {
      const retry = async (): Promise<void> => {
        const r = await SseReader.open(`${perToken.url}/events`, auth);
        readers.push(r);
        if (r.status === 200) return resolve();
        r.close();
        setImmediate(() => void retry());
      };
      void retry();
    });

    const total = await serve(standardHost(), { sse_max_clients_per_token: 10, sse_max_clients: 1 });
    const first = await SseReader.open(`${total.url}/events`, auth);
    readers.push(first);
    expect(first.status).toBe(200);
    const second = await fetch(`${total.url}/events`, { headers: auth });
    expect(second.status).toBe(503);
    expect(await second.json()).toMatchObject({ code: 'TOO_MANY_STREAMS', message: expect.stringMatching(/admin\.sse_max_clients\b/) });
  });

  it('serialises each event once, however many clients listen', async () => {
    const host = standardHost();
    const server = await serve(host);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const clients = await Promise.all(Array.from({ length: 6 }, () => SseReader.open(`${server.url}/events`, auth)));
    readers.push(...clients);
    await Promise.all(clients.map((c) => c.until((ev) => ev.some((e) => e.event === 'snapshot'))));
    let serialisations = 0;
    const record = { at: new Date().toISOString(), from: 'running', to: 'degraded', event: 'ERROR', reason: 'counted', collector: 'auth-log' } as const;
    Object.defineProperty(record, 'toJSON', { enumerable: true, value: () => (serialisations++, { ...record, toJSON: undefined }) });
    host.events.emit('transition', record as never);
    await Promise.all(clients.map((c) => c.until((ev) => ev.some((e) => e.event === 'transition'))));
    expect(serialisations).toBe(1);
  });

  it('disconnects clients that never read and counts them, while fast readers receive every frame and /health answers', async () => {
    const host = standardHost();
    const server = await serve(host, { sse_max_buffered_bytes: 64 * 1024 });
    const { port } = new URL(server.url);
    const auth = { authorization: `Bearer ${TOKEN}` };

    // Non-reading clients: raw sockets that send the request, see the response start, then stop reading.
    const SLOW = 4;
    const slowText: string[] = Array(SLOW).fill('');
    const slow = await Promise.all(
      Array.from({ length: SLOW }, (_, i) => {
        return new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
            s.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`);
          });
          sockets.push(s);
          s.once('data', (chunk: Buffer) => {
            slowText[i] += chunk.toString();
            expect(chunk.toString()).toMatch(/^HTTP\/1\.1 200/);
            s.pause();
            resolve(s);
          });
          s.once('error', reject);
        });
      }),
    );
    const fast = await Promise.all(Array.from({ length: 3 }, () => SseReader.open(`${server.url}/events`, auth)));
    readers.push(...fast);
    await Promise.all(fast.map((c) => c.until((ev) => ev.some((e) => e.event === 'snapshot'))));

    const dropped = host.metrics.getSingleMetric('fabric_admin_sse_clients_dropped_total') as Counter;
    const droppedNow = async (): Promise<number> => (await dropped.get()).values[0]?.value ?? 0;
    const reason = 'x'.repeat(8000);
    let sent = 0;
    // Paced by the fast readers (each chunk is read before the next is sent), so only the
    // clients that do not read fall behind; stops once every one of them has been dropped.
    while ((await droppedNow()) < SLOW && sent < 20_000) {
      for (let k = 0; k < 5; k++) {
        host.events.emit('transition', { at: new Date().toISOString(), from: 'running', to: 'running', event: 'TICK', reason: `${sent}:${reason}`, collector: 'auth-log' });
        sent++;
      }
      await Promise.all(fast.map((c) => c.until((ev) => ev.filter((e) => e.event === 'transition').length >= sent, 10_000)));
    }
    expect(await droppedNow()).toBe(SLOW);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // Later events still reach the fast readers, and no longer the dropped ones.
    for (let k = 0; k < 10; k++) {
      host.events.emit('transition', { at: new Date().toISOString(), from: 'running', to: 'running', event: 'TICK', reason: `${sent}:after-drop`, collector: 'auth-log' });
      sent++;
    }
    await Promise.all(fast.map((c) => c.until((ev) => ev.filter((e) => e.event === 'transition').length >= sent, 10_000)));

    // Every fast reader got every frame, in order.
    for (const c of fast) {
      const reasons = c.events.filter((e) => e.event === 'transition').map((e) => Number(String((e.data as { reason: string }).reason).split(':')[0]));
      expect(reasons).toEqual(Array.from({ length: sent }, (_, i) => i));
    }
    // The slow ones were closed by the server: reading now drains what was queued, then the stream ends.
    await Promise.all(
      slow.map(
        (s, i) =>
          new Promise<void>((resolve) => {
            s.on('data', (chunk: Buffer) => (slowText[i] += chunk.toString()));
            s.once('close', () => resolve());
            s.resume();
          }),
      ),
    );
    for (const text of slowText) {
      expect(text).toMatch(/event: transition/);
      expect(text).not.toMatch(/after-drop/);
    }
    // Their slots are free again.
    const again = await SseReader.open(`${server.url}/events`, auth);
    readers.push(again);
    expect(again.status).toBe(200);
  }, 120_000);
});
