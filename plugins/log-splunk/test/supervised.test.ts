import { afterEach, describe, expect, it } from 'vitest';
import { SplunkFake, loghubDir, loghubSplunkEvents, readLoghub, spreadOverTime } from '@reactive-fabric/test-kit/fakes';
import { validateAgainstSchema } from '@reactive-fabric/core/runtime';
import type { SourceInstance } from '@reactive-fabric/core';
// The core's own collector harness: the real Collector state machine, pipeline and checkpoint store.
import { harness } from '../../../core/test/collector-harness.js';
import { until } from '../../../core/test/helpers.js';
import plugin from '../src/index.js';
import { duplicates, repoRoot, testContext } from '../../../test/support/log-store-plugins.js';

const fakes: SplunkFake[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

describe('log-splunk under the real collector supervisor', () => {
  it('a refused login degrades the collector with AUTH_FAILED; fixed credentials bring it back with nothing lost', async () => {
    const creds = { username: 'fabric', password: 'pw-never-logged-1' };
    const fake = await new SplunkFake({ credentials: creds, jobDurationMs: 20 }).start();
    fakes.push(fake);
    const records = readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log', 300);
    const nowS = Math.floor(Date.now() / 1000);
    const expected = new Set(fake.addEvents(loghubSplunkEvents(spreadOverTime(records.slice(0, 200), (nowS - 120) * 1000, (nowS - 60) * 1000), { indexTime: nowS - 90 })));

    const config = { host: '127.0.0.1', port: fake.port, scheme: 'http', mode: 'jobs', job_poll_interval_ms: 10, auth: { type: 'session', ...creds } };
    const { value, errors } = validateAgainstSchema(plugin.configSchema, config);
    expect(errors).toEqual([]);
    const h = harness(() => plugin.create(value as never, testContext('splunk')) as SourceInstance, {
      timing: { intervalMs: 50, batchSize: 40, healthIntervalMs: 60_000 },
      policy: { backoffMinMs: 50, backoffMaxMs: 200 },
    });
    h.collector.send({ type: 'START' });
    await until(() => h.sink.events.length === 200, 15_000);

    fake.setCredentials({ username: 'fabric', password: 'rotated' });
    fake.expireSessions();
    for (const id of fake.addEvents(loghubSplunkEvents(spreadOverTime(records.slice(200, 300), Date.now() - 30_000, Date.now() - 5_000)))) expected.add(id);
    await until(() => h.collector.currentState === 'degraded', 15_000);
    const lastError = h.collector.detail().lastError as { code: string; message: string };
    expect(lastError.code).toBe('AUTH_FAILED');
    expect(lastError.message).toContain('Login failed');
    expect(JSON.stringify(h.collector.detail())).not.toContain(creds.password);

    fake.setCredentials(creds);
    await until(() => h.collector.currentState === 'running' && h.sink.events.length >= 300, 15_000);
    const ids = h.sink.events.map((e) => e.event.id);
    expect(duplicates(ids)).toEqual([]);
    expect(new Set(ids)).toEqual(expected);
    h.collector.send({ type: 'STOP' });
  });
});
