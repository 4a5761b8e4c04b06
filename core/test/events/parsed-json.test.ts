import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { normalizeEvent } from '../../src/events/normalize.js';
import { fitsAsParsedJson, toPlainJson, type SanitizeLimits } from '../../src/events/sanitize.js';
import { flattenEvent } from '../../src/detection/flatten.js';

/**
 * Events of a plugin worker's batch are parsed from JSON by the host and checked in place instead
 * of copied (fitsAsParsedJson); detection flattens them with remembered paths. Both are shortcuts:
 * what the pipeline makes of any input must be exactly what the long way makes of it.
 */

const SEED = 1_500_006;
const from = { collector: 'c', plugin: 'p' };

const fieldName = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'source.ip', '__proto__.x', 'a.b', '', 'message', 'user'),
  fc.string({ maxLength: 10 }),
  fc.string({ minLength: 60, maxLength: 80 }),
);
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'medium' },
    fc.string({ maxLength: 300 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fieldName, tie('value'), { maxKeys: 6 }),
})).value;
const event = fc
  .record({ '@timestamp': fc.constantFrom('2026-12-06T10:00:00.000Z', 'not a time'), rest: fc.dictionary(fieldName, jsonish, { maxKeys: 6 }) })
  .map(({ rest, ...ts }) => ({ ...rest, ...ts }));
const limits = fc.record({ maxDepth: fc.integer({ min: 1, max: 6 }), maxBytes: fc.integer({ min: 16, max: 4000 }) });

describe('a batch parsed from a worker’s JSON, checked in place', () => {
  it('normalises to exactly what copying it gives: the same event, or the same refusal and reason', () => {
    fc.assert(
      fc.property(event, limits, (e, lim: SanitizeLimits) => {
        const text = JSON.stringify(e);
        const inPlace = normalizeEvent(JSON.parse(text), from, lim, true);
        const copied = normalizeEvent(JSON.parse(text), from, lim, false);
        expect(inPlace).toEqual(copied);
        if (inPlace.ok) expect(JSON.stringify(inPlace.event)).toBe(JSON.stringify(copied.ok && copied.event));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('fits exactly when the copy succeeds and renames nothing, also a character either side of the size limit', () => {
    fc.assert(
      fc.property(jsonish, fc.integer({ min: 1, max: 6 }), fc.integer({ min: -2, max: 1 }), (v, maxDepth, off) => {
        const parsed = JSON.parse(JSON.stringify(v)) as unknown;
        const renames = JSON.stringify(parsed).includes('"__proto__":');
        // The smallest max_event_bytes the copy accepts (binary search: the copy is monotone in it).
        let lo = 1;
        let hi = 1 << 20;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (toPlainJson(parsed, { maxDepth, maxBytes: mid }).ok) hi = mid;
          else lo = mid + 1;
        }
        const lim = { maxDepth, maxBytes: Math.max(1, lo + off) };
        expect(fitsAsParsedJson(parsed, lim)).toBe(toPlainJson(parsed, lim).ok && !renames);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('counts right at the edges: one character more than max_event_bytes, one level more than max_event_depth', () => {
    const e = { '@timestamp': '2026-12-06T10:00:00.000Z', message: 'x'.repeat(100), list: [1, null, true] };
    // The smallest max_event_bytes the copy accepts, found by the copy itself.
    let least = 1;
    while (!toPlainJson(e, { maxDepth: 3, maxBytes: least }).ok) least++;
    expect(least).toBeGreaterThan(100);
    expect(fitsAsParsedJson(e, { maxDepth: 3, maxBytes: least })).toBe(true);
    expect(fitsAsParsedJson(e, { maxDepth: 3, maxBytes: least - 1 })).toBe(false);
    const nested = { a: { b: { c: 1 } } };
    expect(fitsAsParsedJson(nested, { maxDepth: 3, maxBytes: 1000 })).toBe(true);
    expect(fitsAsParsedJson(nested, { maxDepth: 2, maxBytes: 1000 })).toBe(false);
  });
});

/** Flattening as it was before paths were remembered: the reference. */
function reference(obj: Record<string, unknown>, out: Record<string, unknown> = {}, prefix = '', depth = 0): Record<string, unknown> {
  if (depth >= 64) return out;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) Object.defineProperty(out, prefix + k, { value: v, enumerable: true, writable: true, configurable: true });
    } else if (typeof v === 'object') reference(v as Record<string, unknown>, out, `${prefix + k}.`, depth + 1);
    else Object.defineProperty(out, prefix + k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const entries = (r: Record<string, unknown>) => Object.keys(r).map((k) => [k, r[k]]);

describe('flattening with remembered paths', () => {
  it('gives the same record as building every path, for any event, first time or hundredth', () => {
    fc.assert(
      fc.property(event, (e) => {
        const parsed = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
        const want = entries(reference(parsed));
        expect(entries(flattenEvent(parsed))).toEqual(want);
        expect(entries(flattenEvent(parsed))).toEqual(want);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('a flood of made-up field names (the cache fills) changes nothing, for them or for the events after', () => {
    const normal = { '@timestamp': 't', source: { ip: '203.0.113.9', port: 22 }, user: { name: 'root' }, event: { category: ['authentication'] } };
    const before = entries(flattenEvent(normal));
    for (let i = 0; i < 20_000; i++) {
      const key = `k${i}-${'z'.repeat(i % 90)}`;
      const hostile = { [key]: { [`in${i}`]: i, deeper: { [key]: 'v' } }, source: { [key]: 'x' } };
      const got = flattenEvent(hostile);
      expect(got[`${key}.in${i}`]).toBe(i);
      expect(got[`${key}.deeper.${key}`]).toBe('v');
      expect(got[`source.${key}`]).toBe('x');
    }
    expect(entries(flattenEvent(normal))).toEqual(before);
  });

  it('a prefix a caller passes applies to that call only', () => {
    expect(Object.keys(flattenEvent({ a: { b: 1 } }, {}, 'x.'))).toEqual(['x.a.b']);
    expect(Object.keys(flattenEvent({ a: { b: 1 } }))).toEqual(['a.b']);
  });
});
