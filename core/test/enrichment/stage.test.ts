import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PluginError } from '../../src/plugin-api/index.js';
import { createEnrichmentStage, resolveEnrichmentConfig } from '../../src/enrichment/index.js';
import { detection, FakeEnricher, makeStage, ManualClock, processWithin, reputation, settle, silentLogger, tempStateDir } from './helpers.js';
import { Registry } from 'prom-client';

const START = Date.UTC(2026, 0, 15, 6, 0, 0);

describe('enrichment stage', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('writes threat.enrichments with per-source evidence and one fabric.reputation verdict', async () => {
    const clock = new ManualClock(START);
    const vt = new FakeEnricher(clock, {
      supports: ['ipv4', 'domain', 'sha256'],
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.92, confidence: 0.9, evidence: { malicious: 54, harmless: 3 }, reference: `https://vt/${ind.value}` }),
    });
    const abuse = new FakeEnricher(clock, {
      supports: ['ipv4'],
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.85, confidence: 0.85, evidence: { abuseConfidenceScore: 85 } }),
    });
    const { stage } = await makeStage({
      enrichers: [
        { id: 'virustotal', plugin: '@reactive-fabric/plugin-ti-virustotal', instance: vt },
        { id: 'abuseipdb', instance: abuse },
      ],
      stateDir: state.dir,
      clock,
    });
    const e = detection({ source: { ip: '45.33.32.156' }, threat: { framework: 'MITRE ATT&CK', technique: { id: ['T1046'] } } }, 'medium');
    const plain = { ...detection({ source: { ip: '45.33.32.157' } }), event: { id: 'x', kind: 'event' as const } };
    await processWithin(stage, clock, [e, plain], 100);

    expect((e.threat as Record<string, unknown>).framework).toBe('MITRE ATT&CK');
    expect((e.threat as { enrichments: unknown[] }).enrichments).toEqual([
      {
        indicator: { type: 'ipv4-addr', ip: '45.33.32.156', provider: 'abuseipdb', confidence: 'High' },
        matched: { atomic: '45.33.32.156', field: 'source.ip', type: 'enrichment' },
        verdict: { status: 'malicious', score: 0.85, confidence: 0.85, evidence: { abuseConfidenceScore: 85 } },
        source: { enricher: 'abuseipdb', plugin: '@test/abuseipdb' },
      },
      {
        indicator: { type: 'ipv4-addr', ip: '45.33.32.156', provider: 'virustotal', confidence: 'High', reference: 'https://vt/45.33.32.156' },
        matched: { atomic: '45.33.32.156', field: 'source.ip', type: 'enrichment' },
        verdict: { status: 'malicious', score: 0.92, confidence: 0.9, evidence: { malicious: 54, harmless: 3 } },
        source: { enricher: 'virustotal', plugin: '@reactive-fabric/plugin-ti-virustotal' },
      },
    ]);
    const rep = reputation(e);
    expect(rep).toMatchObject({ score: 0.886, confidence: 0.875, verdict: 'malicious', sources_answered: ['abuseipdb', 'virustotal'], sources_unanswered: [] });
    expect(rep.explanation).toMatch(/^score 0\.886 \(malicious\) from ipv4 45\.33\.32\.156/);
    // 0.886 ≥ 0.7 raises a medium detection to high, and its ECS severity with it.
    expect(e.fabric.priority).toBe('high');
    expect(e.event.severity).toBe(73);
    expect(rep.priority).toEqual({ from: 'medium', to: 'high', reason: 'score 0.886 ≥ 0.7: raised to high' });
    // Plain events are not detections: untouched, not looked up.
    expect((plain.fabric as Record<string, unknown>).reputation).toBeUndefined();
    expect(vt.lookedUp).toEqual(['45.33.32.156']);
    await stage.stop();
  });

  it('routes detections below min_reputation_score as low priority, never drops them, and leaves unknown alone', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, {
      respond: (ind) => (ind.value === '45.0.0.1' ? { indicator: ind, status: 'clean', score: 0.1, confidence: 0.9 } : { indicator: ind, status: 'unknown' }),
    });
    const { stage } = await makeStage({ enrichers: [{ id: 'otx', instance: src }], config: { min_reputation_score: 0.3 }, stateDir: state.dir, clock });
    const clean = detection({ source: { ip: '45.0.0.1' } }, 'high');
    const unknown = detection({ source: { ip: '45.0.0.2' } }, 'high');
    const alert = detection({ source: { ip: '45.0.0.1' } }, 'critical', 'alert');
    const out = await processWithin(stage, clock, [clean, unknown, alert], 100);
    expect(out).toHaveLength(3);
    expect(clean.fabric.priority).toBe('low');
    expect(clean.event.severity).toBe(21);
    expect(reputation(clean).explanation).toContain('score 0.1 < min_reputation_score 0.3: routed as low priority');
    expect(alert.fabric.priority).toBe('low');
    expect(unknown.fabric.priority).toBe('high');
    expect(reputation(unknown)).toMatchObject({ verdict: 'unknown', confidence: 0 });
    await stage.stop();
  });

  it('honours the per-event deadline: slow sources are listed as unanswered and fill the cache later', async () => {
    const clock = new ManualClock(START);
    const slow = new FakeEnricher(clock, { supports: ['ipv4'], respond: (ind) => ({ indicator: ind, status: 'malicious', score: 1, confidence: 1 }) });
    slow.delayMs = 10_000;
    const fast = new FakeEnricher(clock, { supports: ['ipv4'], respond: (ind) => ({ indicator: ind, status: 'clean', score: 0, confidence: 0.5 }) });
    const { stage } = await makeStage({
      enrichers: [
        { id: 'slow', instance: slow },
        { id: 'fast', instance: fast },
      ],
      config: { deadline_ms: 1500 },
      stateDir: state.dir,
      clock,
    });
    const e = detection({ source: { ip: '45.1.1.1' } });
    let done = false;
    const p = stage.process([e]).then(() => {
      done = true;
    });
    await clock.advance(1499);
    expect(done).toBe(false);
    await clock.advance(1);
    await p;
    expect(done).toBe(true);
    expect(reputation(e)).toMatchObject({
      verdict: 'clean',
      sources_answered: ['fast'],
      sources_unanswered: [{ source: 'slow', reason: 'DEADLINE', indicators: 1 }],
    });
    expect(reputation(e).explanation).toContain('unanswered: slow (DEADLINE, in flight)');

    await clock.advance(10_000);
    const again = detection({ source: { ip: '45.1.1.1' } });
    await stage.process([again]);
    expect(slow.calls.length).toBe(1);
    expect(reputation(again)).toMatchObject({ verdict: 'suspicious', sources_answered: ['fast', 'slow'] });
    await stage.stop();
  });

  it('an auth failure answers at once, degrades the source, and recovers', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'], respond: (ind) => ({ indicator: ind, status: 'clean', score: 0 }) });
    src.failures.push(new PluginError(ErrorCodes.AUTH_FAILED, 'VirusTotal refused the API key (WrongCredentialsError)'));
    const { stage, health } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], config: { deadline_ms: 60_000 }, stateDir: state.dir, clock });
    const e = detection({ source: { ip: '45.2.2.2' } });
    await stage.process([e]);
    expect(reputation(e).sources_unanswered).toEqual([{ source: 'vt', reason: 'AUTH_FAILED', indicators: 1 }]);
    expect(health).toEqual([expect.objectContaining({ id: 'vt', status: 'degraded', code: 'AUTH_FAILED' })]);
    // While the key is refused, lookups fail fast instead of hammering the API.
    const e2 = detection({ source: { ip: '45.2.2.3' } });
    await stage.process([e2]);
    expect(src.calls.length).toBe(1);
    await clock.advance(61_000);
    const e3 = detection({ source: { ip: '45.2.2.4' } });
    await processWithin(stage, clock, [e3], 10);
    expect(src.calls.length).toBe(2);
    expect(reputation(e3).verdict).toBe('clean');
    expect(health.at(-1)).toMatchObject({ id: 'vt', status: 'healthy' });
    await stage.stop();
  });

  it('retries an unavailable source with backoff and gives up after max_attempts', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'] });
    for (let i = 0; i < 3; i++) src.failures.push(new PluginError(ErrorCodes.UNAVAILABLE, 'HTTP 503'));
    const { stage, registry } = await makeStage({ enrichers: [{ id: 'misp', instance: src }], config: { deadline_ms: 60_000, max_attempts: 3 }, stateDir: state.dir, clock });
    const e = detection({ source: { ip: '45.3.3.3' } });
    const p = stage.process([e]);
    await clock.advance(10_000);
    await p;
    expect(src.calls.map((c) => c.at - START)).toEqual([0, 1000, 3000]);
    expect(reputation(e).sources_unanswered).toEqual([{ source: 'misp', reason: 'UNAVAILABLE', indicators: 1 }]);
    expect((await registry.getSingleMetric('fabric_enrichment_requests_total')!.get()).values.find((v) => v.labels.outcome === 'UNAVAILABLE')?.value).toBe(3);
    await stage.stop();
  });

  it('a lookup that never returns times out after request_timeout_ms and frees its slot', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'] });
    let hang = true;
    const lookup = src.lookup.bind(src);
    // Ignores its abort signal on purpose.
    src.lookup = (indicators, opts) => (hang ? (src.calls.push({ at: clock.now(), indicators }), new Promise(() => {})) : lookup(indicators, opts));
    const { stage, health } = await makeStage({
      enrichers: [{ id: 'otx', instance: src }],
      config: { deadline_ms: 100, request_timeout_ms: 5000, max_concurrent_requests_per_source: 1, max_attempts: 1 },
      stateDir: state.dir,
      clock,
    });
    const e = detection({ source: { ip: '45.4.4.4' } });
    await processWithin(stage, clock, [e], 100);
    expect(reputation(e).sources_unanswered[0]).toMatchObject({ source: 'otx', reason: 'DEADLINE' });
    hang = false;
    await clock.advance(5000);
    expect(health[0]).toMatchObject({ id: 'otx', status: 'degraded', code: 'TIMEOUT' });
    await clock.advance(2000);
    const next = detection({ source: { ip: '45.4.4.5' } });
    await processWithin(stage, clock, [next], 100);
    expect(src.lookedUp).toEqual(['45.4.4.4', '45.4.4.5']);
    expect(reputation(next).sources_answered).toEqual(['otx']);
    await stage.stop();
  });

  it('looks up at most max_indicators_per_event indicators of one event', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'] });
    const { stage } = await makeStage({ enrichers: [{ id: 'otx', instance: src }], config: { max_indicators_per_event: 3 }, stateDir: state.dir, clock });
    const e = detection({ related: { ip: Array.from({ length: 500 }, (_, i) => `45.5.${(i + 1) >> 8}.${(i + 1) & 255}`) } });
    await processWithin(stage, clock, [e], 100);
    expect(src.lookedUp).toEqual(['45.5.0.1', '45.5.0.2', '45.5.0.3']);
    expect(reputation(e).skipped).toHaveLength(100);
    expect(reputation(e).skipped_total).toBe(497);
    expect(reputation(e).skipped[0]).toEqual({ type: 'ipv4', value: '45.5.0.4', reason: 'over_limit' });
    expect(reputation(e).explanation).toContain('45.5.0.13 (over_limit), and 487 more');
    await stage.stop();
  });

  it('rejects bad config with the field and value named', async () => {
    expect(() => resolveEnrichmentConfig({ deadline_ms: -5 })).toThrow(/enrichment\.deadline_ms: .*\(got -5\)/);
    expect(() => resolveEnrichmentConfig({ cache: { ttl: 5 } })).toThrow(/enrichment\.cache\.ttl: unknown field "ttl"/);
    expect(() => resolveEnrichmentConfig({ aggregation: { suspicious_at: 0.9, malicious_at: 0.5 } })).toThrow(/suspicious_at \(0\.9\) must not exceed malicious_at \(0\.5\)/);
    const clock = new ManualClock(START);
    await expect(
      createEnrichmentStage(resolveEnrichmentConfig({}), [{ id: 'vt', plugin: 'p', instance: new FakeEnricher(clock), config: { requests_per_minute: 'fast' } }], {
        logger: silentLogger,
        metrics: new Registry(),
        stateDir: state.dir,
        configDir: state.dir,
        clock,
      }),
    ).rejects.toThrow(/enrichers\[vt\]\.config\.requests_per_minute: expected a positive number, got "fast"/);
    await settle();
  });
});
