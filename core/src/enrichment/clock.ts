import { timerDelay } from '../async/time.js';

/**
 * Time as the enrichment stage sees it. Injectable so rate limits measured in minutes and days
 * can be tested in milliseconds; the default reads the globals at call time, so fake timers work too.
 */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    // A Retry-After of years waits the longest a timer can, not 1 ms.
    const t = setTimeout(fn, timerDelay(ms));
    // Waiting for a rate-limit window must not keep a finished process alive.
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** UTC calendar day, the unit vendors reset daily quotas on. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function nextUtcMidnight(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}
