import { afterEach, describe, expect, it } from 'vitest';
import { sleep, timerDelay, withTimeout } from '../src/async/time.js';
import { systemClock } from '../src/enrichment/clock.js';
import { ErrorCodes, MAX_TIMER_MS, PluginError } from '../src/plugin-api/index.js';
import { harness } from './collector-harness.js';

/**
 * Node turns a timer delay past MAX_TIMER_MS into 1 ms. Delays that come from outside (a vendor's
 * Retry-After, a long interval times its jitter) must wait their longest instead, not loop.
 */

const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(w.name);
process.on('warning', onWarning);
afterEach(() => {
  warnings.length = 0;
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('timerDelay', () => {
  it('keeps what a timer holds and caps the rest', () => {
    expect(timerDelay(1500)).toBe(1500);
    expect(timerDelay(MAX_TIMER_MS)).toBe(MAX_TIMER_MS);
    expect(timerDelay(MAX_TIMER_MS + 1)).toBe(MAX_TIMER_MS);
    expect(timerDelay(1e300)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.NaN)).toBe(0);
  });
});

describe('a wait of years', () => {
  it('sleep() waits instead of returning after 1 ms', async () => {
    const ctl = new AbortController();
    let done = false;
    const p = sleep(1e14, ctl.signal).then(() => (done = true));
    await wait(150);
    expect(done).toBe(false);
    ctl.abort();
    await p;
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });

  it('withTimeout() does not time out at once', async () => {
    let release!: (v: string) => void;
    const p = withTimeout(new Promise<string>((r) => (release = r)), 1e14, () => new Error('timed out'));
    await wait(100);
    release('answer');
    await expect(p).resolves.toBe('answer');
  });

  it("the enrichment clock's timer does not fire at once", async () => {
    let fired = false;
    const h = systemClock.setTimer(() => (fired = true), 1e14);
    await wait(100);
    systemClock.clearTimer(h);
    expect(fired).toBe(false);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });

  it('a source answering "retry after 3,000 years" is not polled again at once', async () => {
    let polls = 0;
    const h = harness(() => ({
      poll: async () => {
        polls++;
        throw new PluginError(ErrorCodes.RATE_LIMITED, 'slow down', { retryAfterMs: 1e14 });
      },
    }));
    h.collector.send({ type: 'START' });
    await wait(400);
    expect(polls).toBe(1);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });
});
