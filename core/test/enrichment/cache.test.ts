import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detection, FakeEnricher, makeStage, ManualClock, metricValue, processWithin, reputation, tempStateDir } from './helpers.js';

const START = Date.UTC(2026, 0, 15, 6, 0, 0);
const MINUTE = 60_000;

describe('verdict cache', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  const malicious = (clock: ManualClock, key = 'api-key-AAAA-secret') =>
    new FakeEnricher(clock, {
      supports: ['ipv4', 'domain'],
      key,
      respond: (ind) => (ind.value.startsWith('45.') ? { indicator: ind, status: 'malicious', score: 0.9, confidence: 0.9 } : { indicator: ind, status: 'unknown' }),
    });

  it('serves hits, expires after the enricher cache_ttl_minutes, counts hits and misses', async () => {
    const clock = new ManualClock(START);
    const src = malicious(clock);
    const { stage, registry } = await makeStage({ enrichers: [{ id: 'vt', instance: src, config: { cache_ttl_minutes: 10 } }], stateDir: state.dir, clock });
    await processWithin(stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    await stage.process([detection({ source: { ip: '45.9.9.9' } })]);
    expect(src.calls.length).toBe(1);
    expect(await metricValue(registry, 'fabric_enrichment_cache_hits_total', { enricher: 'vt' })).toBe(1);
    expect(await metricValue(registry, 'fabric_enrichment_cache_misses_total', { enricher: 'vt' })).toBe(1);

    await clock.advance(10 * MINUTE);
    const e = detection({ source: { ip: '45.9.9.9' } });
    await processWithin(stage, clock, [e], 100);
    expect(src.calls.length).toBe(2);
    expect(reputation(e).verdict).toBe('malicious');
    await stage.stop();
  });

  it("reports one source's cache entries, hits, misses and quota, and clears only its answers (GET/DELETE /enrichers)", async () => {
    const clock = new ManualClock(START);
    const vt = malicious(clock);
    const otx = malicious(clock, 'otx-key-BBBB');
    const { stage } = await makeStage({
      enrichers: [
        { id: 'vt', instance: vt, config: { requests_per_day: 500 } },
        { id: 'otx', instance: otx },
      ],
      stateDir: state.dir,
      clock,
    });
    await processWithin(stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    await stage.process([detection({ source: { ip: '45.9.9.9' } })]);
    const source = stage.sources.get('vt')!;
    expect(source.cacheStats()).toEqual({ entries: 1, hits: 1, misses: 1 });
    expect(source.quota()).toMatchObject({ usedToday: 1, perDay: 500, remainingToday: 499 });
    expect(stage.sources.get('otx')!.quota().remainingToday).toBeUndefined();

    expect(source.clearCache()).toBe(1);
    expect(source.cacheStats().entries).toBe(0);
    expect(stage.sources.get('otx')!.cacheStats().entries).toBe(1);
    // Asked again: its answer is no longer cached; the other source's still is.
    await processWithin(stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    expect(vt.calls.length).toBe(2);
    expect(otx.calls.length).toBe(1);
    await stage.stop();
  });

  it('caches "unknown" for the shorter negative TTL', async () => {
    const clock = new ManualClock(START);
    const src = malicious(clock);
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], config: { cache: { ttl_minutes: 60, negative_ttl_minutes: 5 } }, stateDir: state.dir, clock });
    const events = () => [detection({ destination: { ip: '45.9.9.9' }, dns: { question: { name: 'never-seen.net' } } })];
    await processWithin(stage, clock, events(), 100);
    expect(src.lookedUp.sort()).toEqual(['45.9.9.9', 'never-seen.net']);
    await clock.advance(4 * MINUTE);
    await stage.process(events());
    expect(src.calls.length).toBe(2);
    await clock.advance(2 * MINUTE);
    await processWithin(stage, clock, events(), 100);
    // Only the unknown is asked again; the malicious verdict is good for an hour.
    expect(src.lookedUp.slice(2)).toEqual(['never-seen.net']);
    await stage.stop();
  });

  it('persists under state_dir across a restart, without the API key in the file', async () => {
    const clock = new ManualClock(START);
    const first = malicious(clock);
    const a = await makeStage({ enrichers: [{ id: 'vt', instance: first }], stateDir: state.dir, clock });
    await processWithin(a.stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    await a.stage.stop();
    const file = await readFile(path.join(state.dir, 'enrichment', 'verdict-cache.json'), 'utf8');
    expect(file).not.toContain('api-key-AAAA-secret');

    const second = malicious(clock);
    const b = await makeStage({ enrichers: [{ id: 'vt', instance: second }], stateDir: state.dir, clock });
    const e = detection({ source: { ip: '45.9.9.9' } });
    await b.stage.process([e]);
    expect(second.calls.length).toBe(0);
    expect(reputation(e)).toMatchObject({ verdict: 'malicious', sources_answered: ['vt'] });
    await b.stage.stop();

    // Expired entries are not revived by a restart.
    clock.current += 61 * MINUTE;
    const third = malicious(clock);
    const c = await makeStage({ enrichers: [{ id: 'vt', instance: third }], stateDir: state.dir, clock });
    await processWithin(c.stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    expect(third.calls.length).toBe(1);
    await c.stage.stop();
  });

  it('stage checkpoints save the cache at most every 30 s, so a crash keeps what was saved', async () => {
    const clock = new ManualClock(START);
    const src = malicious(clock);
    const a = await makeStage({ enrichers: [{ id: 'vt', instance: src }], stateDir: state.dir, clock });
    await processWithin(a.stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    await a.stage.acknowledge!({ seq: 1, collector: 'c' });
    await expect(readFile(path.join(state.dir, 'enrichment', 'verdict-cache.json'), 'utf8')).rejects.toThrow(/ENOENT/);
    await clock.advance(30_000);
    await a.stage.acknowledge!({ seq: 1, collector: 'c' });
    // No close(): the process "crashed" after the checkpoint.
    const again = malicious(clock);
    const b = await makeStage({ enrichers: [{ id: 'vt', instance: again }], stateDir: state.dir, clock });
    await b.stage.process([detection({ source: { ip: '45.9.9.9' } })]);
    expect(again.calls.length).toBe(0);
    await b.stage.stop();
    await a.stage.stop();
  });

  it('a changed API key (cacheKey) never serves answers cached under the old one', async () => {
    const clock = new ManualClock(START);
    const oldKey = malicious(clock, 'key-old');
    const a = await makeStage({ enrichers: [{ id: 'vt', instance: oldKey }], stateDir: state.dir, clock });
    await processWithin(a.stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    await a.stage.stop();

    const newKey = new FakeEnricher(clock, { supports: ['ipv4'], key: 'key-new', respond: (ind) => ({ indicator: ind, status: 'clean', score: 0, confidence: 1 }) });
    const b = await makeStage({ enrichers: [{ id: 'vt', instance: newKey }], stateDir: state.dir, clock });
    const e = detection({ source: { ip: '45.9.9.9' } });
    await processWithin(b.stage, clock, [e], 100);
    expect(newKey.calls.length).toBe(1);
    expect(reputation(e).verdict).toBe('clean');
    await b.stage.stop();
  });

  it('without cacheKey(), a changed enricher config invalidates too', async () => {
    const clock = new ManualClock(START);
    const make = () => {
      const f = malicious(clock);
      (f as { cacheKey?: unknown }).cacheKey = undefined;
      return f;
    };
    const one = make();
    const a = await makeStage({ enrichers: [{ id: 'otx', instance: one, config: { api_key: 'k1', sections: ['general'] } }], stateDir: state.dir, clock });
    await processWithin(a.stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    await a.stage.stop();
    const two = make();
    const b = await makeStage({ enrichers: [{ id: 'otx', instance: two, config: { sections: ['general'], api_key: 'k1' } }], stateDir: state.dir, clock });
    await b.stage.process([detection({ source: { ip: '45.9.9.9' } })]);
    expect(two.calls.length).toBe(0);
    await b.stage.stop();
    const three = make();
    const c = await makeStage({ enrichers: [{ id: 'otx', instance: three, config: { sections: ['general'], api_key: 'k2' } }], stateDir: state.dir, clock });
    await processWithin(c.stage, clock, [detection({ source: { ip: '45.9.9.9' } })], 100);
    expect(three.calls.length).toBe(1);
    await c.stage.stop();
  });
});
