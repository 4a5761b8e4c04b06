import { afterAll, describe, expect, it } from 'vitest';
import { FakeHost } from './fake-host.js';
import { SecretAudit, TOKEN, expectError, testApi } from './harness.js';

/** The enricher routes and the runtime-config routes' contract, on the in-memory host. */
const audit = new SecretAudit();
afterAll(() => audit.assertNoneOf([TOKEN]));

describe('enricher routes', () => {
  it('lists enrichers with state, health, quota and cache, clears one cache and restarts one', async () => {
    const host = new FakeHost([{ id: 'vt' }]);
    const api = await testApi(host, audit);
    const list = await api.call({ url: '/enrichers' });
    expect(list.statusCode).toBe(200);
    expect(list.json().enrichers).toEqual([
      {
        id: 'vt',
        plugin: '@reactive-fabric/plugin-ti-virustotal',
        pluginVersion: '0.1.0',
        state: 'running',
        health: 'healthy',
        quota: { usedToday: 12, remainingToday: 488, perMinute: 4, perDay: 500, availableThisMinute: 4 },
        queue: 0,
        cache: { entries: 3, hits: 9, misses: 3, hitRate: 0.75 },
      },
    ]);
    expect((await api.call({ url: '/enrichers/vt' })).json().cache.entries).toBe(3);
    expectError(await api.call({ url: '/enrichers/nope' }), 404, 'ENRICHER_NOT_FOUND');

    const cleared = await api.call({ method: 'DELETE', url: '/enrichers/vt/cache' });
    expect(cleared.json()).toEqual({ id: 'vt', removed: 3 });
    expect((await api.call({ url: '/enrichers/vt' })).json().cache.entries).toBe(0);
    expectError(await api.call({ method: 'DELETE', url: '/enrichers/nope/cache' }), 404, 'ENRICHER_NOT_FOUND');

    const restarted = await api.call({ method: 'POST', url: '/enrichers/vt/restart' });
    expect(restarted.statusCode, restarted.body).toBe(200);
    expect(restarted.json()).toMatchObject({ id: 'vt', command: 'restart' });
    expect(api.lines.join('')).toContain('"audit":"restart-enricher"');
    expectError(await api.call({ method: 'POST', url: '/enrichers/vt/restart', auth: false }), 401, 'UNAUTHORIZED');
    await api.app.close();
  });
});

describe('runtime config routes on a host that cannot change its config', () => {
  it('answers 501 NOT_SUPPORTED rather than pretending', async () => {
    const host = new FakeHost([{ id: 'a' }]);
    Object.defineProperty(host, 'configControl', { value: undefined });
    const api = await testApi(host, audit);
    expectError(await api.call({ url: '/collectors/a/config' }), 501, 'NOT_SUPPORTED');
    expectError(await api.call({ method: 'POST', url: '/reload' }), 501, 'NOT_SUPPORTED');
    expectError(await api.call({ method: 'DELETE', url: '/collectors/a' }), 501, 'NOT_SUPPORTED');
    // Writes need the token like every other route.
    expectError(await api.call({ method: 'POST', url: '/reload', auth: false }), 401, 'UNAUTHORIZED');
    expectError(await api.call({ method: 'PUT', url: '/admin/loggers', payload: { level: 'debug' }, auth: 'wrong-token-value' }), 401, 'UNAUTHORIZED');
    await api.app.close();
  });

  it('refuses hostile bodies with 400 before the host sees them', async () => {
    const host = new FakeHost([{ id: 'a' }]);
    const api = await testApi(host, audit);
    for (const payload of [
      '{"plugin":""}',
      '{"plugin":"x","config":[]}',
      '{"plugin":"x","__proto__":{"polluted":true}}',
      '{"plugin":"x","config":{"__proto__":{"polluted":true}}}',
      '{"plugin":"x","isolation":"kernel"}',
      `{"plugin":"${'x'.repeat(500)}"}`,
    ]) {
      const res = await api.call({ method: 'PUT', url: '/collectors/a/config', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
    }
    expectError(await api.call({ method: 'POST', url: '/collectors', payload: { id: '../etc', plugin: 'x' } }), 400, 'VALIDATION_FAILED');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await api.app.close();
  });
});
