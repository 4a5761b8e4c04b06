import { describe, expect, it } from 'vitest';
import { Watermark } from '../../src/correlation/watermark.js';
import { MIN, SEC, T0 } from './helpers.js';

const LATENESS = 60 * SEC;
const IDLE = 5 * MIN;

describe('watermark', () => {
  it('judges lateness per collector: a detection further behind its own collector than the allowed lateness is late', () => {
    const wm = new Watermark(LATENESS, IDLE);
    const now = T0 + 10 * MIN;
    expect(wm.observe('file', T0 + 5 * MIN, now)).toBe(true);
    // Minutes behind the file, but the first of its own collector.
    expect(wm.observe('elastic', T0, now)).toBe(true);
    expect(wm.observe('file', T0 + 5 * MIN - LATENESS, now)).toBe(true);
    expect(wm.observe('file', T0 + 5 * MIN - LATENESS - 1, now)).toBe(false);
    expect(wm.collectorTimes()).toEqual({ file: T0 + 5 * MIN, elastic: T0 });
  });

  it('never moves a collector past the wall clock', () => {
    const wm = new Watermark(LATENESS, IDLE);
    const now = T0;
    expect(wm.observe('file', now + 3 * MIN, now)).toBe(true);
    expect(wm.collectorTimes()).toEqual({ file: now });
    // Not late: the detection stamped ahead did not push its collector there.
    expect(wm.observe('file', now - 30 * SEC, now)).toBe(true);
  });

  it('follows the slowest active collector, leaves idle ones out, and never moves back', () => {
    const wm = new Watermark(LATENESS, IDLE);
    expect(wm.saved).toBeNull();
    const now = T0 + 10 * MIN;
    wm.observe('file', T0 + 9 * MIN, now);
    wm.observe('elastic', T0 + 2 * MIN, now);
    wm.advance(now);
    expect(wm.value).toBe(T0 + 2 * MIN - LATENESS);
    // elastic falls silent: past idle_collector_seconds the file alone decides.
    wm.advance(now + IDLE + 1);
    expect(wm.value).toBe(T0 + 9 * MIN - LATENESS);
    wm.observe('elastic', T0 + 3 * MIN, now + IDLE + 2);
    wm.advance(now + IDLE + 2);
    expect(wm.value).toBe(T0 + 9 * MIN - LATENESS);
    expect(wm.saved).toBe(T0 + 9 * MIN - LATENESS);
  });

  it('restores only times at or before the wall clock; restored collectors count as just seen', () => {
    const wm = new Watermark(LATENESS, IDLE);
    const now = T0 + 10 * MIN;
    wm.restore(now + 1, { file: T0 + 5 * MIN, ahead: now + MIN, bad: 'x' }, now);
    expect(wm.saved).toBeNull();
    expect(wm.collectorTimes()).toEqual({ file: T0 + 5 * MIN });
    wm.advance(now);
    expect(wm.value).toBe(T0 + 5 * MIN - LATENESS);
  });
});
