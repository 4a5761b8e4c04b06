import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { extractIndicators, INDICATOR_FIELDS, type ExtractedIndicator } from '../../src/enrichment/extract.js';
import { hashTypeByLength, indicatorKey, MAX_URL_CHARS, normalizeIndicator, urlHost } from '../../src/enrichment/indicator.js';
import { parseIp } from '../../src/net/ip.js';
import { getField } from '../../src/plugin-api/index.js';

const keys = (event: Record<string, unknown>) => extractIndicators(event).map((x) => `${x.key} <- ${x.fields.join(',')}`);

// extractIndicators decides what is looked up and in which order (the explanation and the
// enrichment entries follow it); it reads attacker-written events on every alert.
describe('indicator extraction', () => {
  it('finds nested fields in field order, merges one value seen in several fields, and splits URLs', () => {
    expect(
      keys({
        url: { original: 'http://evil.example-bad.net/x.sh' },
        destination: { ip: '45.1.1.1', domain: 'c2.example-bad.net' },
        source: { ip: '45.1.1.1' },
        related: { hash: ['d41d8cd98f00b204e9800998ecf8427e', 'not-a-hash'], ip: ['45.2.2.2', 45, null] },
        event: { kind: 'alert' },
      }),
    ).toEqual([
      'ipv4:45.1.1.1 <- source.ip,destination.ip',
      'ipv4:45.2.2.2 <- related.ip',
      'domain:c2.example-bad.net <- destination.domain',
      'url:http://evil.example-bad.net/x.sh <- url.original',
      'domain:evil.example-bad.net <- url.original',
      'md5:d41d8cd98f00b204e9800998ecf8427e <- related.hash',
    ]);
  });

  it('looks up a URL longer than 2,048 characters by its host only, and says so without quoting it whole', () => {
    const long = `http://evil.example-bad.net/?q=${'a'.repeat(MAX_URL_CHARS)}`;
    expect(keys({ url: { original: long } })).toEqual(['domain:evil.example-bad.net <- url.original']);
    const atLimit = `http://evil.example-bad.net/?q=${'a'.repeat(MAX_URL_CHARS - 31)}`;
    expect(atLimit).toHaveLength(MAX_URL_CHARS);
    expect(keys({ url: { original: atLimit } })).toEqual([`url:${atLimit} <- url.original`, 'domain:evil.example-bad.net <- url.original']);
    const r = normalizeIndicator('url', `${long}${'b'.repeat(1_000_000)}`);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^"http:\/\/evil\.example-bad\.net\/\?q=a+… \(1002079 characters\)" is longer than 2048 characters: not looked up as a URL$/);
    expect(!r.ok && normalizeIndicator('ip', 'x'.repeat(1_000_000)).ok === false && normalizeIndicator('ip', 'x'.repeat(1_000_000)).error.length).toBeLessThan(200);
  });

  it('a flood of forged long values (1,200 fields of 100,000 characters) leaves nothing behind once its events are gone', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 400; i++) {
      const pad = `${i}-${'x'.repeat(100_000)}`;
      extractIndicators({ source: { ip: `45.0.0.1${pad}` }, related: { hosts: [`h${pad}.example-bad.net`] }, url: { original: `http://evil.example-bad.net/${pad}` } });
    }
    gc();
    // Remembered, they would hold 1,200 × 100 KB (≥ 120 MB): the memos keep only short raw values.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(20 * 2 ** 20);
  });

  it('reads dotted top-level keys as the same fields, alone or mixed with nested objects', () => {
    expect(keys({ 'source.ip': '45.3.3.3', 'url.domain': '45.4.4.4' })).toEqual(['ipv4:45.3.3.3 <- source.ip', 'ipv4:45.4.4.4 <- url.domain']);
    expect(keys({ source: { port: 22 }, 'source.ip': '45.3.3.3', destination: { ip: '45.3.3.3' } })).toEqual(['ipv4:45.3.3.3 <- source.ip,destination.ip']);
    expect(keys({ 'file.hash': { sha256: 'a'.repeat(64) } })).toEqual([`sha256:${'a'.repeat(64)} <- file.hash.sha256`]);
  });

  it('keeps first-seen order and merges repeats past the point where it switches to an index', () => {
    const ips = Array.from({ length: 40 }, (_, i) => `45.9.0.${i}`);
    const found = extractIndicators({ related: { ip: [...ips, ...ips.slice().reverse()] }, source: { ip: ips[20] } });
    expect(found.map((x) => x.indicator.value)).toEqual([ips[20], ...ips.filter((_, i) => i !== 20)]);
    expect(found[0]!.fields).toEqual(['source.ip', 'related.ip']);
    expect(found.every((x, i) => i === 0 || x.fields.join() === 'related.ip')).toBe(true);
  });

  it('ignores what is not there or not a string, and never throws on hostile shapes', () => {
    const hostile = JSON.parse(
      '{"source":"45.5.5.5","destination":[{"ip":"45.6.6.6"}],"client":null,"server":{"ip":{"__proto__":"45.7.7.7"}},"__proto__":{"ip":"45.8.8.8"},"constructor":{"prototype":{"ip":"1"}},"related":{"ip":[["45.1.2.3"],{"x":1},true]}}',
    );
    expect(extractIndicators(hostile)).toEqual([]);
    expect(extractIndicators({})).toEqual([]);
    expect(({} as Record<string, unknown>).ip).toBeUndefined();
  });

  it('hands out indicator objects of their own for every event', () => {
    const [a] = extractIndicators({ source: { ip: '45.1.1.1' } });
    const [b] = extractIndicators({ source: { ip: '45.1.1.1' } });
    expect(a).toEqual(b);
    expect(a!.indicator).not.toBe(b!.indicator);
    expect(a!.fields).not.toBe(b!.fields);
  });
});

// --- the optimised reading against a plain one --------------------------------------------------

/** The plain reading: every listed field, nested first, the generic dotted lookup when the event has dotted keys. */
function reference(event: Record<string, unknown>): ExtractedIndicator[] {
  const found = new Map<string, ExtractedIndicator>();
  const dotted = Object.keys(event).some((k) => k.includes('.'));
  const add = (type: string, raw: string, field: string) => {
    const r = normalizeIndicator(type, raw);
    if (!r.ok) return;
    const key = indicatorKey(r.indicator);
    const x = found.get(key);
    if (!x) found.set(key, { indicator: r.indicator, fields: [field], key });
    else if (!x.fields.includes(field)) x.fields.push(field);
  };
  for (const [field, kind] of INDICATOR_FIELDS) {
    let v: unknown = event;
    for (const p of field.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
    if (v === undefined && dotted) v = getField(event, field);
    const raws = typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
    for (const raw of raws) {
      if (kind === 'ip') add('ip', raw, field);
      else if (kind === 'domain') add(parseIp(raw) ? 'ip' : 'domain', raw, field);
      else if (kind === 'url') {
        add('url', raw, field);
        const host = urlHost(raw);
        if (host !== undefined) add(parseIp(host) ? 'ip' : 'domain', host, field);
      } else if (kind === 'hash') {
        const t = hashTypeByLength(raw);
        if (t) add(t, raw, field);
      } else add(kind, raw, field);
    }
  }
  return [...found.values()];
}

describe('indicator extraction, fuzzed against the plain reading', () => {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n}}$`));
  const host = fc.oneof(fc.domain(), fc.ipV4(), fc.constantFrom('EVIL.Example-Bad.NET', '10.0.0.5', '::1', '2001:db8::1', 'localhost', ''));
  // A small pool makes the same value turn up in many fields and arrays (merging, past the index switch).
  const pooled = fc.constantFrom(...Array.from({ length: 30 }, (_, i) => (i % 3 ? `45.0.0.${i}` : `h${i}.example-bad.net`)));
  const value = fc.oneof(
    { weight: 3, arbitrary: pooled },
    fc.ipV4(),
    fc.ipV6(),
    host,
    host.map((h) => `http://${h}/x.sh`),
    host.map((h) => `https://${h}:8443/a?b=c`),
    hex(32),
    hex(40),
    hex(64),
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.constant(null),
  );
  const fieldValue = fc.oneof(
    { weight: 4, arbitrary: value },
    { weight: 1, arbitrary: fc.array(value, { maxLength: 40 }) },
    { weight: 1, arbitrary: fc.array(pooled, { minLength: 20, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), value, { maxKeys: 2 }) },
  );
  const fieldName = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...INDICATOR_FIELDS.map(([f]) => f)) },
    { weight: 1, arbitrary: fc.constantFrom('source', 'url', 'file.hash', 'threat.indicator', '__proto__', 'constructor', 'event.kind', 'a.b', 'source.ip.x') },
  );
  const placement = fc.array(fc.tuple(fieldName, fieldValue, fc.boolean()), { maxLength: 12 });

  /** Nested (`source: { ip }`) or dotted at the top (`"source.ip"`), as the draw says; a path through a non-object stays as it is. */
  function build(parts: Array<[string, unknown, boolean]>): Record<string, unknown> {
    const event: Record<string, unknown> = JSON.parse('{}');
    for (const [field, v, dotted] of parts) {
      if (dotted) {
        Object.defineProperty(event, field, { value: v, enumerable: true, writable: true, configurable: true });
        continue;
      }
      const path = field.split('.');
      let cur: Record<string, unknown> = event;
      let ok = true;
      for (const p of path.slice(0, -1)) {
        const next = Object.hasOwn(cur, p) ? cur[p] : undefined;
        if (next === undefined) {
          const made = {};
          Object.defineProperty(cur, p, { value: made, enumerable: true, writable: true, configurable: true });
          cur = made;
        } else if (next !== null && typeof next === 'object' && !Array.isArray(next)) cur = next as Record<string, unknown>;
        else {
          ok = false;
          break;
        }
      }
      if (ok) Object.defineProperty(cur, path[path.length - 1]!, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return event;
  }

  it('finds the same indicators, fields and order as reading every field plainly', () => {
    fc.assert(
      fc.property(placement, (parts) => {
        const event = build(parts);
        expect(extractIndicators(event)).toEqual(reference(event));
      }),
      { seed: 1_500_015, numRuns: 400 },
    );
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});
