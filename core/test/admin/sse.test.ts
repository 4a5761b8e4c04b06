import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer } from '../../src/admin/index.js';
import type { AdminServer } from '../../src/admin/index.js';
import { standardHost } from './fake-host.js';
import type { FakeHost } from './fake-host.js';
import { SecretAudit, TOKEN, captureLogger } from './harness.js';
import { SseReader } from './sse-client.js';
import { tempDir } from '../helpers.js';

const audit = new SecretAudit();
let host: FakeHost;
let server: AdminServer;
const readers: SseReader[] = [];
const auth = { authorization: `Bearer ${TOKEN}` };

beforeEach(async () => {
  host = standardHost();
  const { logger } = captureLogger(audit, 'info');
  const stateDir = tempDir('fabric-sse-');
  server = await startAdminServer(host, { port: 0, token: TOKEN, sse_heartbeat_seconds: 0.2 }, { logger, stateDir });
});
afterEach(async () => {
  for (const r of readers.splice(0)) {
    for (const e of r.events) audit.record(JSON.stringify(e));
    r.close();
  }
  await server.close();
});
afterAll(() => audit.assertNoneOf([TOKEN]));

async function open(query = '', headers: Record<string, string> = {}): Promise<SseReader> {
  const r = await SseReader.open(`${server.url}/events${query}`, { ...auth, ...headers });
  readers.push(r);
  return r;
}

async function post(route: string): Promise<Response> {
  const res = await fetch(`${server.url}${route}`, { method: 'POST', headers: auth });
  audit.record(await res.clone().text());
  return res;
}

describe('GET /events', () => {
  it('requires the token', async () => {
    const res = await fetch(`${server.url}/events`);
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe('UNAUTHORIZED');
  });

  it('starts with a snapshot, then streams the transitions a POST causes', async () => {
    const sse = await open();
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(sse.headers.get('x-content-type-options')).toBe('nosniff');
    await sse.until((e) => e.some((x) => x.event === 'snapshot'));
    const snapshot = sse.events[0]!;
    expect(snapshot.id).toBeUndefined();
    expect((snapshot.data as { collectors: Array<{ id: string; state: string }> }).collectors.find((c) => c.id === 'auth-log')?.state).toBe('running');

    const res = await post('/collectors/auth-log/stop');
    expect(res.status).toBe(200);
    const events = await sse.until((e) => e.some((x) => x.event === 'status' && (x.data as { state: string }).state === 'stopped'));
    const transitions = events.filter((e) => e.event === 'transition').map((e) => e.data);
    expect(transitions).toEqual([
      { collector: 'auth-log', at: expect.any(String), from: 'running', to: 'stopping', event: 'STOP', reason: 'admin API stop' },
      { collector: 'auth-log', at: expect.any(String), from: 'stopping', to: 'stopped', event: 'STOPPED', reason: 'admin API stop' },
    ]);
    expect(events.filter((e) => e.event === 'status').map((e) => e.data)).toEqual([
      expect.objectContaining({ id: 'auth-log', state: 'stopping' }),
      expect.objectContaining({ id: 'auth-log', state: 'stopped' }),
    ]);
    const ids = events.filter((e) => e.id).map((e) => e.id!);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('resumes after Last-Event-ID with exactly the events missed', async () => {
    const first = await open();
    await post('/collectors/auth-log/pause');
    await post('/collectors/auth-log/resume');
    await first.until((e) => e.filter((x) => x.event === 'status').length === 2);
    const pausedStatus = first.events.find((e) => e.event === 'status')!;
    first.close();

    await post('/collectors/es-prod/stop?wait=5'); // happens while disconnected
    const again = await open('', { 'last-event-id': pausedStatus.id! });
    const seen = await again.until((e) => e.filter((x) => x.event === 'status').length === 3);
    expect(seen.some((e) => e.event === 'snapshot')).toBe(false);
    expect(seen.map((e) => `${e.event}:${(e.data as { to?: string; state?: string }).to ?? (e.data as { state?: string }).state}`)).toEqual([
      'transition:running',
      'status:running',
      'transition:stopping',
      'status:stopping',
      'transition:stopped',
      'status:stopped',
    ]);
    expect(seen[0]!.id).toBe(first.events.filter((e) => e.id)[2]!.id);
  });

  it('tells a client holding an id from another server run to resynchronise', async () => {
    const sse = await open('', { 'last-event-id': 'zzzz-5' });
    await sse.until((e) => e.some((x) => x.event === 'gap'));
    expect(sse.events[0]!.data).toMatchObject({ resync: 'GET /collectors' });
  });

  it('filters by ?collector= and sends keep-alive comments', async () => {
    const sse = await open('?collector=es-prod');
    await post('/collectors/auth-log/pause');
    await post('/collectors/es-prod/pause');
    await sse.until((e) => e.some((x) => x.event === 'status'));
    const collectors = sse.events.filter((e) => e.event !== 'snapshot').map((e) => (e.data as { collector?: string; id?: string }).collector ?? (e.data as { id: string }).id);
    expect(new Set(collectors)).toEqual(new Set(['es-prod']));
    expect((sse.events[0]!.data as { collectors: unknown[] }).collectors).toHaveLength(1);
    // sse_heartbeat_seconds is 0.2 (see beforeEach): a keep-alive is due long before the deadline.
    await sse.untilComment((c) => c.some((x) => x.startsWith(': keep-alive')), 2_000);
    expect(sse.comments.some((c) => c.startsWith(': keep-alive'))).toBe(true);
  });

  it('lets the server close while clients are connected', async () => {
    const sse = await open();
    await sse.until((e) => e.length > 0);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
