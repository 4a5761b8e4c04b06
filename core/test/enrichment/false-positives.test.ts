import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { FalsePositiveStore } from '../../src/enrichment/index.js';
import { HostError } from '../../src/host.js';
import { detection, FakeEnricher, makeStage, ManualClock, metricValue, processWithin, reputation, tempStateDir } from './helpers.js';

const START = Date.UTC(2026, 0, 15, 6, 0, 0);

describe('false positives', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('are excluded from verdicts, never looked up, counted, and remembered across restarts', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 1, confidence: 1 }) });
    const registry = new Registry();
    const a = await makeStage({ enrichers: [{ id: 'vt', instance: src }], stateDir: state.dir, clock, registry });
    const marked = await a.stage.falsePositives.mark({ type: 'ipv6', value: '2A00:1450:4001:0:0:0:0:200E' }, 'our CDN');
    expect(marked).toMatchObject({ indicator: { type: 'ipv6', value: '2a00:1450:4001::200e' }, reason: 'our CDN' });
    await a.stage.falsePositives.mark({ type: 'domain', value: 'Updates.Vendor.COM.' });
    expect(await metricValue(registry, 'fabric_enrichment_false_positives')).toBe(2);

    const e = detection({ source: { ip: '2a00:1450:4001::200e' }, url: { original: 'https://updates.vendor.com/pkg.bin' } });
    await processWithin(a.stage, clock, [e], 100);
    // The URL itself is not marked, so it alone is asked.
    expect(src.lookedUp).toEqual(['https://updates.vendor.com/pkg.bin']);
    expect(reputation(e).skipped).toEqual([
      { type: 'ipv6', value: '2a00:1450:4001::200e', reason: 'false_positive' },
      { type: 'domain', value: 'updates.vendor.com', reason: 'false_positive' },
    ]);
    expect(reputation(e).explanation).toContain('2a00:1450:4001::200e (false_positive)');
    expect(await metricValue(registry, 'fabric_enrichment_false_positive_hits_total')).toBe(2);
    await a.stage.stop();

    const b = await makeStage({ enrichers: [{ id: 'vt', instance: src }], stateDir: state.dir, clock });
    expect((await b.stage.falsePositives.list()).map((f) => f.indicator.value)).toEqual(['2a00:1450:4001::200e', 'updates.vendor.com']);
    expect(await metricValue(b.registry, 'fabric_enrichment_false_positives')).toBe(2);
    const again = detection({ source: { ip: '2a00:1450:4001::200e' } });
    await b.stage.process([again]);
    expect(src.lookedUp).toHaveLength(1);
    expect(reputation(again).verdict).toBe('unknown');

    expect(await b.stage.falsePositives.unmark({ type: 'ipv6', value: '2a00:1450:4001:0::200e' })).toBe(true);
    expect(await b.stage.falsePositives.unmark({ type: 'ipv6', value: '2a00:1450:4001::200e' })).toBe(false);
    const after = detection({ source: { ip: '2a00:1450:4001::200e' } });
    await processWithin(b.stage, clock, [after], 100);
    expect(reputation(after).verdict).toBe('malicious');
    await b.stage.stop();
  });

  it('rejects malformed indicators with a message that names the problem', async () => {
    const store = await FalsePositiveStore.open(state.dir);
    await expect(store.mark({ type: 'ipv4', value: '300.1.1.1' })).rejects.toThrow(/"300.1.1.1" is not an IP address/);
    await expect(store.mark({ type: 'sha256', value: 'abc' })).rejects.toThrow(HostError);
    await expect(store.mark({ type: 'hostname' as never, value: 'x.com' })).rejects.toThrow(/unknown indicator type "hostname"/);
    expect(await store.list()).toEqual([]);
  });
});
