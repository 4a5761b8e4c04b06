import { describe, expect, it } from 'vitest';
import { extractIndicators } from '../../src/enrichment/extract.js';

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
