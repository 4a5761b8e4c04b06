import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  SplunkFake,
  loghubDir,
  loghubSplunkEvents,
  readLoghub,
  spreadOverTime,
  type LoghubRecord,
  type SplunkCredentials,
  type SplunkEventInput,
  selfSignedCertificate,
} from '@reactive-fabric/test-kit/fakes';
import type { SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { drain, duplicates, expectPluginError, ids, pollOnce, repoRoot, startSource, expectTlsOptionsHonoured } from '../../../test/support/log-store-plugins.js';
import { until } from '../../../core/test/helpers.js';

let ssh: LoghubRecord[];
let linux: LoghubRecord[];
beforeAll(() => {
  ssh = readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log');
  linux = readLoghub(loghubDir(repoRoot), 'Linux_2k.log');
});

const fakes: SplunkFake[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

const CREDS: SplunkCredentials = { username: 'fabric', password: 'changeme-123', token: 'eyJraWQiOiJzcGx1bmsuc2VjcmV0In0.fake' };

async function fake(credentials: SplunkCredentials = CREDS): Promise<SplunkFake> {
  const f = await new SplunkFake({ credentials, jobDurationMs: 20 }).start();
  fakes.push(f);
  return f;
}

const TOKEN = { type: 'token', token: CREDS.token };

function configFor(f: SplunkFake, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: '127.0.0.1', port: f.port, scheme: 'http', index: 'main', auth: TOKEN, job_poll_interval_ms: 10, ...extra };
}

/** Events indexed over [now - fromAgoS, now - toAgoS) of index time, each happening 0–90 s before it was indexed. */
function backlog(records: LoghubRecord[], fromAgoS: number, toAgoS: number): SplunkEventInput[] {
  const nowS = Math.floor(Date.now() / 1000);
  const timed = spreadOverTime(records, (nowS - fromAgoS) * 1000, (nowS - toAgoS) * 1000);
  return timed.map((t, i) => ({ ...loghubSplunkEvents([t])[0]!, time: t.timestamp - (i % 90) * 1000, indexTime: Math.floor(t.timestamp / 1000) }));
}

/** Events indexed now that happened minutes ago (a forwarder catching up). */
function lateNow(records: LoghubRecord[]): SplunkEventInput[] {
  const now = Date.now();
  return loghubSplunkEvents(spreadOverTime(records, now - 5 * 60_000, now - 3 * 60_000), { index: 'main' });
}

/**
 * Index time is the wall clock's second, in the fake and in the plugin alike, so tests that need
 * time to pass move Date on instead of sleeping. Only Date is faked and it keeps running with real
 * time: timers, sockets and the fake's job durations are untouched.
 */
function fakeClock(): { pass(ms: number): void } {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  return { pass: (ms) => void vi.advanceTimersByTime(ms) };
}
afterEach(() => {
  vi.useRealTimers();
});

describe.each([
  ['export', { mode: 'export' }],
  ['jobs + v1 results', { mode: 'jobs', results_api: 'v1', max_results_per_query: 30 }],
  ['jobs + v2 results', { mode: 'jobs', results_api: 'v2', max_results_per_query: 30 }],
] as const)('log-splunk (%s)', (_name, modeConfig) => {
  it('pulls incrementally over many polls while events are indexed during the pulls: none lost, none repeated', async () => {
    const clock = fakeClock();
    const f = await fake();
    const expected = new Set(f.addEvents(backlog(ssh.slice(0, 400), 240, 30)));
    let batch = 0;
    f.onSearch = () => {
      if (batch >= 12) return;
      const start = batch * 15;
      batch++;
      for (const id of f.addEvents([...lateNow(linux.slice(start, start + 10)), ...lateNow(ssh.slice(400 + start, 405 + start))])) expected.add(id);
    };
    const source = await startSource(plugin, configFor(f, modeConfig));
    const got: SourceEvent[] = [];
    let cp: unknown;
    let polls = 0;
    while (batch < 12 && polls < 300) {
      const res = await pollOnce(source, cp as never, 35);
      got.push(...res.events);
      cp = res.checkpoint;
      polls++;
      if (!res.hasMore) clock.pass(50);
    }
    f.onSearch = undefined;
    clock.pass(1100); // the last events' index second has to be over before a window may end after it
    cp = await drain(source, cp as never, 35, got);
    const gotIds = ids(got);
    expect(duplicates(gotIds)).toEqual([]);
    expect(new Set(gotIds)).toEqual(expected);
    expect(expected.size).toBe(400 + 12 * 15);
    expect(polls).toBeGreaterThan(10);
    if (modeConfig.mode === 'jobs') {
      expect(f.jobCount).toBe(0);
      const resultsPaths = f.requestsTo(/\/results$/);
      expect(resultsPaths.length).toBeGreaterThan(0);
      expect(resultsPaths.every((r) => r.path.includes('/v2/') === (modeConfig.results_api === 'v2'))).toBe(true);
    }
    await source.stop?.();
  });

  it('restarts from a checkpoint cut mid-window without gaps or repeats', async () => {
    const clock = fakeClock();
    const f = await fake();
    const expected = new Set(f.addEvents(backlog(ssh.slice(0, 200), 200, 20)));
    const first = await startSource(plugin, configFor(f, modeConfig));
    const got: SourceEvent[] = [];
    let cp: unknown;
    for (let i = 0; i < 3; i++) {
      const res = await pollOnce(first, cp as never, 45);
      got.push(...res.events);
      cp = res.checkpoint;
    }
    expect((cp as { window?: unknown }).window).toBeDefined();
    await first.stop?.();
    // Indexed while the collector was down (index time is always "now" in Splunk).
    for (const id of f.addEvents(lateNow(ssh.slice(200, 260)))) expected.add(id);
    clock.pass(1100);
    const second = await startSource(plugin, configFor(f, modeConfig));
    await drain(second, cp as never, 45, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
  });
});

describe('log-splunk: auth, limits, jobs and bad answers', () => {
  it.each([
    ['token', TOKEN],
    ['basic', { type: 'basic', username: CREDS.username, password: CREDS.password }],
    ['session', { type: 'session', username: CREDS.username, password: CREDS.password }],
  ])('authenticates with %s', async (name, auth) => {
    const f = await fake();
    f.addEvents(backlog(ssh.slice(0, 5), 100, 50));
    const source = await startSource(plugin, configFor(f, { auth }));
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(5);
    const header = String(f.requestsTo(/export$/)[0]!.headers.authorization);
    expect(header.split(' ')[0]).toBe({ token: 'Bearer', basic: 'Basic', session: 'Splunk' }[name]);
  });

  it('reads the second it is in again whole (index time has whole seconds), even with overlap_seconds 0', async () => {
    const clock = fakeClock();
    const f = await fake();
    const source = await startSource(plugin, configFor(f, { overlap_seconds: 0 }));
    const expected = new Set<string>();
    const got: SourceEvent[] = [];
    let cp: unknown;
    for (let i = 0; i < 40; i++) {
      for (const id of f.addEvents(lateNow(ssh.slice(i * 3, i * 3 + 3)))) expected.add(id);
      const res = await pollOnce(source, cp as never, 100);
      got.push(...res.events);
      cp = res.checkpoint;
      clock.pass(40);
    }
    clock.pass(1100);
    await drain(source, cp as never, 100, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
  });

  it('logs in again when splunkd forgets the session, without failing the poll', async () => {
    const f = await fake();
    f.addEvents(backlog(ssh.slice(0, 20), 100, 50));
    const source = await startSource(plugin, configFor(f, { auth: { type: 'session', username: CREDS.username, password: CREDS.password }, mode: 'jobs' }));
    const first = await pollOnce(source, undefined, 10);
    f.expireSessions();
    const second = await pollOnce(source, first.checkpoint, 100);
    expect(first.events.length + second.events.length).toBe(20);
    expect(f.stats.logins).toBe(2);
  });

  it.each([
    ['token', TOKEN, 'call not properly authenticated'],
    ['session', { type: 'session', username: CREDS.username, password: CREDS.password }, 'Login failed'],
  ])('fails with AUTH_FAILED (%s) when credentials are refused, then recovers without loss once fixed', async (_n, auth, reason) => {
    const f = await fake();
    const expected = new Set(f.addEvents(backlog(ssh.slice(0, 40), 120, 60)));
    const source = await startSource(plugin, configFor(f, { auth }));
    const got: SourceEvent[] = [];
    const first = await pollOnce(source, undefined, 15);
    got.push(...first.events);
    f.setCredentials({ username: 'fabric', password: 'rotated', token: 'rotated-token' });
    f.expireSessions();
    for (const id of f.addEvents(backlog(ssh.slice(40, 60), 50, 5))) expected.add(id);
    const err = await expectPluginError(pollOnce(source, first.checkpoint, 15));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(reason);
    expect(err.message).not.toContain(CREDS.password!);
    expect(err.message).not.toContain(CREDS.token!);
    f.setCredentials(CREDS);
    await drain(source, first.checkpoint, 15, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
  });

  it('honours 429 Retry-After and reports 503 (search concurrency) as UNAVAILABLE', async () => {
    const f = await fake();
    f.addEvents(backlog(ssh.slice(0, 10), 100, 50));
    const source = await startSource(plugin, configFor(f, { mode: 'jobs' }));
    f.inject({ kind: 'status', status: 429, retryAfterSeconds: 3, match: /\/search\/jobs$/ });
    const limited = await expectPluginError(pollOnce(source, undefined, 10));
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.retryAfterMs).toBe(3000);
    f.inject({ kind: 'status', status: 503, match: /\/search\/jobs$/ });
    const busy = await expectPluginError(pollOnce(source, undefined, 10));
    expect(busy.code).toBe('UNAVAILABLE');
    expect(busy.message).toContain('maximum number of concurrent historical searches');
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(10);
  });

  it('reports malformed export lines and results bodies as BAD_RESPONSE and keeps working', async () => {
    const f = await fake();
    f.addEvents(backlog(ssh.slice(0, 10), 100, 50));
    const exporter = await startSource(plugin, configFor(f));
    f.inject({ kind: 'malformed', body: '{"preview":false,"offset":0,"result":{"_raw":"x"\n<html>oops</html>\n', match: /export$/ });
    expect((await expectPluginError(pollOnce(exporter, undefined, 10))).code).toBe('BAD_RESPONSE');
    f.inject({ kind: 'malformed', body: '{"preview":false,"offset":0,"lastrow":true,"result":{"_raw":"no ids","_time":"2024-01-01T00:00:00.000+00:00"}}\n', match: /export$/ });
    const noCd = await expectPluginError(pollOnce(exporter, undefined, 10));
    expect(noCd.code).toBe('BAD_RESPONSE');
    expect(noCd.message).toContain('_cd');
    expect((await pollOnce(exporter, undefined, 10)).events).toHaveLength(10);

    const jobs = await startSource(plugin, configFor(f, { mode: 'jobs' }));
    f.inject({ kind: 'malformed', body: '{"preview":false,"init_offset":0,"results":"nope"}', match: /\/results$/ });
    expect((await expectPluginError(pollOnce(jobs, undefined, 10))).code).toBe('BAD_RESPONSE');
    f.inject({ kind: 'malformed', match: /\/search\/jobs$/ });
    expect((await expectPluginError(pollOnce(jobs, undefined, 10))).code).toBe('BAD_RESPONSE');
    expect((await pollOnce(jobs, undefined, 10)).events).toHaveLength(10);
  });

  it('tolerates {"messages":[…]} lines in the export stream', async () => {
    const f = await fake();
    f.exportNotice = 'Search results might be incomplete: the search process on peer idx2 ended prematurely.';
    f.addEvents(backlog(ssh.slice(0, 7), 100, 50));
    const source = await startSource(plugin, configFor(f));
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(7);
  });

  it('cancels a job that outlives job_timeout_seconds (TIMEOUT) or whose poll is aborted (ABORTED)', async () => {
    const f = await fake();
    f.addEvents(backlog(ssh.slice(0, 5), 100, 50));
    f.jobDurationMs = 5000;
    const source = await startSource(plugin, configFor(f, { mode: 'jobs', job_timeout_seconds: 0.2, job_poll_interval_ms: 50 }));
    const err = await expectPluginError(pollOnce(source, undefined, 10));
    expect(err.code).toBe('TIMEOUT');
    expect(f.stats.cancels).toBe(1);
    expect(f.jobCount).toBe(0);

    const patient = await startSource(plugin, configFor(f, { mode: 'jobs', job_poll_interval_ms: 50 }));
    const ac = new AbortController();
    const polling = expectPluginError(patient.poll({ checkpoint: undefined, signal: ac.signal, maxEvents: 10 }));
    // Aborted while the job runs: once the plugin has asked the fake for the job's status.
    const statusPolls = f.stats.statusPolls;
    await until(() => f.stats.statusPolls > statusPolls, 5_000);
    ac.abort();
    const aborted = await polling;
    expect(aborted.code).toBe('ABORTED');
    expect(f.stats.cancels).toBe(2);
    expect(f.jobCount).toBe(0);
  });

  it('reports a failed job with its message, and a refused search as BAD_CONFIG', async () => {
    const f = await fake();
    f.addEvents(backlog(ssh.slice(0, 5), 100, 50));
    const source = await startSource(plugin, configFor(f, { mode: 'jobs' }));
    f.failNextJob("Error in 'IndexScopedSearch': The search failed. More than 1000000 events found at time 1700000000.");
    const failed = await expectPluginError(pollOnce(source, undefined, 10));
    expect(failed.code).toBe('UNAVAILABLE');
    expect(failed.message).toContain('The search failed');
    await expect(startSource(plugin, configFor(f, { query: 'sourcetype=linux_secure | stats count' }))).rejects.toThrow(/contains a pipe/);
    const bad = await startSource(plugin, configFor(f, { index: 'main', query: 'sourcetype=linux_secure "unbalanced' }));
    f.inject({ kind: 'status', status: 400, match: /export$/ });
    const refused = await expectPluginError(pollOnce(bad, undefined, 10));
    expect(refused.code).toBe('BAD_CONFIG');
    expect(refused.message).toContain('FATAL: Unbalanced quotes.');
    expect(refused.message).toContain('check index and query');
  });

  it('searches by index time with a wide _time range, and maps rows to ECS with the raw event kept', async () => {
    const f = await fake();
    const [id] = f.addEvents(backlog(ssh.slice(0, 1), 100, 99));
    const source = await startSource(plugin, configFor(f, { query: 'sourcetype=linux_secure' }));
    const { events } = await pollOnce(source, undefined, 10);
    const body = new URLSearchParams(f.requestsTo(/export$/)[0]!.body);
    expect(body.get('search')).toMatch(/^search index="main" _index_earliest=\d+ _index_latest=\d+ sourcetype=linux_secure \| sort 0 _indextime$/);
    expect(body.get('output_mode')).toBe('json');
    expect(Number(body.get('earliest_time'))).toBeLessThan(Date.now() / 1000 - 23 * 3600);
    expect(events).toHaveLength(1);
    const ev = events[0]!;
    expect(ev.event?.id).toBe(id);
    expect(ev.event?.original).toBe(ssh[0]!.line);
    expect(ev.message).toBe(ssh[0]!.line);
    expect(ev.event?.dataset).toBe('linux_secure');
    expect((ev.host as { name: string }).name).toBe('LabSZ');
    expect(ev.labels).toMatchObject({ log_store: 'splunk', splunk_index: 'main', splunk_server: 'splunk-idx1' });
    expect(Date.parse(ev['@timestamp'])).toBeLessThanOrEqual(Date.parse(String(ev.event?.ingested)));
  });

  it('speaks HTTPS: an unknown CA is BAD_CONFIG naming tls.ca_file; tls.ca_file or tls.verify: false connect; a missing CA file fails start()', async () => {
    const tls = selfSignedCertificate();
    const fake = await new SplunkFake({ credentials: CREDS, jobDurationMs: 20 }).start(0, tls);
    fakes.push(fake);
    fake.addEvents(backlog(ssh.slice(0, 3), 100, 50));
    await expectTlsOptionsHonoured(plugin, { host: '127.0.0.1', port: fake.port, scheme: 'https', auth: TOKEN }, tls.cert);
  });

  it('describes backend and target without credentials', async () => {
    const f = await fake();
    for (const auth of [TOKEN, { type: 'session', username: 'fabric', password: CREDS.password }]) {
      const source = await startSource(plugin, configFor(f, { auth }));
      const d = source.describe!();
      expect(d).toMatchObject({ backend: 'splunk', target: `http://127.0.0.1:${f.port}`, index: 'main' });
      expect(JSON.stringify(d)).not.toContain(CREDS.password!);
      expect(JSON.stringify(d)).not.toContain(CREDS.token!);
    }
  });
});
