import { afterEach, describe, expect, it } from 'vitest';
import { GraylogFake, loghubDir, loghubGraylogMessages, readLoghub, spreadOverTime } from '@reactive-fabric/test-kit/fakes';
import { validateAgainstSchema } from '@reactive-fabric/core/runtime';
import type { SourceInstance } from '@reactive-fabric/core';
// The core's own collector harness: the real Collector state machine, pipeline and checkpoint store.
import { harness } from '../../../core/test/collector-harness.js';
import { until } from '../../../core/test/helpers.js';
import plugin from '../src/index.js';
import { duplicates, repoRoot, testContext } from '../../../test/support/log-store-plugins.js';

const fakes: GraylogFake[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

describe('log-graylog under the real collector supervisor', () => {
  it('a revoked token degrades the collector with AUTH_FAILED; a valid one brings it back with nothing lost', async () => {
    const token = 'gl-token-never-logged-0123456789';
    const fake = await new GraylogFake({ credentials: { tokens: [token] } }).start();
    fakes.push(fake);
    const records = readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log', 300);
    const now = Date.now();
    const expected = new Set(fake.addMessages(loghubGraylogMessages(spreadOverTime(records.slice(0, 200), now - 120_000, now - 60_000))));

    const config = { host: '127.0.0.1', port: fake.port, scheme: 'http', api: 'scripting', auth: { type: 'token', token } };
    const { value, errors } = validateAgainstSchema(plugin.configSchema, config);
    expect(errors).toEqual([]);
    const h = harness(() => plugin.create(value as never, testContext('graylog')) as SourceInstance, {
      timing: { intervalMs: 50, batchSize: 40, healthIntervalMs: 60_000 },
      policy: { backoffMinMs: 50, backoffMaxMs: 200 },
    });
    h.collector.send({ type: 'START' });
    await until(() => h.sink.events.length === 200, 15_000);

    fake.setCredentials({ tokens: [] });
    for (const id of fake.addMessages(loghubGraylogMessages(spreadOverTime(records.slice(200, 300), Date.now() - 30_000, Date.now() - 5_000)))) expected.add(id);
    await until(() => h.collector.currentState === 'degraded', 15_000);
    const lastError = h.collector.detail().lastError as { code: string; message: string };
    expect(lastError.code).toBe('AUTH_FAILED');
    expect(lastError.message).toContain('credentials refused (401');
    expect(JSON.stringify(h.collector.detail())).not.toContain(token);

    fake.setCredentials({ tokens: [token] });
    await until(() => h.collector.currentState === 'running' && h.sink.events.length >= 300, 15_000);
    const ids = h.sink.events.map((e) => e.event.id);
    expect(duplicates(ids)).toEqual([]);
    expect(new Set(ids)).toEqual(expected);
    h.collector.send({ type: 'STOP' });
  });
});
