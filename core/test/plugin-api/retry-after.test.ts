import { describe, expect, it } from 'vitest';
import { timerDelay } from '../../src/async/time.js';
import { MAX_TIMER_MS, parseRetryAfterHeader, retryAfterMs } from '../../src/plugin-api/index.js';

/** One reading of Retry-After for both HTTP helpers (fetch's Headers and undici's raw header values). */
describe('Retry-After', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');
  const headers = (h: Record<string, string>) => new Headers(h);

  it('reads seconds and HTTP dates, rounding up', () => {
    expect(retryAfterMs(headers({ 'retry-after': '30' }), now)).toBe(30_000);
    expect(retryAfterMs(headers({ 'retry-after': '0.4' }), now)).toBe(400);
    expect(retryAfterMs(headers({ 'retry-after': 'Sat, 05 Dec 2026 12:01:00 GMT' }), now)).toBe(60_000);
    expect(retryAfterMs(headers({ 'retry-after': 'Sat, 05 Dec 2026 11:00:00 GMT' }), now)).toBe(0);
  });

  it('ignores what is neither', () => {
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': '-5' }), now)).toBeUndefined();
    expect(retryAfterMs(headers({}), now)).toBeUndefined();
  });

  it('a hostile value: 400 digits, a date past year 9999 or a huge fraction never makes a wait shorter than asked', () => {
    const huge = retryAfterMs(headers({ 'retry-after': '9'.repeat(400) }), now);
    expect(huge).toBe(Number.POSITIVE_INFINITY);
    expect(timerDelay(huge!)).toBe(MAX_TIMER_MS);
    expect(timerDelay(retryAfterMs(headers({ 'retry-after': '99999999999.5' }), now)!)).toBe(MAX_TIMER_MS);
    expect(timerDelay(retryAfterMs(headers({ 'retry-after': 'Fri, 31 Dec 275759 23:59:59 GMT' }), now)!)).toBe(MAX_TIMER_MS);
    expect(retryAfterMs(headers({ 'retry-after': 'Fri, 31 Dec 999999 23:59:59 GMT' }), now)).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' }), now)).toBe(0);
    expect(retryAfterMs(headers({ 'retry-after': 'constructor' }), now)).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': '__proto__' }), now)).toBeUndefined();
  });

  it('a raw header value (undici) is read the same way, first value of a repeated header', () => {
    expect(parseRetryAfterHeader('30')).toBe(30_000);
    expect(parseRetryAfterHeader(['2', '900'])).toBe(2000);
    expect(parseRetryAfterHeader('soon')).toBeUndefined();
    expect(parseRetryAfterHeader(undefined)).toBeUndefined();
    expect(parseRetryAfterHeader(new Date(Date.now() + 120_000).toUTCString())).toBeGreaterThan(100_000);
  });
});
