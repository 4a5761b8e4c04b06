import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { SECRET_API_KEY, standardHost } from './fake-host.js';
import type { FakeHost } from './fake-host.js';
import { SecretAudit, TOKEN, expectError, testApi } from './harness.js';
import type { TestApi } from './harness.js';

const audit = new SecretAudit();
let host: FakeHost;
let api: TestApi;

beforeEach(async () => {
  host = standardHost();
  api = await testApi(host, audit);
  return () => api.app.close();
});

afterAll(() => audit.assertNoneOf([TOKEN, SECRET_API_KEY]));

describe('health and readiness', () => {
  it('answers /health and /ready without a token', async () => {
    const health = await api.call({ url: '/health', auth: false });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok' });
    const ready = await api.call({ url: '/ready', auth: false });
    expect(ready.statusCode).toBe(200);
    // Without the token only the verdict: the checks name files and backends.
    expect(ready.json()).toEqual({ ready: true });
    const detailed = await api.call({ url: '/ready' });
    expect(detailed.json()).toEqual({
      ready: true,
      checks: { config: { ok: true }, sink: { ok: true, detail: 'jsonl sink writable' }, worker_pool: { ok: true, detail: '2 threads' } },
    });
  });

  it('answers 503 with the failing check when the sink is unreachable', async () => {
    host.readiness_ = { ready: false, checks: { config: { ok: true }, sink: { ok: false, detail: 'kafka: broker 127.0.0.1:9092 unreachable' } } };
    const res = await api.call({ url: '/ready', auth: false });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ready: false });
    const detailed = await api.call({ url: '/ready' });
    expect(detailed.statusCode).toBe(503);
    expect(detailed.json().checks.sink).toEqual({ ok: false, detail: 'kafka: broker 127.0.0.1:9092 unreachable' });
  });
});

describe('GET /collectors', () => {
  it('lists every collector with plugin, version, state, since and health', async () => {
    const res = await api.call({ url: '/collectors' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const { collectors } = res.json();
    expect(collectors.map((c: { id: string }) => c.id)).toEqual(['auth-log', 'es-prod', 'broken', 'stopped-one', 'paused-one']);
    expect(collectors[1]).toEqual({
      id: 'es-prod',
      plugin: '@reactive-fabric/plugin-log-elasticsearch',
      pluginVersion: '0.1.0',
      kind: 'source',
      state: 'degraded',
      since: expect.stringMatching(/^2026-01-01T/),
      health: 'degraded',
    });
  });

  it('sends only the declared summary fields, whatever else the host adds', async () => {
    const leaky = standardHost();
    const original = leaky.listCollectors.bind(leaky);
    leaky.listCollectors = () => original().map((c) => ({ ...c, apiKey: SECRET_API_KEY, internal: { actor: 'x' } }));
    const other = await testApi(leaky, audit);
    const res = await other.call({ url: '/collectors' });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json().collectors[0]).sort()).toEqual(['health', 'id', 'kind', 'plugin', 'pluginVersion', 'since', 'state']);
    const originalDetail = leaky.getCollector.bind(leaky);
    leaky.getCollector = (id) => {
      const d = originalDetail(id);
      return d && ({ ...d, config: { api_key: SECRET_API_KEY }, metrics: { ...d.metrics, secret: SECRET_API_KEY } } as typeof d);
    };
    const detail = await other.call({ url: '/collectors/es-prod' });
    expect(detail.statusCode).toBe(200);
    expect(detail.body).not.toContain('config');
    expect(detail.json().metrics.secret).toBeUndefined();
    await other.app.close();
  });

  it('filters by ?state=', async () => {
    const res = await api.call({ url: '/collectors?state=failed' });
    expect(res.json().collectors.map((c: { id: string }) => c.id)).toEqual(['broken']);
    const none = await api.call({ url: '/collectors?state=starting' });
    expect(none.json()).toEqual({ collectors: [] });
  });

  it('rejects an unknown state with 400 naming the parameter', async () => {
    const body = expectError(await api.call({ url: '/collectors?state=sleeping' }), 400, 'VALIDATION_FAILED');
    expect(body.message).toContain('querystring/state');
  });
});

describe('GET /collectors/:id', () => {
  it('adds description, metrics, last error, checkpoint and restart count', async () => {
    const res = await api.call({ url: '/collectors/es-prod' });
    expect(res.statusCode).toBe(200);
    const d = res.json();
    expect(d.description).toEqual({ backend: 'elasticsearch', target: 'https://es.internal:9200', index: 'logs-*' });
    expect(d.lastError).toEqual({ code: 'UNAVAILABLE', message: 'es.internal:9200 answered 503', retriable: true, count: 3, since: '2026-01-01T00:00:00.000Z' });
    expect(d.metrics).toMatchObject({ eventsCollected: 42, pollErrors: 3, restarts: 0, inFlight: 0 });
    expect(d.restartCount).toBe(0);
    expect(d.checkpoint).toEqual({});
    const withCheckpoint = (await api.call({ url: '/collectors/auth-log' })).json();
    expect(withCheckpoint.checkpoint).toEqual({ value: { offset: 1024, inode: 77 }, updatedAt: expect.any(String) });
    expect(withCheckpoint.lastError).toBeUndefined();
  });

  it('404s with COLLECTOR_NOT_FOUND for an unknown id', async () => {
    const body = expectError(await api.call({ url: '/collectors/nope' }), 404, 'COLLECTOR_NOT_FOUND');
    expect(body.message).toContain('"nope"');
  });
});

describe('machine and transitions', () => {
  it('returns the statechart with its current state and transitions', async () => {
    const res = await api.call({ url: '/collectors/paused-one/machine' });
    expect(res.statusCode).toBe(200);
    const g = res.json();
    expect(g.current).toBe('paused');
    expect(g.initial).toBe('idle');
    expect(g.states.map((s: { name: string }) => s.name)).toEqual(['idle', 'starting', 'running', 'degraded', 'restarting', 'paused', 'stopping', 'stopped', 'failed']);
    const paused = g.states.find((s: { name: string }) => s.name === 'paused');
    expect(paused.transitions).toContainEqual({ event: 'RESUME', target: 'running' });
    const running = g.states.find((s: { name: string }) => s.name === 'running');
    expect(running.transitions).toContainEqual({ event: 'POLL_ERRORS', target: 'degraded', guarded: true });
    expectError(await api.call({ url: '/collectors/nope/machine' }), 404, 'COLLECTOR_NOT_FOUND');
  });

  it('lists recent transitions with time, event and reason, bounded by ?limit', async () => {
    await api.call({ method: 'POST', url: '/collectors/auth-log/stop?wait=5' });
    const all = (await api.call({ url: '/collectors/auth-log/transitions' })).json();
    expect(all.id).toBe('auth-log');
    expect(all.transitions.map((t: { event: string; to: string }) => `${t.event}->${t.to}`)).toEqual(['BOOT->running', 'STOP->stopping', 'STOPPED->stopped']);
    expect(all.transitions[1]).toEqual({ at: expect.stringMatching(/Z$/), from: 'running', to: 'stopping', event: 'STOP', reason: 'admin API stop' });
    const last = (await api.call({ url: '/collectors/auth-log/transitions?limit=1' })).json();
    expect(last.transitions).toHaveLength(1);
    expect(last.transitions[0].to).toBe('stopped');
    expectError(await api.call({ url: '/collectors/auth-log/transitions?limit=0' }), 400, 'VALIDATION_FAILED');
    expectError(await api.call({ url: '/collectors/auth-log/transitions?limit=abc' }), 400, 'VALIDATION_FAILED');
    expectError(await api.call({ url: '/collectors/nope/transitions' }), 404, 'COLLECTOR_NOT_FOUND');
  });
});

describe('commands', () => {
  it('walks a collector through stop, start, pause, resume and restart, answering the resulting state', async () => {
    const steps: Array<[string, string]> = [
      ['stop', 'stopped'],
      ['start', 'running'],
      ['pause', 'paused'],
      ['resume', 'running'],
      ['restart', 'running'],
    ];
    for (const [command, state] of steps) {
      const res = await api.call({ method: 'POST', url: `/collectors/auth-log/${command}?wait=5` });
      expect(res.statusCode, `${command}: ${res.body}`).toBe(200);
      expect(res.json()).toEqual({ id: 'auth-log', command, state });
    }
    expect((await api.call({ url: '/collectors/auth-log' })).json().restartCount).toBe(1);
  });

  it('answers the intermediate state at once, the settled one with ?wait', async () => {
    host.settleDelayMs = 300;
    const stopped = new Promise<void>((resolve) => host.events.on('status', (s) => s.id === 'auth-log' && s.state === 'stopped' && resolve()));
    expect((await api.call({ method: 'POST', url: '/collectors/auth-log/stop' })).json()).toEqual({ id: 'auth-log', command: 'stop', state: 'stopping' });
    expectError(await api.call({ method: 'POST', url: '/collectors/auth-log/start' }), 409, 'TRANSITION_NOT_ALLOWED');
    await stopped;
    expect((await api.call({ method: 'POST', url: '/collectors/auth-log/start?wait=10' })).json()).toEqual({ id: 'auth-log', command: 'start', state: 'running' });
    // A deadline shorter than the transition answers the state at the deadline.
    expect((await api.call({ method: 'POST', url: '/collectors/auth-log/restart?wait=0.05' })).json().state).toBe('restarting');
    expectError(await api.call({ method: 'POST', url: '/collectors/paused-one/stop?wait=61' }), 400, 'VALIDATION_FAILED');
  });

  it('answers 202 with the current state when the collector is already there, as Kafka Connect does', async () => {
    for (const [id, command, state] of [
      ['stopped-one', 'stop', 'stopped'],
      ['auth-log', 'resume', 'running'],
      ['paused-one', 'pause', 'paused'],
      ['auth-log', 'start', 'running'],
    ] as const) {
      const res = await api.call({ method: 'POST', url: `/collectors/${id}/${command}` });
      expect(res.statusCode, `${command} ${id}: ${res.body}`).toBe(202);
      expect(res.json()).toEqual({ id, command, state });
    }
    // Nothing changed: no transition was recorded.
    expect((await api.call({ url: '/collectors/stopped-one/transitions' })).json().transitions).toHaveLength(1);
  });

  it('answers 409 with the current state when the machine does not allow the command', async () => {
    const resume = expectError(await api.call({ method: 'POST', url: '/collectors/stopped-one/resume' }), 409, 'TRANSITION_NOT_ALLOWED');
    expect(resume.state).toBe('stopped');
    expect(resume.message).toBe('cannot resume collector "stopped-one" while it is stopped (GET /collectors/stopped-one/machine shows the allowed transitions)');
    const pause = expectError(await api.call({ method: 'POST', url: '/collectors/stopped-one/pause' }), 409, 'TRANSITION_NOT_ALLOWED');
    expect(pause.state).toBe('stopped');
    // Nothing changed.
    expect((await api.call({ url: '/collectors/stopped-one' })).json().state).toBe('stopped');
  });

  it('recovers a failed collector with restart', async () => {
    const res = await api.call({ method: 'POST', url: '/collectors/broken/restart?wait=5' });
    expect(res.json()).toEqual({ id: 'broken', command: 'restart', state: 'running' });
  });

  it('404s for an unknown collector and rejects an unknown command', async () => {
    expectError(await api.call({ method: 'POST', url: '/collectors/nope/stop' }), 404, 'COLLECTOR_NOT_FOUND');
    expectError(await api.call({ method: 'POST', url: '/collectors/auth-log/explode' }), 404, 'ROUTE_NOT_FOUND');
  });

  it('answers a host crash with a generic 500 and logs the cause with the request id', async () => {
    host.crashOnCommand.add('auth-log');
    const body = expectError(await api.call({ method: 'POST', url: '/collectors/auth-log/stop' }), 500, 'INTERNAL_ERROR');
    expect(body.message).not.toContain('actor');
    const reqId = /request ([^)]+)\)/.exec(body.message)?.[1];
    expect(reqId).toBeDefined();
    const logged = api.lines.map((l) => JSON.parse(l)).find((l) => l.level === 50);
    expect(logged.reqId).toBe(reqId);
    expect(logged.err.message).toContain("reading 'actor'");
  });

  it('writes an audit log line for every command', async () => {
    await api.call({ method: 'POST', url: '/collectors/auth-log/pause' });
    const audit = api.lines.map((l) => JSON.parse(l)).find((l) => l.audit === 'pause-collector');
    expect(audit).toMatchObject({ collector: 'auth-log', from: 'running', level: 30 });
  });
});

describe('POST /collectors/restart', () => {
  it('with onlyFailed=true restarts only the failed collectors', async () => {
    const res = await api.call({ method: 'POST', url: '/collectors/restart?onlyFailed=true' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ results: [{ id: 'broken', ok: true, state: 'restarting' }] });
    expect((await api.call({ url: '/collectors/auth-log' })).json().restartCount).toBe(0);
  });

  it('without it restarts every collector, reporting the ones that cannot', async () => {
    host.crashOnCommand.add('paused-one');
    const res = await api.call({ method: 'POST', url: '/collectors/restart' });
    const results = res.json().results as Array<{ id: string; ok: boolean; state: string; reason?: string }>;
    expect(results.map((r) => [r.id, r.ok, r.state])).toEqual([
      ['auth-log', true, 'restarting'],
      ['es-prod', true, 'restarting'],
      ['broken', true, 'restarting'],
      ['stopped-one', true, 'starting'],
      ['paused-one', false, 'paused'],
    ]);
    expect(results[4]!.reason).toBe('restart failed; see the server log');
  });

  it('rejects a non-boolean onlyFailed', async () => {
    expectError(await api.call({ method: 'POST', url: '/collectors/restart?onlyFailed=perhaps' }), 400, 'VALIDATION_FAILED');
  });
});

describe('checkpoint', () => {
  it('reads the stored checkpoint', async () => {
    const res = await api.call({ url: '/collectors/auth-log/checkpoint' });
    expect(res.json()).toEqual({ id: 'auth-log', value: { offset: 1024, inode: 77 }, updatedAt: expect.any(String) });
    expect((await api.call({ url: '/collectors/paused-one/checkpoint' })).json()).toEqual({ id: 'paused-one' });
    expectError(await api.call({ url: '/collectors/nope/checkpoint' }), 404, 'COLLECTOR_NOT_FOUND');
  });

  it('refuses writes while the collector runs, allows them once stopped', async () => {
    const conflict = expectError(await api.call({ method: 'PUT', url: '/collectors/auth-log/checkpoint', payload: { value: { offset: 0 } } }), 409, 'CHECKPOINT_CONFLICT');
    expect(conflict.state).toBe('running');
    expect(conflict.message).toContain('POST /collectors/auth-log/stop first');
    expectError(await api.call({ method: 'DELETE', url: '/collectors/paused-one/checkpoint' }), 409, 'CHECKPOINT_CONFLICT');
    // A failed collector polls no more: its checkpoint may be fixed before restarting it.
    expect((await api.call({ method: 'PUT', url: '/collectors/broken/checkpoint', payload: { value: { offset: 1 } } })).statusCode).toBe(200);

    await api.call({ method: 'POST', url: '/collectors/auth-log/stop?wait=5' });
    const put = await api.call({ method: 'PUT', url: '/collectors/auth-log/checkpoint', payload: { value: { offset: 0, inode: 77 } } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ id: 'auth-log', value: { offset: 0, inode: 77 } });
    expect((await api.call({ url: '/collectors/auth-log/checkpoint' })).json().value).toEqual({ offset: 0, inode: 77 });

    const del = await api.call({ method: 'DELETE', url: '/collectors/auth-log/checkpoint' });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect((await api.call({ url: '/collectors/auth-log/checkpoint' })).json()).toEqual({ id: 'auth-log' });
  });

  it('accepts any JSON value, including null and strings', async () => {
    for (const value of ['cursor-abc', 17, null, [1, 'a']]) {
      const res = await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: { value } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().value).toEqual(value);
    }
  });

  it('rejects a body without value, an unknown field, broken JSON and non-JSON content types', async () => {
    expectError(await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: {} }), 400, 'VALIDATION_FAILED');
    expectError(await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: { value: 1, offset: 2 } }), 400, 'VALIDATION_FAILED');
    expectError(
      await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: '{"value": ', headers: { 'content-type': 'application/json' } }),
      400,
      'INVALID_JSON',
    );
    expectError(
      await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: 'value=1', headers: { 'content-type': 'text/plain' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectError(await api.call({ method: 'PUT', url: '/collectors/nope/checkpoint', payload: { value: 1 } }), 404, 'COLLECTOR_NOT_FOUND');
  });
});

describe('plugins', () => {
  it('lists installed plugins with version, kind, API compatibility and config schema', async () => {
    const { plugins } = (await api.call({ url: '/plugins' })).json();
    expect(plugins.map((p: { name: string; compatible: boolean }) => [p.name, p.compatible])).toEqual([
      ['@reactive-fabric/plugin-log-file', true],
      ['@reactive-fabric/plugin-log-elasticsearch', true],
      ['legacy-plugin', false],
    ]);
    expect(plugins[1].configSchema.properties.api_key).toMatchObject({ type: 'string', writeOnly: true, 'x-secret': true });
    expect(plugins[2]).toMatchObject({ kind: 'unknown', apiRange: '^0.9.0', problem: expect.stringContaining('0.9.0') });
  });

  it('validates a candidate config with per-field errors, never echoing a secret', async () => {
    const url = `/plugins/${encodeURIComponent('@reactive-fabric/plugin-log-elasticsearch')}/config/validate`;
    const ok = await api.call({ method: 'POST', url, payload: { url: 'https://es:9200', api_key: SECRET_API_KEY } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ plugin: '@reactive-fabric/plugin-log-elasticsearch', valid: true, errorCount: 0, errors: [] });

    const bad = await api.call({ method: 'POST', url, payload: { url: 'ftp://es', api_key: [SECRET_API_KEY], page_size: 0, pagesize: 5 } });
    expect(bad.statusCode).toBe(200);
    const result = bad.json();
    expect(result.valid).toBe(false);
    const byPath = Object.fromEntries(result.errors.map((e: { path: string }) => [e.path, e]));
    expect(Object.keys(byPath).sort()).toEqual(['/api_key', '/page_size', '/pagesize', '/url']);
    expect(byPath['/api_key'].value).toBe('[redacted]');
    expect(byPath['/url'].value).toBe('ftp://es');
    expect(byPath['/pagesize'].message).toContain('unknown field');
    expect(result.errorCount).toBe(4);

    const missing = (await api.call({ method: 'POST', url, payload: {} })).json();
    expect(missing.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/api_key', '/url']);
  });

  it('404s for a plugin that is not installed and 400s for a non-object body', async () => {
    const body = expectError(await api.call({ method: 'POST', url: '/plugins/not-there/config/validate', payload: {} }), 404, 'PLUGIN_NOT_FOUND');
    expect(body.message).toContain('GET /plugins');
    expectError(await api.call({ method: 'POST', url: '/plugins/legacy-plugin/config/validate', payload: [1, 2] }), 400, 'VALIDATION_FAILED');
  });
});

describe('false positives', () => {
  it('marks, lists and unmarks an indicator', async () => {
    const mark = await api.call({ method: 'POST', url: '/false-positives', payload: { indicator: { type: 'ipv4', value: '203.0.113.7' }, reason: 'our scanner' } });
    expect(mark.statusCode).toBe(201);
    expect(mark.json()).toEqual({ indicator: { type: 'ipv4', value: '203.0.113.7' }, reason: 'our scanner', markedAt: expect.any(String) });
    await api.call({ method: 'POST', url: '/false-positives', payload: { indicator: { type: 'url', value: 'https://intranet.example/a?b=c' } } });
    const list = (await api.call({ url: '/false-positives' })).json().falsePositives;
    expect(list.map((f: { indicator: { value: string } }) => f.indicator.value)).toEqual(['203.0.113.7', 'https://intranet.example/a?b=c']);

    const del = await api.call({ method: 'DELETE', url: `/false-positives/url/${encodeURIComponent('https://intranet.example/a?b=c')}` });
    expect(del.statusCode).toBe(204);
    expectError(await api.call({ method: 'DELETE', url: `/false-positives/url/${encodeURIComponent('https://intranet.example/a?b=c')}` }), 404, 'FALSE_POSITIVE_NOT_FOUND');
    expect((await api.call({ url: '/false-positives' })).json().falsePositives).toHaveLength(1);
  });

  it('rejects values that do not fit their type, unknown types and extra fields', async () => {
    const ip = expectError(await api.call({ method: 'POST', url: '/false-positives', payload: { indicator: { type: 'ipv4', value: '999.1.1.1' } } }), 400, 'VALIDATION_FAILED');
    expect(ip.message).toContain('"999.1.1.1" is not an IPv4 address');
    const hash = expectError(await api.call({ method: 'POST', url: '/false-positives', payload: { indicator: { type: 'sha256', value: 'abc' } } }), 400, 'VALIDATION_FAILED');
    expect(hash.message).toContain('64 hexadecimal digits');
    expectError(await api.call({ method: 'POST', url: '/false-positives', payload: { indicator: { type: 'email', value: 'a@b.c' } } }), 400, 'VALIDATION_FAILED');
    expectError(await api.call({ method: 'POST', url: '/false-positives', payload: { indicator: { type: 'domain', value: 'a.example' }, why: 'x' } }), 400, 'VALIDATION_FAILED');
    expectError(await api.call({ method: 'DELETE', url: '/false-positives/email/a' }), 400, 'VALIDATION_FAILED');
    expect((await api.call({ url: '/false-positives' })).json().falsePositives).toEqual([]);
  });
});

describe('metrics and stats', () => {
  it('serves Prometheus text with the collector metrics', async () => {
    const res = await api.call({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain('fabric_collector_state{collector="broken",state="failed"} 1');
    expect(res.body).toContain('# TYPE fabric_collector_poll_duration_seconds histogram');
  });

  it('serves the same numbers as JSON on /stats', async () => {
    await api.call({ method: 'POST', url: '/collectors/broken/restart?wait=5' });
    const stats = (await api.call({ url: '/stats' })).json();
    expect(stats.fabric_collector_restarts_total).toEqual([{ value: 1, labels: { collector: 'broken' } }]);
    const text = (await api.call({ url: '/metrics' })).body;
    expect(text).toContain('fabric_collector_restarts_total{collector="broken"} 1');
  });
});

describe('unknown routes', () => {
  it('asks for the token before saying a route does not exist', async () => {
    expectError(await api.call({ url: '/admin/secret-page', auth: false }), 401, 'UNAUTHORIZED');
    const body = expectError(await api.call({ url: '/admin/secret-page' }), 404, 'ROUTE_NOT_FOUND');
    expect(body.message).toContain('/openapi.json');
    expectError(await api.call({ method: 'DELETE', url: '/collectors' }), 404, 'ROUTE_NOT_FOUND');
  });
});
