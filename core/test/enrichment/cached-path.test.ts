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

  it('gives a later event the same verdict, frozen and shared, with the field it was found in', async () => {
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
    // Events decided alike share what enrichment added, so it is read-only all the way down: a
    // change that would reach other events is a TypeError where it is tried.
    expect(reputation(third)).toBe(reputation(first));
    expect(() => {
      enrichments(second)[0]!.verdict.status = 'clean';
    }).toThrow(TypeError);
    expect(() => {
      enrichments(third)[0]!.verdict.evidence.hits = 0;
    }).toThrow(TypeError);
    expect(() => {
      reputation(third).indicators[0].verdict = 'clean';
    }).toThrow(TypeError);
    expect(() => enrichments(third).push({})).toThrow(TypeError);
    expect(() => {
      delete reputation(first).priority;
    }).toThrow(TypeError);
    expect([first, second, third].map((e) => enrichments(e)[0]!.verdict.status)).toEqual(['malicious', 'malicious', 'malicious']);
    expect(enrichments(third)[0]!.indicator.ip).toBe('45.1.2.3');
    // The event itself stays the pipeline's to change.
    third.fabric.priority = 'low';
    expect(first.fabric.priority).not.toBe('low');
    await stage.stop();
  });

  it('keeps what the source sent in threat.enrichments, adds its own entries after them, and changes none of them', async () => {
    const clock = new ManualClock(START);
    const vt = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.9 }) });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock });
    await processWithin(stage, clock, [detection({ source: { ip: '45.1.2.6' } })], 100);
    const sent = { indicator: { type: 'ipv4-addr', ip: '45.1.2.6' }, matched: { field: 'source.ip' }, note: 'from the sender' };
    const event = detection({ source: { ip: '45.1.2.6' }, threat: { enrichments: [sent] } });
    await processWithin(stage, clock, [event], 100);
    expect(vt.calls).toHaveLength(1);
    expect(enrichments(event)).toHaveLength(2);
    expect(enrichments(event)[0]).toBe(sent);
    expect(Object.isFrozen(sent)).toBe(false);
    expect(enrichments(event)[1]!.source.enricher).toBe('vt');
    await stage.stop();
  });

  it('enriches with evidence nested deeper than the stack, or holding binary data, without failing the batch', async () => {
    const clock = new ManualClock(START);
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 200_000; i++) deep = { d: deep };
    const vt = new FakeEnricher(clock, {
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.9, evidence: { deep, bytes: new Uint8Array([1, 2, 3]) } }),
    });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock });
    const batch = [detection({ source: { ip: '45.1.2.7' } }), detection({ source: { ip: '45.1.2.8' } })];
    await processWithin(stage, clock, batch, 100);
    await processWithin(stage, clock, [detection({ source: { ip: '45.1.2.7' } })], 100);
    expect(batch.map((e) => reputation(e).verdict)).toEqual(['malicious', 'malicious']);
    const evidence = enrichments(batch[0]!)[0]!.verdict.evidence;
    expect(Object.isFrozen(evidence.deep)).toBe(true);
    expect(evidence.bytes).toBeInstanceOf(Uint8Array);
    await stage.stop();
  });

  it('an event whose enrichment throws goes on without reputation; the rest of its batch is enriched, cached or not', async () => {
    const clock = new ManualClock(START);
    const registry = new Registry();
    // Stands for a bug or an input nobody foresaw: evidence that throws when it is read.
    const poison = new Proxy(
      {},
      {
        isExtensible: () => {
          throw new Error('poisoned evidence');
        },
      },
    );
    const vt = new FakeEnricher(clock, {
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.9, ...(ind.value === '45.6.6.6' ? { evidence: poison } : {}) }),
    });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: vt }], stateDir: state.dir, clock, registry });
    const primed = [detection({ source: { ip: '45.6.6.6' } }), detection({ source: { ip: '45.6.6.1' } })];
    await processWithin(stage, clock, primed, 100);
    expect(reputation(primed[0]!)).toBeUndefined();
    expect(reputation(primed[1]!).verdict).toBe('malicious');
    // Now 45.6.6.6 is cached (its event fails before anything waits) while 45.6.6.2 is still asked.
    const batch = [detection({ source: { ip: '45.6.6.2' } }), detection({ source: { ip: '45.6.6.6' } }), detection({ source: { ip: '45.6.6.1' } })];
    const out = await processWithin(stage, clock, batch, 100);
    expect(out).toHaveLength(3);
    expect(out.map((e) => reputation(e)?.verdict)).toEqual(['malicious', undefined, 'malicious']);
    expect(await metricValue(registry, 'fabric_enrichment_failed_events_total')).toBe(2);
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
