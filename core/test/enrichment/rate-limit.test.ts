import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PluginError } from '../../src/plugin-api/index.js';
import { detection, FakeEnricher, makeStage, ManualClock, maxInWindow, metricValue, processWithin, reputation, settle, tempStateDir } from './helpers.js';

const START = Date.UTC(2026, 0, 15, 0, 0, 0);
const MINUTE = 60_000;

/** 1,000 distinct public addresses (TEST-NET ranges are reserved, so these are routable ones). */
function distinctIps(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `45.${10 + Math.floor(i / 250)}.${i % 250}.${((i * 7) % 250) + 1}`);
}

describe('rate limiting per source', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('a burst of 1,000 indicators never exceeds a 4/min, 500/day source and never blocks a fast source', async () => {
    const clock = new ManualClock(START);
    const slow = new FakeEnricher(clock, {
      supports: ['ipv4'],
      limits: { requestsPerMinute: 4, requestsPerDay: 500, maxBatchSize: 1 },
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 0.9, confidence: 0.8 }),
    });
    const fast = new FakeEnricher(clock, {
      supports: ['ipv4'],
      limits: { requestsPerMinute: 600, maxBatchSize: 50 },
      respond: (ind) => ({ indicator: ind, status: 'clean', score: 0, confidence: 0.9 }),
    });
    const { stage, registry } = await makeStage({
      enrichers: [
        { id: 'vt', instance: slow },
        { id: 'misp', instance: fast },
      ],
      config: { deadline_ms: 2000, daily_budget_reserve: 0.2 },
      stateDir: state.dir,
      clock,
    });
    const ips = distinctIps(1000);
    const events = ips.map((ip) => detection({ source: { ip } }));
    for (let i = 0; i < events.length; i += 100) await processWithin(stage, clock, events.slice(i, i + 100), 2000);

    // The fast source answered every event before its deadline, whatever the slow one did.
    expect(fast.lookedUp.length).toBe(1000);
    expect(events.every((e) => reputation(e).sources_answered.includes('misp'))).toBe(true);
    // 10 batches × 2 s = 20 s: the slow source got at most its per-minute budget.
    expect(slow.calls.length).toBeLessThanOrEqual(4);
    const waiting = events.filter((e) => reputation(e).sources_unanswered.some((u: { source: string; reason: string }) => u.source === 'vt' && u.reason === 'DEADLINE'));
    expect(waiting.length).toBeGreaterThanOrEqual(996);

    // Let the queue drain for six hours: never more than 4 in any minute, and the daily reserve
    // (20 % of 500) is left for high-priority detections.
    await clock.advance(6 * 60 * MINUTE);
    expect(
      maxInWindow(
        slow.calls.map((c) => c.at),
        MINUTE,
      ),
    ).toBe(4);
    expect(slow.calls.length).toBe(400);
    expect(stage.sources.get('vt')!.queueDepth).toBe(600);

    // A high-priority detection still gets an answer from the reserve, within its deadline.
    const urgent = detection({ source: { ip: '185.220.101.1' } }, 'high');
    await processWithin(stage, clock, [urgent], 2000);
    expect(slow.lookedUp).toContain('185.220.101.1');
    expect(reputation(urgent).sources_answered).toEqual(['misp', 'vt']);
    expect(slow.calls.length).toBe(401);
    // What the quota alert compares (deploy/prometheus/alerts.yml): used against the budget; none for a source without one.
    expect(await metricValue(registry, 'fabric_enrichment_daily_budget', { enricher: 'vt' })).toBe(500);
    expect(await metricValue(registry, 'fabric_enrichment_daily_budget_used', { enricher: 'vt' })).toBe(401);
    const budgets = (await registry.getSingleMetric('fabric_enrichment_daily_budget')!.get()).values.map((v) => v.labels.enricher);
    expect(budgets).toEqual(['vt']);
    await stage.stop();
  });

  it('queues over-budget lookups and answers them later from the cache', async () => {
    const clock = new ManualClock(START);
    const slow = new FakeEnricher(clock, {
      supports: ['ipv4'],
      limits: { requestsPerMinute: 2, maxBatchSize: 1 },
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 1, confidence: 1 }),
    });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: slow }], config: { deadline_ms: 1000 }, stateDir: state.dir, clock });
    const ips = distinctIps(5);
    const first = ips.map((ip) => detection({ source: { ip } }));
    await processWithin(stage, clock, first, 1000);
    expect(first.filter((e) => reputation(e).sources_answered.includes('vt'))).toHaveLength(2);
    const late = first.find((e) => reputation(e).sources_unanswered.length > 0)!;
    expect(reputation(late).sources_unanswered[0]).toMatchObject({ source: 'vt', reason: 'DEADLINE' });
    expect(reputation(late).explanation).toContain('vt (DEADLINE, queued: RATE_LIMIT_WINDOW)');

    await clock.advance(3 * MINUTE);
    expect(slow.calls.length).toBe(5);
    const again = ips.map((ip) => detection({ source: { ip } }));
    // Every answer is cached now: no waiting at all, no new request.
    await stage.process(again);
    expect(again.every((e) => reputation(e).verdict === 'malicious')).toBe(true);
    expect(slow.calls.length).toBe(5);
    await stage.stop();
  });

  it('honours retryAfterMs after a 429 and reports the source degraded, then healthy', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'], limits: { requestsPerMinute: 60, maxBatchSize: 1 } });
    src.failures.push(new PluginError(ErrorCodes.RATE_LIMITED, 'HTTP 429', { retryAfterMs: 30_000 }));
    const { stage, health } = await makeStage({ enrichers: [{ id: 'abuse', instance: src }], config: { deadline_ms: 500 }, stateDir: state.dir, clock });
    const e = detection({ source: { ip: '45.1.2.3' } });
    await processWithin(stage, clock, [e], 500);
    expect(health[0]).toMatchObject({ id: 'abuse', status: 'degraded', code: 'RATE_LIMITED', retryAfterMs: 30_000 });
    expect(reputation(e).sources_unanswered[0]).toMatchObject({ source: 'abuse', reason: 'DEADLINE' });

    await clock.advance(29_000);
    expect(src.calls.length).toBe(1);
    await clock.advance(1_000);
    expect(src.calls.length).toBe(2);
    expect(src.calls[1]!.at - src.calls[0]!.at).toBe(30_000);
    expect(health.at(-1)).toMatchObject({ id: 'abuse', status: 'healthy' });
    await stage.stop();
  });

  it('quota exhaustion degrades the source, queues lookups and serves them after the window', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, {
      supports: ['ipv4'],
      limits: { requestsPerMinute: 60, maxBatchSize: 1 },
      respond: (ind) => ({ indicator: ind, status: 'suspicious', score: 0.5 }),
    });
    src.failures.push(new PluginError(ErrorCodes.QUOTA_EXHAUSTED, 'daily quota used', { retryAfterMs: 3_600_000 }));
    const { stage, health, registry } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], config: { deadline_ms: 500 }, stateDir: state.dir, clock });
    const e = detection({ source: { ip: '45.1.2.4' } });
    await processWithin(stage, clock, [e], 500);
    expect(health).toEqual([expect.objectContaining({ id: 'vt', status: 'degraded', code: 'QUOTA_EXHAUSTED' })]);
    expect(reputation(e).sources_unanswered[0].reason).toBe('DEADLINE');
    expect(reputation(e).explanation).toContain('vt (DEADLINE, queued: QUOTA_EXHAUSTED)');
    expect(reputation(e).verdict).toBe('unknown');
    expect(await metricValue(registry, 'fabric_enrichment_requests_total', { enricher: 'vt', outcome: 'QUOTA_EXHAUSTED' })).toBe(1);

    // While the source is paused for an hour, events do not sit out their deadline waiting for it.
    const meanwhile = detection({ source: { ip: '45.1.2.5' } });
    let done = false;
    const p = stage.process([meanwhile]).then(() => {
      done = true;
    });
    await settle();
    expect(done).toBe(true);
    await p;
    expect(reputation(meanwhile).sources_unanswered).toEqual([{ source: 'vt', reason: 'DEADLINE', indicators: 1 }]);
    expect(reputation(meanwhile).explanation).toContain('vt (DEADLINE, queued: QUOTA_EXHAUSTED)');

    await clock.advance(59 * MINUTE);
    expect(src.calls.length).toBe(1);
    await clock.advance(MINUTE);
    expect(src.calls.length).toBe(3);
    expect(health.at(-1)).toMatchObject({ status: 'healthy' });
    const again = detection({ source: { ip: '45.1.2.4' } });
    await stage.process([again]);
    expect(reputation(again).verdict).toBe('suspicious');
    await stage.stop();
  });

  it('config requests_per_minute overrides the plugin default and budgets survive a restart', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'], limits: { requestsPerMinute: 60, requestsPerDay: 10, maxBatchSize: 1 } });
    const first = await makeStage({
      enrichers: [{ id: 'vt', instance: src, config: { requests_per_minute: 3 } }],
      config: { deadline_ms: 100, daily_budget_reserve: 0 },
      stateDir: state.dir,
      clock,
    });
    await processWithin(
      first.stage,
      clock,
      distinctIps(8).map((ip) => detection({ source: { ip } })),
      100,
    );
    expect(src.calls.length).toBe(3);
    await first.stage.stop();

    // Restarted within the same minute: the window remembers the 3 requests already sent.
    const second = await makeStage({
      enrichers: [{ id: 'vt', instance: src, config: { requests_per_minute: 3 } }],
      config: { deadline_ms: 100, daily_budget_reserve: 0 },
      stateDir: state.dir,
      clock,
    });
    await processWithin(
      second.stage,
      clock,
      distinctIps(20)
        .slice(10)
        .map((ip) => detection({ source: { ip } })),
      100,
    );
    expect(src.calls.length).toBe(3);
    await clock.advance(10 * MINUTE);
    // 10 per day in total across both runs.
    expect(src.calls.length).toBe(10);
    expect(
      maxInWindow(
        src.calls.map((c) => c.at),
        MINUTE,
      ),
    ).toBe(3);
    expect(second.health.at(-1)).toMatchObject({ status: 'degraded', code: 'QUOTA_EXHAUSTED' });
    await second.stage.stop();
  });

  it('batches up to maxBatchSize and shares one request between concurrent lookups of one indicator', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'], limits: { requestsPerMinute: 60, maxBatchSize: 3 } });
    src.delayMs = 200;
    const { stage } = await makeStage({
      enrichers: [{ id: 'misp', instance: src }],
      config: { deadline_ms: 1000, max_concurrent_requests_per_source: 1 },
      stateDir: state.dir,
      clock,
    });
    const ips = distinctIps(7);
    const batch = [...ips, ...ips].map((ip) => detection({ source: { ip } }));
    await processWithin(stage, clock, batch, 1000);
    expect(src.calls.map((c) => c.indicators.length)).toEqual([1, 3, 3]);
    expect(src.lookedUp.sort()).toEqual([...ips].sort());
    expect(batch.every((e) => reputation(e).sources_answered.includes('misp'))).toBe(true);
    await stage.stop();
  });
});
