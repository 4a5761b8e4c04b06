import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RATE_WINDOW_MS, RequestBudget } from '../../src/enrichment/budget.js';
import { detection, FakeEnricher, makeStage, ManualClock, metricValue, processWithin, reputation, tempStateDir } from './helpers.js';

const START = Date.UTC(2026, 0, 15, 23, 58, 0);
const MINUTE = 60_000;

describe('source queue', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('serves queued high-priority detections before earlier medium ones', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'], limits: { requestsPerMinute: 1, maxBatchSize: 1 } });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], config: { deadline_ms: 10 }, stateDir: state.dir, clock });
    await processWithin(
      stage,
      clock,
      ['45.0.0.1', '45.0.0.2', '45.0.0.3'].map((ip) => detection({ source: { ip } }, 'medium')),
      10,
    );
    await processWithin(stage, clock, [detection({ source: { ip: '45.0.0.9' } }, 'critical')], 10);
    await clock.advance(3 * RATE_WINDOW_MS);
    expect(src.lookedUp).toEqual(['45.0.0.1', '45.0.0.9', '45.0.0.2', '45.0.0.3']);
    await stage.stop();
  });

  it('waits for a source whose window frees before the deadline', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, {
      supports: ['ipv4'],
      limits: { requestsPerMinute: 1, maxBatchSize: 1 },
      respond: (ind) => ({ indicator: ind, status: 'malicious', score: 1 }),
    });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], config: { deadline_ms: 2000 }, stateDir: state.dir, clock });
    await processWithin(stage, clock, [detection({ source: { ip: '45.0.3.1' } })], 10);
    // The window is a minute and a second (budget.ts says why).
    await clock.advance(RATE_WINDOW_MS - 1000 - 10);
    const e = detection({ source: { ip: '45.0.3.2' } });
    await processWithin(stage, clock, [e], 2000);
    expect(reputation(e).sources_answered).toEqual(['vt']);
    expect(src.calls.map((c) => c.at - START)).toEqual([0, RATE_WINDOW_MS]);
    await stage.stop();
  });

  it('a full queue gives up the oldest lowest-priority lookup and says so', async () => {
    const clock = new ManualClock(START);
    const src = new FakeEnricher(clock, { supports: ['ipv4'], limits: { requestsPerMinute: 1, maxBatchSize: 1 } });
    const { stage, registry } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], config: { deadline_ms: 10, max_queue_per_source: 2 }, stateDir: state.dir, clock });
    const low = ['45.0.1.1', '45.0.1.2', '45.0.1.3'].map((ip) => detection({ source: { ip } }, 'low'));
    // The first is sent at once; the next two fill the queue.
    await processWithin(stage, clock, low, 10);
    const high = detection({ source: { ip: '45.0.1.9' } }, 'high');
    await processWithin(stage, clock, [high], 10);
    expect(await metricValue(registry, 'fabric_enrichment_unanswered_total', { enricher: 'vt', reason: 'QUEUE_FULL' })).toBe(1);
    await clock.advance(5 * MINUTE);
    expect(src.lookedUp).toEqual(['45.0.1.1', '45.0.1.9', '45.0.1.3']);
    // Info is below everything queued: it is the one refused.
    const info = detection({ source: { ip: '45.0.1.10' } }, 'info');
    const filler = ['45.0.2.1', '45.0.2.2', '45.0.2.3'].map((ip) => detection({ source: { ip } }, 'medium'));
    await processWithin(stage, clock, [...filler, info], 10);
    expect(reputation(info).sources_unanswered).toEqual([{ source: 'vt', reason: 'QUEUE_FULL', indicators: 1 }]);
    await stage.stop();
  });
});

describe('request budget', () => {
  it('resets the day at 00:00 UTC, keeps the reserve for high priority, restores a saved state', () => {
    const clock = new ManualClock(START);
    const budget = new RequestBudget(100, 10, 0.3, clock);
    expect(budget.reserve).toBe(3);
    for (let i = 0; i < 7; i++) {
      expect(budget.check(false).waitMs).toBe(0);
      budget.consume();
    }
    const blocked = budget.check(false);
    expect(blocked).toMatchObject({ reason: 'BUDGET_RESERVED', waitMs: 2 * MINUTE });
    expect(budget.check(true).waitMs).toBe(0);
    for (let i = 0; i < 3; i++) budget.consume();
    expect(budget.check(true)).toMatchObject({ reason: 'DAILY_BUDGET_EXHAUSTED' });

    const restored = new RequestBudget(100, 10, 0.3, clock, budget.snapshot());
    expect(restored.usedToday).toBe(10);
    clock.current += 2 * MINUTE;
    expect(restored.check(false).waitMs).toBe(0);
    expect(restored.usedToday).toBe(0);
    // A saved state from yesterday starts the new day empty.
    expect(new RequestBudget(100, 10, 0.3, clock, budget.snapshot()).usedToday).toBe(0);
  });
});
