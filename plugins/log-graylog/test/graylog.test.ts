import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GraylogFake, loghubDir, loghubGraylogMessages, readLoghub, spreadOverTime, type LoghubRecord, selfSignedCertificate } from '@reactive-fabric/test-kit/fakes';
import type { SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { drain, duplicates, expectPluginError, ids, pollOnce, repoRoot, startSource, testContext, expectTlsOptionsHonoured } from '../../../test/support/log-store-plugins.js';

let ssh: LoghubRecord[];
let linux: LoghubRecord[];
beforeAll(() => {
  ssh = readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log');
  linux = readLoghub(loghubDir(repoRoot), 'Linux_2k.log');
});

const TOKEN = '1m2b3k4fjq0i6bqo1ui3e0p9t2kj4r5h6sq7ukdc8rm0ctjdqepn';
const STREAM_A = '5f9a1b2c3d4e5f6a7b8c9d0e';
const STREAM_B = '000000000000000000000001';

const fakes: GraylogFake[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(version?: string): Promise<GraylogFake> {
  const f = await new GraylogFake({ credentials: { tokens: [TOKEN], users: [{ username: 'fabric', password: 'pw-graylog-1' }] }, ...(version ? { version } : {}) }).start();
  fakes.push(f);
  return f;
}

function configFor(f: GraylogFake, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: '127.0.0.1', port: f.port, scheme: 'http', auth: { type: 'token', token: TOKEN }, ...extra };
}

function msgsAt(records: LoghubRecord[], fromAgoMs: number, toAgoMs: number, streams?: string[]) {
  const now = Date.now();
  return loghubGraylogMessages(spreadOverTime(records, now - fromAgoMs, now - toAgoMs), streams);
}

describe.each([
  ['universal', { api: 'universal' }],
  ['scripting', { api: 'scripting' }],
] as const)('log-graylog (%s API)', (_name, apiConfig) => {
  it('pulls incrementally over many polls while messages arrive during the pulls, late ones included: none lost, none repeated', async () => {
    const f = await fake();
    const expected = new Set(f.addMessages(msgsAt(ssh.slice(0, 500), 4 * 60_000, 60_000)));
    // Equal timestamps across a page boundary: 40 messages stamped in the same millisecond.
    const tied = Date.now() - 90_000;
    for (const id of f.addMessages(loghubGraylogMessages(linux.slice(900, 940).map((record) => ({ record, timestamp: tied }))))) expected.add(id);
    let batch = 0;
    f.onSearch = (n) => {
      if (n % 2 !== 0 || batch >= 15) return;
      const start = batch * 12;
      batch++;
      for (const id of f.addMessages([...msgsAt(ssh.slice(500 + start, 506 + start), 25_000, 20_000), ...msgsAt(linux.slice(start, start + 6), 500, 0)])) expected.add(id);
    };
    const source = await startSource(plugin, configFor(f, { ...apiConfig, max_results_per_query: 25 }));
    const got: SourceEvent[] = [];
    let cp: unknown;
    let polls = 0;
    for (; polls < 400; polls++) {
      const res = await pollOnce(source, cp as never, 45);
      got.push(...res.events);
      cp = res.checkpoint;
      if (!res.hasMore && batch >= 15) break;
      if (!res.hasMore) await new Promise((r) => setTimeout(r, 20));
    }
    f.onSearch = undefined;
    await new Promise((r) => setTimeout(r, 20));
    await drain(source, cp as never, 45, got);
    const gotIds = ids(got);
    expect(duplicates(gotIds)).toEqual([]);
    expect(new Set(gotIds)).toEqual(expected);
    expect(expected.size).toBe(500 + 40 + 15 * 12);
    expect(polls).toBeGreaterThan(10);
    expect(f.stats.maxFromPlusSize).toBeLessThanOrEqual(10_000);
  });

  it('restarts from a checkpoint cut mid-window without gaps or repeats', async () => {
    const f = await fake();
    const expected = new Set(f.addMessages(msgsAt(ssh.slice(0, 200), 3 * 60_000, 30_000)));
    const first = await startSource(plugin, configFor(f, { ...apiConfig, max_results_per_query: 40 }));
    const got: SourceEvent[] = [];
    let cp: unknown;
    for (let i = 0; i < 2; i++) {
      const res = await pollOnce(first, cp as never, 60);
      got.push(...res.events);
      cp = res.checkpoint;
    }
    expect((cp as { window?: unknown }).window).toBeDefined();
    await first.stop?.();
    for (const id of f.addMessages(msgsAt(ssh.slice(200, 250), 40_000, 1000))) expected.add(id);
    const second = await startSource(plugin, configFor(f, { ...apiConfig, max_results_per_query: 40 }));
    await drain(second, cp as never, 60, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
  });

  it('maps messages to ECS with the raw line kept', async () => {
    const f = await fake();
    const [id] = f.addMessages(msgsAt(ssh.slice(0, 1), 60_000, 59_000, [STREAM_A]));
    const source = await startSource(plugin, configFor(f, { ...apiConfig, streams: [STREAM_A] }));
    const { events } = await pollOnce(source, undefined, 10);
    expect(events).toHaveLength(1);
    const ev = events[0]!;
    expect(ev.event?.id).toBe(id);
    expect(ev.event?.original).toBe(ssh[0]!.line);
    expect(ev.message).toBe(ssh[0]!.message); // the syslog tag moves to process.*
    expect((ev.host as { name: string }).name).toBe('LabSZ');
    expect(ev.process).toEqual({ name: 'sshd', pid: 24200 });
    expect(ev.labels).toMatchObject({ log_store: 'graylog', graylog_streams: STREAM_A });
  });
});

describe('log-graylog: requests, auth, limits and bad answers', () => {
  it('universal: absolute range, ascending sort, one stream filter, Accept JSON', async () => {
    const f = await fake();
    f.addMessages(msgsAt(ssh.slice(0, 10), 60_000, 30_000, [STREAM_A]));
    f.addMessages(msgsAt(ssh.slice(10, 20), 60_000, 30_000, [STREAM_B]));
    const source = await startSource(plugin, configFor(f, { streams: [STREAM_A], query: 'application_name:sshd' }));
    expect((await pollOnce(source, undefined, 100)).events).toHaveLength(10);
    const req = f.requestsTo(/universal\/absolute$/)[0]!;
    const q = new URLSearchParams(req.query);
    expect(q.get('sort')).toBe('timestamp:asc');
    expect(q.get('filter')).toBe(`streams:${STREAM_A}`);
    expect(q.get('query')).toBe('application_name:sshd');
    expect(Date.parse(q.get('from')!)).toBeLessThan(Date.parse(q.get('to')!));
    expect(req.headers.accept).toContain('application/json');
  });

  it('scripting: sends X-Requested-By (the fake refuses a POST without it, as Graylog does)', async () => {
    const f = await fake();
    f.addMessages(msgsAt(ssh.slice(0, 5), 60_000, 30_000, [STREAM_A]));
    const source = await startSource(plugin, configFor(f, { api: 'scripting', streams: [STREAM_A, STREAM_B] }));
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(5);
    const req = f.requestsTo(/search\/messages$/)[0]!;
    expect(req.headers['x-requested-by']).toBeTruthy();
    expect(JSON.parse(req.body)).toMatchObject({ timerange: { type: 'absolute' }, sort: 'timestamp', sort_order: 'asc', streams: [STREAM_A, STREAM_B] });
    const bare = await fetch(`${f.url}/api/search/messages`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${TOKEN}:token`).toString('base64')}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { message: string }).message).toBe('CSRF protection header is missing. Please add a "X-Requested-By" header to your request.');
  });

  it('pages a Graylog 5.0 universal search (which ignores offset) without losing or repeating messages', async () => {
    const f = await fake('5.0.13');
    const expected = new Set(f.addMessages(msgsAt(ssh.slice(0, 120), 120_000, 30_000)));
    const source = await startSource(plugin, configFor(f, { max_results_per_query: 25 }));
    const got: SourceEvent[] = [];
    await drain(source, undefined, 1000, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
    expect(f.requestsTo(/universal/).length).toBeGreaterThan(4);
  });

  it('authenticates with user and password too', async () => {
    const f = await fake();
    f.addMessages(msgsAt(ssh.slice(0, 3), 60_000, 30_000));
    const source = await startSource(plugin, configFor(f, { auth: { type: 'basic', username: 'fabric', password: 'pw-graylog-1' } }));
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(3);
  });

  it('fails with AUTH_FAILED when the token is revoked, then recovers without loss once it is valid again', async () => {
    const f = await fake();
    const expected = new Set(f.addMessages(msgsAt(ssh.slice(0, 40), 120_000, 60_000)));
    const source = await startSource(plugin, configFor(f));
    const got: SourceEvent[] = [];
    const first = await pollOnce(source, undefined, 15);
    got.push(...first.events);
    f.setCredentials({ tokens: ['another-token'] });
    for (const id of f.addMessages(msgsAt(ssh.slice(40, 60), 50_000, 10_000))) expected.add(id);
    const err = await expectPluginError(pollOnce(source, first.checkpoint, 15));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('401');
    expect(err.message).not.toContain(TOKEN);
    f.setCredentials({ tokens: [TOKEN] });
    await drain(source, first.checkpoint, 15, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
  });

  it('honours 429 Retry-After and reports 5xx as UNAVAILABLE', async () => {
    const f = await fake();
    f.addMessages(msgsAt(ssh.slice(0, 8), 60_000, 30_000));
    const source = await startSource(plugin, configFor(f));
    f.inject({ kind: 'status', status: 429, retryAfterSeconds: 12 });
    const limited = await expectPluginError(pollOnce(source, undefined, 10));
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.retryAfterMs).toBe(12_000);
    f.inject({ kind: 'status', status: 500 });
    const down = await expectPluginError(pollOnce(source, undefined, 10));
    expect(down.code).toBe('UNAVAILABLE');
    expect(down.message).toContain('Unable to perform search query');
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(8);
  });

  it('reports malformed answers as BAD_RESPONSE and keeps working', async () => {
    const f = await fake();
    f.addMessages(msgsAt(ssh.slice(0, 8), 60_000, 30_000));
    const universal = await startSource(plugin, configFor(f));
    f.inject({ kind: 'malformed' });
    expect((await expectPluginError(pollOnce(universal, undefined, 10))).code).toBe('BAD_RESPONSE');
    f.inject({ kind: 'malformed', body: '{"messages":[{"index":"graylog_0"}]}' });
    expect((await expectPluginError(pollOnce(universal, undefined, 10))).message).toContain('message{}');
    const scripting = await startSource(plugin, configFor(f, { api: 'scripting' }));
    f.inject({ kind: 'malformed', body: '{"schema":[],"datarows":"x"}' });
    expect((await expectPluginError(pollOnce(scripting, undefined, 10))).code).toBe('BAD_RESPONSE');
    f.inject({ kind: 'slow', delayMs: 1000 });
    const impatient = await startSource(plugin, configFor(f, { request_timeout_seconds: 0.2 }));
    expect((await expectPluginError(pollOnce(impatient, undefined, 10))).code).toBe('TIMEOUT');
    expect((await pollOnce(universal, undefined, 10)).events).toHaveLength(8);
    expect((await pollOnce(scripting, undefined, 10)).events).toHaveLength(8);
  });

  it('reports a query Graylog refuses as BAD_CONFIG', async () => {
    const f = await fake();
    const source = await startSource(plugin, configFor(f, { query: '(a OR b' }));
    const err = await expectPluginError(pollOnce(source, undefined, 10));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toContain('Unable to parse query');
  });

  it('refuses several streams on the universal API with a message naming the fix', async () => {
    await expect(startSource(plugin, { host: 'g', auth: { type: 'token', token: 't' }, streams: [STREAM_A, STREAM_B] }, testContext())).rejects.toThrow(/api: scripting/);
  });

  it('speaks HTTPS: an unknown CA is BAD_CONFIG naming tls.ca_file; tls.ca_file or tls.verify: false connect; a missing CA file fails start()', async () => {
    const tls = selfSignedCertificate();
    const fake = await new GraylogFake({ credentials: { tokens: [TOKEN] } }).start(0, tls);
    fakes.push(fake);
    fake.addMessages(msgsAt(ssh.slice(0, 3), 60_000, 30_000));
    await expectTlsOptionsHonoured(plugin, { host: '127.0.0.1', port: fake.port, scheme: 'https', auth: { type: 'token', token: TOKEN } }, tls.cert);
  });

  it('describes backend and target without credentials', async () => {
    const f = await fake();
    const source = await startSource(plugin, configFor(f));
    const d = source.describe!();
    expect(d).toMatchObject({ backend: 'graylog', target: `http://127.0.0.1:${f.port}`, api: 'universal' });
    expect(JSON.stringify(d)).not.toContain(TOKEN);
    const basic = await startSource(plugin, configFor(f, { auth: { type: 'basic', username: 'fabric', password: 'pw-graylog-1' } }));
    expect(JSON.stringify(basic.describe!())).not.toContain('pw-graylog-1');
  });
});
