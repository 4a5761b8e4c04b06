import { conditionHolds } from './rule.js';
import { lowerBound, upperBound, type Group, type Member } from './window-state.js';

/** A satisfied window: members [start, end) of its group, the measure its condition held for, and how many detections. */
export interface Window {
  start: number;
  end: number;
  measure: number;
  count: number;
}

/**
 * Which windows of a group satisfy its rule's condition. Windows slide: any set of detections
 * whose times span at most the timespan (inclusive) is a candidate, anchored at its earliest.
 * Searches read the group and change nothing; firing is the engine's.
 */
export class WindowSearch {
  /**
   * Distinct values (value_count) or rules (temporal) are counted for every candidate window: one
   * map of value → the count it was last seen in, instead of a new set (or a clear) per count.
   */
  private readonly seenIn = new Map<string | number, number>();
  private seenStamp = 0;
  /** First index past the window of the last distinctFrom. */
  private windowEnd = 0;

  /** Satisfied window anchored at member i: its exclusive end index and measure, or undefined. */
  at(g: Group, i: number): Omit<Window, 'start'> | undefined {
    const ms = g.members;
    const rule = g.rule;
    const a = ms[i]!;
    const limit = a.t + rule.def.timespanMs;
    switch (rule.def.type) {
      case 'event_count': {
        const j = upperBound(ms, limit);
        const n = j - i;
        return conditionHolds(rule.def.condition, n) ? { end: j, measure: n, count: n } : undefined;
      }
      case 'value_count': {
        const n = this.distinctFrom(ms, i, limit);
        const j = this.windowEnd;
        return conditionHolds(rule.def.condition, n) ? { end: j, measure: n, count: j - i } : undefined;
      }
      case 'temporal': {
        const n = this.distinctFrom(ms, i, limit);
        const j = this.windowEnd;
        return conditionHolds(rule.def.condition, n) ? { end: j, measure: n, count: j - i } : undefined;
      }
      case 'temporal_ordered': {
        if (a.v !== 0) return undefined;
        const steps = rule.def.rules.length;
        let want = 1;
        let lastId = a.id;
        for (let j = i + 1; j < ms.length && ms[j]!.t <= limit; j++) {
          const m = ms[j]!;
          if (m.v === want && m.id !== lastId) {
            want++;
            lastId = m.id;
            if (want === steps) return { end: j + 1, measure: steps, count: j + 1 - i };
          }
        }
        return undefined;
      }
    }
  }

  /**
   * Satisfied window containing detection m, which just arrived. Before it no window was
   * satisfied (a satisfied one fires at once), so only windows containing m can be: those
   * anchored within one timespan before it. The checks stay short when one group is flooded (the
   * same values over and over), so a flood cannot stall the stage.
   */
  through(g: Group, m: Member): Window | undefined {
    return g.rule.def.type === 'temporal_ordered' ? this.sequenceThrough(g, m) : this.windowThrough(g, m);
  }

  /** Earliest-anchored satisfied window containing detection m (event_count, value_count, temporal). */
  private windowThrough(g: Group, m: Member): Window | undefined {
    const ms = g.members;
    const def = g.rule.def;
    const T = def.timespanMs;
    const t = m.t;
    let first = lowerBound(ms, t - T);
    if (def.type === 'event_count') {
      // No window held N before m, so fewer than N detections lie within a timespan of it: short loop.
      for (let i = first; i < ms.length && ms[i]!.t <= t; i++) {
        const j = upperBound(ms, ms[i]!.t + T);
        if (conditionHolds(def.condition, j - i)) return { start: i, end: j, measure: j - i, count: j - i };
      }
      return undefined;
    }
    // Distinct values (value_count) or rules (temporal): m adds one only to windows that lacked its
    // value, i.e. anchored after the previous detection with that value and ending before the next.
    let p = upperBound(ms, t) - 1;
    while (p >= 0 && ms[p] !== m) p--;
    if (p < 0) return undefined;
    for (let k = p - 1; k >= first; k--) {
      if (ms[k]!.v === m.v) {
        first = k + 1;
        break;
      }
    }
    let nextSame = Number.POSITIVE_INFINITY;
    for (let k = p + 1; k < ms.length && ms[k]!.t <= t + T; k++) {
      if (ms[k]!.v === m.v) {
        nextSame = ms[k]!.t;
        break;
      }
    }
    for (let i = first; i < ms.length && ms[i]!.t <= t && ms[i]!.t + T < nextSame; i++) {
      const limit = ms[i]!.t + T;
      const n = this.distinctFrom(ms, i, limit);
      const j = this.windowEnd;
      if (conditionHolds(def.condition, n)) return { start: i, end: j, measure: n, count: j - i };
    }
    return undefined;
  }

  /**
   * temporal_ordered: a full sequence through m, if one fits the timespan. The rules before m's are
   * taken as late as possible and those after it as early as possible, which gives the shortest
   * sequence through m.
   */
  private sequenceThrough(g: Group, m: Member): Window | undefined {
    const ms = g.members;
    const T = g.rule.def.timespanMs;
    const steps = g.rule.def.rules.length;
    let p = upperBound(ms, m.t) - 1;
    while (p >= 0 && ms[p] !== m) p--;
    if (p < 0) return undefined;
    const role = m.v as number;
    let start = p;
    let prevId = m.id;
    for (let want = role - 1; want >= 0; want--) {
      let k = start - 1;
      while (k >= 0 && ms[k]!.t >= m.t - T && !(ms[k]!.v === want && ms[k]!.id !== prevId)) k--;
      if (k < 0 || ms[k]!.t < m.t - T) return undefined;
      start = k;
      prevId = ms[k]!.id;
    }
    let end = p;
    prevId = m.id;
    for (let want = role + 1; want < steps; want++) {
      let k = end + 1;
      while (k < ms.length && ms[k]!.t <= m.t + T && !(ms[k]!.v === want && ms[k]!.id !== prevId)) k++;
      if (k >= ms.length || ms[k]!.t > m.t + T) return undefined;
      end = k;
      prevId = ms[k]!.id;
    }
    if (ms[end]!.t - ms[start]!.t > T) return undefined;
    return { start, end: end + 1, measure: steps, count: end + 1 - start };
  }

  /** Distinct `v` among members from i while their time is ≤ limit; sets windowEnd. */
  private distinctFrom(ms: Member[], i: number, limit: number): number {
    if (this.seenIn.size > 4096) this.seenIn.clear();
    const stamp = ++this.seenStamp;
    let n = 0;
    let j = i;
    for (; j < ms.length && ms[j]!.t <= limit; j++) {
      const v = ms[j]!.v;
      if (this.seenIn.get(v) !== stamp) {
        this.seenIn.set(v, stamp);
        n++;
      }
    }
    this.windowEnd = j;
    return n;
  }
}
