import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, PluginError } from '../src/plugin-api/index.js';
import { backoffDelay, budgetExceeded, recordRestart } from '../src/supervisor/policy.js';
import type { Counter } from 'prom-client';
import { events, harness, testPolicy } from './collector-harness.js';

async function counter(c: Counter<string>, labels: Record<string, string>): Promise<number | undefined> {
  const { values } = await c.get();
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('restart policy', () => {
  it('grows exponentially with full jitter, capped, never below the minimum', () => {
    const p = { ...testPolicy, backoffMinMs: 1000, backoffMaxMs: 8000 };
    expect(backoffDelay(p, 0, () => 0.999)).toBe(1000);
    expect(backoffDelay(p, 2, () => 0.999)).toBe(3996);
    expect(backoffDelay(p, 10, () => 0.999)).toBe(7992);
    expect(backoffDelay(p, 10, () => 0)).toBe(1000);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => backoffDelay(p, 3, () => i / 50)));
    expect(spread.size).toBeGreaterThan(40);
  });

  it('counts restarts only within the period', () => {
    const p = { ...testPolicy, intensity: 2, periodMs: 1000 };
    let times = recordRestart([], 0, p.periodMs);
    times = recordRestart(times, 500, p.periodMs);
    expect(budgetExceeded(times, p)).toBe(false);
    expect(budgetExceeded(recordRestart(times, 900, p.periodMs), p)).toBe(true);
    expect(budgetExceeded(recordRestart(times, 1600, p.periodMs), p)).toBe(false);
  });
});

describe('supervised collector lifecycle', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts, polls on its interval and publishes', async () => {
    let n = 0;
    const h = harness(() => ({ poll: async () => ({ events: events(2, (n += 2)), checkpoint: { n } }) }));
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(3500);
    expect(h.states()).toEqual(['starting', 'running']);
    expect(h.sink.events.length).toBeGreaterThanOrEqual(6);
    await h.collector.drained();
    expect((await h.checkpoints.read('c1')).value).toEqual({ n });
  });

  it('a plugin whose start keeps failing is restarted with backoff, then failed when the budget is spent; the process stays up', async () => {
    let starts = 0;
    const h = harness(() => {
      starts++;
      throw new Error('connection refused s3cr3t-token');
    });
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.collector.currentState).toBe('failed');
    // intensity 3 → the 4th restart within the period gives up
    expect(starts).toBe(4);
    expect(h.states().filter((s) => s === 'restarting')).toHaveLength(3);
    const detail = h.collector.detail();
    expect(detail.lastError).toMatchObject({ code: 'PLUGIN_CRASHED', retriable: true, count: 4 });
    expect(detail.lastError!.message).not.toContain('s3cr3t-token');
    expect(detail.lastError!.message).toContain('[redacted]');
    expect(h.transitions.at(-1)!.reason).toMatch(/restart budget exhausted/);
    // an operator can start it again
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(10);
    expect(starts).toBe(5);
    expect(h.transitions.at(-2)).toMatchObject({ from: 'failed', to: 'starting', event: 'START' });
  });

  it('waits longer between successive restarts (exponential backoff)', async () => {
    const startTimes: number[] = [];
    const h = harness(
      () => {
        startTimes.push(Date.now());
        throw new Error('down');
      },
      { policy: { intensity: 10, backoffMinMs: 1000, backoffMaxMs: 60_000 } },
    );
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(60_000);
    const gaps = startTimes.slice(1).map((t, i) => t - startTimes[i]!);
    // random() = 0.5 → half the ceiling: 1000 (min), 1000, 2000, 4000, 8000 …
    expect(gaps.slice(0, 5)).toEqual([1000, 1000, 2000, 4000, 8000]);
  });

  it('consecutive poll errors make it degraded; the next successful poll makes it running again', async () => {
    let fail = true;
    const h = harness(() => ({
      poll: async () => {
        if (fail) throw new PluginError(ErrorCodes.UNAVAILABLE, 'HTTP 503');
        return { events: events(1), checkpoint: 1 };
      },
    }));
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(1500);
    expect(h.collector.currentState).toBe('running');
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.collector.currentState).toBe('degraded');
    expect(h.collector.detail().lastError).toMatchObject({ code: 'UNAVAILABLE', count: 3 });
    fail = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.collector.currentState).toBe('running');
    expect(h.transitions.map((t) => `${t.to}:${t.event}`)).toEqual(['starting:START', 'running:DONE', 'degraded:POLL_ERROR', 'running:POLL_OK']);
  });

  it('an auth failure or an exhausted quota degrades at once, without waiting for more errors', async () => {
    const h = harness(() => ({
      poll: async () => {
        throw new PluginError(ErrorCodes.QUOTA_EXHAUSTED, 'daily quota used', { retryAfterMs: 30_000 });
      },
    }));
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(10);
    expect(h.collector.currentState).toBe('degraded');
    expect(h.transitions.at(-1)!.reason).toContain('QUOTA_EXHAUSTED');
  });

  it('a degraded collector is restarted after failed health checks when auto-restart is on', async () => {
    const h = harness(
      () => ({
        poll: async () => {
          throw new PluginError(ErrorCodes.AUTH_FAILED, '401');
        },
      }),
      { timing: { healthIntervalMs: 5000 } },
    );
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(10_500);
    expect(h.states()).toContain('restarting');
    const restarts = h.states().filter((s) => s === 'restarting').length;
    expect(await counter(h.metrics.restarts, { collector: 'c1' })).toBe(restarts);
  });

  it('a poll that hangs past its timeout is aborted and counted as an error', async () => {
    let aborted = false;
    const h = harness(
      () => ({
        poll: ({ signal }) =>
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => {
              aborted = true;
              reject(new Error('aborted'));
            });
          }),
      }),
      { timing: { pollTimeoutMs: 2000 } },
    );
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(2100);
    expect(aborted).toBe(true);
    expect(h.collector.detail().lastError).toMatchObject({ code: 'TIMEOUT' });
  });

  it('a poll that ignores its abort signal cannot wedge the collector', async () => {
    let calls = 0;
    const h = harness(() => ({ poll: () => (calls++, new Promise(() => undefined)) }), { timing: { pollTimeoutMs: 1000 } });
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBeGreaterThan(3);
    expect(h.collector.currentState).toBe('degraded');
  });

  it('garbage from poll() is a contract violation; invalid events are dropped, valid ones kept', async () => {
    let round = 0;
    const h = harness(() => ({
      poll: async () => {
        round++;
        if (round === 1) return 'not a result' as never;
        if (round === 2) return { events: 'nope', checkpoint: 1 } as never;
        return { events: [{ '@timestamp': 'yesterday' }, null, { '@timestamp': '2026-01-01T00:00:00Z', message: 'ok', event: { id: `ok-${round}` } }], checkpoint: round } as never;
      },
    }));
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(2500);
    expect(await counter(h.metrics.pollErrors, { code: 'CONTRACT_VIOLATION', collector: 'c1' })).toBe(2);
    expect(h.sink.events.map((e) => e.message)).toEqual(['ok']);
    expect(await counter(h.metrics.eventsRejected, { collector: 'c1' })).toBe(2);
  });

  it('pause stops polling, resume continues; transitions not allowed are refused', async () => {
    let polls = 0;
    const h = harness(() => ({ poll: async () => (polls++, { events: [], checkpoint: polls }) }));
    expect(h.collector.can({ type: 'RESUME' })).toBe(false);
    h.collector.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(1500);
    h.collector.send({ type: 'PAUSE' });
    const before = polls;
    await vi.advanceTimersByTimeAsync(5000);
    expect(polls).toBe(before);
    expect(h.collector.can({ type: 'PAUSE' })).toBe(false);
    h.collector.send({ type: 'RESUME' });
    await vi.advanceTimersByTimeAsync(2500);
    expect(polls).toBeGreaterThan(before);
    h.collector.send({ type: 'STOP' });
    await vi.advanceTimersByTimeAsync(10);
    expect(h.collector.currentState).toBe('stopped');
    expect(h.collector.transitions().map((t) => t.to)).toEqual(['starting', 'running', 'paused', 'running', 'stopping', 'stopped']);
  });
});
