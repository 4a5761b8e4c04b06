import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { detection, FakeEnricher, makeStage, ManualClock, metricValue, processWithin, reputation, tempStateDir } from './helpers.js';

const START = Date.UTC(2026, 0, 15, 6, 0, 0);
const enrichments = (e: unknown) => (e as { threat: { enrichments: Array<Record<string, any>> } }).threat.enrichments;

// The cached path reuses each indicator's summary and threat.enrichments entries between events
// (stage.ts): these pin down that reuse never leaks between events nor outlives the answer.
describe('enrichment from the cache', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('gives a later event the same verdict, in objects of its own, with the field it was found in', async () => {
    const clock = new ManualClock(START);
    const vt = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.9, confidence: 0.8, evidence: { hits: 3 } }) });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock });
    const first = detection({ source: { ip: '45.1.2.3' } });
    await processWithin(stage, clock, [first], 100);
    const second = detection({ destination: { ip: '45.1.2.3' } });
    const third = detection({ source: { ip: '45.1.2.3' } });
    await processWithin(stage, clock, [second, third], 100);
    expect(vt.calls).toHaveLength(1);
    expect(reputation(second)).toEqual(reputation(first));
    expect(enrichments(third)).toEqual(enrichments(first));
    expect(enrichments(second)[0]!.matched.field).toBe('destination.ip');
    // Same JSON, key order included, whether built or copied from the cached outcome.
    expect(JSON.stringify(reputation(third))).toBe(JSON.stringify(reputation(first)));
    expect(JSON.stringify(enrichments(third))).toBe(JSON.stringify(enrichments(first)));
    // Changing one event's enrichment must not touch another's.
    enrichments(second)[0]!.verdict.status = 'clean';
    enrichments(second)[0]!.indicator.ip = 'changed';
    expect(enrichments(third)[0]!.verdict.status).toBe('malicious');
    expect(enrichments(third)[0]!.indicator.ip).toBe('45.1.2.3');
    await stage.stop();
  });

  it('an event with more skips than are listed keeps its skipped_total when answered from the cache', async () => {
    const clock = new ManualClock(START);
    const vt = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.8 }) });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock });
    const many = () => detection({ source: { ip: '45.1.2.5' }, related: { ip: Array.from({ length: 150 }, (_, i) => `10.1.${i >> 8}.${i & 255}`) } });
    const first = many();
    await processWithin(stage, clock, [first], 100);
    const second = many();
    await processWithin(stage, clock, [second], 100);
    expect(vt.calls).toHaveLength(1);
    expect(reputation(second).skipped_total).toBe(150);
    expect(reputation(second).skipped).toHaveLength(100);
    expect(JSON.stringify(reputation(second))).toBe(JSON.stringify(reputation(first)));
    await stage.stop();
  });

  it('an event that starts at another priority is not given the outcome of one whose priority was raised', async () => {
    const clock = new ManualClock(START);
    const vt = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.95, confidence: 0.9 }) });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock });
    const first = detection({ source: { ip: '45.1.2.4' } }, 'medium');
    await processWithin(stage, clock, [first], 100);
    const already = detection({ source: { ip: '45.1.2.4' } }, 'critical');
    const again = detection({ source: { ip: '45.1.2.4' } }, 'medium');
    await processWithin(stage, clock, [already, again], 100);
    expect(vt.calls).toHaveLength(1);
    expect(reputation(first).priority).toMatchObject({ from: 'medium', to: 'critical' });
    expect(reputation(already).priority).toMatchObject({ from: 'critical', to: 'critical' });
    expect(reputation(again).priority).toMatchObject({ from: 'medium', to: 'critical' });
    expect([first, already, again].map((e) => e.fabric.priority)).toEqual(['critical', 'critical', 'critical']);
    await stage.stop();
  });

  it('once the cached answer expires and the source says otherwise, events carry the new answer', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, {
      respond: (ind, call) => (call === 0 ? { indicator: ind, status: 'malicious', score: 0.9 } : { indicator: ind, status: 'clean', score: 0.1 }),
    });
    const { stage } = await makeStage({ enrichers: [{ id: 'otx', instance: src, config: { cache_ttl_minutes: 1 } }], stateDir: state.dir, clock });
    const a = detection({ source: { ip: '45.9.9.9' } });
    await processWithin(stage, clock, [a], 100);
    const b = detection({ source: { ip: '45.9.9.9' } });
    await processWithin(stage, clock, [b], 100);
    expect(reputation(b).verdict).toBe('malicious');
    await clock.advance(2 * 60_000);
    const c = detection({ source: { ip: '45.9.9.9' } });
    await processWithin(stage, clock, [c], 100);
    const d = detection({ source: { ip: '45.9.9.9' } });
    await processWithin(stage, clock, [d], 100);
    expect(src.calls).toHaveLength(2);
    expect([reputation(c).verdict, reputation(d).verdict]).toEqual(['clean', 'clean']);
    expect(enrichments(d)[0]!.verdict.status).toBe('clean');
    await stage.stop();
  });

  it('counts every cache hit, skip and verdict in the metrics by the time the batch is done', async () => {
    const clock = new ManualClock(START);
    const registry = new Registry();
    const vt = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.9 }) });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock, registry });
    await processWithin(stage, clock, [detection({ source: { ip: '45.7.7.7' } })], 100);
    const batch = Array.from({ length: 5 }, () => detection({ source: { ip: '45.7.7.7' }, destination: { ip: '10.0.0.5' } }));
    await processWithin(stage, clock, batch, 100);
    expect(await metricValue(registry, 'fabric_enrichment_cache_hits_total', { enricher: 'vt' })).toBe(5);
    expect(await metricValue(registry, 'fabric_enrichment_cache_misses_total', { enricher: 'vt' })).toBe(1);
    expect(await metricValue(registry, 'fabric_enrichment_indicators_skipped_total', { reason: 'non_public' })).toBe(5);
    expect(await metricValue(registry, 'fabric_enrichment_events_total', { verdict: 'malicious' })).toBe(6);
    await stage.stop();
  });
});
