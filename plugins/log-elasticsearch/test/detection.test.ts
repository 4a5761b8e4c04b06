import { afterAll, describe, expect, it } from 'vitest';
import { ElasticsearchFake, loghubDir, loghubEsDocs, readLoghub, spreadOverTime } from '@reactive-fabric/test-kit/fakes';
import type { SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { drain, rawLineEvents, repoRoot, ruleMatchCounts, startSource } from '../../../test/support/log-store-plugins.js';

const fake = new ElasticsearchFake({ flavour: 'opensearch' });
afterAll(() => fake.close());

describe('log-elasticsearch events through the detection engine', () => {
  it('match the built-in rules exactly as the same Loghub lines read from a file do', async () => {
    await fake.start();
    const records = [...readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log'), ...readLoghub(loghubDir(repoRoot), 'Linux_2k.log')];
    const now = Date.now();
    fake.addDocs(loghubEsDocs(spreadOverTime(records, now - 4 * 60_000, now - 60_000), 'logs-auth'));
    const source = await startSource(plugin, { host: '127.0.0.1', port: fake.port, scheme: 'http', max_results_per_query: 2000 });
    const events: SourceEvent[] = [];
    await drain(source, undefined, 5000, events);
    expect(events).toHaveLength(records.length);
    const got = await ruleMatchCounts(events);
    const want = await ruleMatchCounts(rawLineEvents(records.map((r) => r.line)));
    expect(want.rf_failed_authentication).toBeGreaterThan(100);
    expect(got).toEqual(want);
  });
});
