import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { indicatorProblem } from '../../src/admin/indicator-check.js';
import { putField } from '../../src/detection/extract/extractor.js';
import { compileCidr } from '../../src/detection/sigma/cidr.js';
import { normalizeIndicator } from '../../src/enrichment/indicator.js';
import { canonicalIp, CidrSet, ipVersion, isReservedIp, parseIp } from '../../src/net/ip.js';
import { ipVersion as publishedIpVersion } from '../../src/plugin-api/index.js';

describe('the one IP parser', () => {
  // [input, canonical text or undefined when it is not an address]
  const table: Array<[string, string | undefined]> = [
    ['45.33.32.156', '45.33.32.156'],
    [' 45.33.32.156 ', '45.33.32.156'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:0DB8:0:0::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['::ffff:10.1.1.1', '10.1.1.1'],
    ['::FFFF:45.33.32.156', '45.33.32.156'],
    ['::ffff:a01:101', '10.1.1.1'],
    ['0:0:0:0:0:ffff:10.1.1.1', '10.1.1.1'],
    ['64:ff9b::10.1.1.1', '64:ff9b::a01:101'],
    // Not addresses: each a clear "no", never a throw.
    ['', undefined],
    ['   ', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['256.1.1.1', undefined],
    ['999.1.1.1', undefined],
    ['010.1.1.1', undefined],
    ['01.2.3.4', undefined],
    ['0x0a.1.1.1', undefined],
    ['3232235777', undefined],
    ['1.2.3.4/24', undefined],
    ['+1.2.3.4', undefined],
    ['1.2.3.-4', undefined],
    ['1 .2.3.4', undefined],
    ['١.٢.٣.٤', undefined],
    ['１.２.３.４', undefined],
    ['fe80::1%eth0', undefined],
    ['fe80::1%25eth0', undefined],
    ['::ffff:010.1.1.1', undefined],
    ['::ffff:0x1.1.1.1', undefined],
    ['::ffff:1.2.3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    ['12345::', undefined],
    ['g::1', undefined],
    [':::', undefined],
    ['[1.2.3.4]', undefined],
    ['[::1', undefined],
    ['localhost', undefined],
    ['1.2.3.4\n', '1.2.3.4'],
    ['1.2.3.4\u0000', undefined],
    [`${'1'.repeat(1_000_000)}.1.1.1`, undefined],
    [`${'0:'.repeat(500_000)}1`, undefined],
    [`::ffff:${'9'.repeat(200)}.1.1.1`, undefined],
  ];
  it.each(table.map(([input, want]) => ({ input, want, label: JSON.stringify(input.slice(0, 40)) })))('$label → $want', ({ input, want }) => {
    expect(canonicalIp(input)?.value).toBe(want);
  });

  it('says no to values that are not strings', () => {
    for (const v of [undefined, null, 42, {}, ['1.2.3.4'], Symbol('x')]) expect(parseIp(v)).toBeUndefined();
  });

  it('gives IPv4-mapped IPv6 the IPv4 family everywhere: enrichment, the admin API check, Sigma cidr, plugins', () => {
    expect(ipVersion('::ffff:10.1.1.1')).toBe(4);
    expect(publishedIpVersion('::ffff:10.1.1.1')).toBe(4);
    expect(normalizeIndicator('ipv4', '::ffff:10.1.1.1')).toEqual({ ok: true, indicator: { type: 'ipv4', value: '10.1.1.1' } });
    expect(indicatorProblem({ type: 'ipv4', value: '::ffff:10.1.1.1' })).toBeUndefined();
    expect(indicatorProblem({ type: 'ipv6', value: '::ffff:10.1.1.1' })).toMatch(/is an IPv4 address .*use type "ipv4"/);
    expect(compileCidr('10.0.0.0/8')!('::ffff:10.1.1.1')).toBe(true);
    expect(isReservedIp(parseIp('::ffff:10.1.1.1')!)).toBe(true);
  });

  it('matches CIDR blocks of both families and refuses what is not a block', () => {
    const set = new CidrSet();
    for (const b of ['10.0.0.0/8', '2001:db8::/32', '::ffff:192.168.0.0/112', '8.8.8.8']) expect(set.add(b)).toBe(true);
    for (const b of ['10.0.0.0/33', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/', 'x/8', '010.0.0.0/8', '::/129', '']) expect(set.add(b)).toBe(false);
    expect(set.has(parseIp('10.255.0.1')!)).toBe(true);
    expect(set.has(parseIp('2001:db8:1::5')!)).toBe(true);
    expect(set.has(parseIp('192.168.3.4')!)).toBe(true);
    expect(set.has(parseIp('8.8.8.8')!)).toBe(true);
    expect(set.has(parseIp('8.8.4.4')!)).toBe(false);
    expect(compileCidr('10.0.0.0/8/9')).toBeUndefined();
    expect(compileCidr('fc00::/7')!('fd12::1')).toBe(true);
    expect(compileCidr('fc00::/7')!('fe80::1%eth0')).toBe(false);
  });

  it('detection keeps addresses in .ip and moves what is not one to .domain', () => {
    const out: Record<string, unknown> = {};
    const target = { ctx: {} as never, set: (p: string, v: unknown) => void (out[p] = v) };
    for (const [field, raw] of [
      ['source.ip', '::ffff:10.1.1.1'],
      ['destination.ip', 'fe80::1'],
      ['client.ip', '999.1.1.1'],
      ['server.ip', 'host-1.example.net'],
    ])
      putField(target, field!, raw!, []);
    expect(out).toEqual({ 'source.ip': '::ffff:10.1.1.1', 'destination.ip': 'fe80::1', 'client.domain': '999.1.1.1', 'server.domain': 'host-1.example.net' });
  });

  // Strings shaped like addresses, nearly addresses, and anything at all.
  const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('00', '01', '0x1', '٣', '', '-1'));
  const ipv4ish = fc.array(octet, { minLength: 3, maxLength: 5 }).map((p) => p.join('.'));
  const group = fc.oneof(
    fc.integer({ min: 0, max: 0xfffff }).map((n) => n.toString(16)),
    fc.constantFrom('', 'FFFF', 'g', '%eth0'),
  );
  const ipv6ish = fc
    .tuple(fc.array(group, { minLength: 1, maxLength: 10 }), fc.option(ipv4ish, { nil: undefined }), fc.boolean())
    .map(([g, tail, mapped]) => (mapped ? '::ffff:' : '') + g.join(':') + (tail === undefined ? '' : `:${tail}`));
  const anyText = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), ipv4ish, ipv6ish, fc.string(), fc.string({ unit: 'grapheme' }));

  it('the admin API check and enrichment accept exactly the same addresses for each family (property)', () => {
    fc.assert(
      fc.property(anyText, fc.constantFrom('ipv4' as const, 'ipv6' as const), (value, type) => {
        const admin = indicatorProblem({ type, value }) === undefined;
        const enrichment = normalizeIndicator(type, value).ok;
        expect(admin).toBe(enrichment);
      }),
      { numRuns: 3000 },
    );
  });

  it('every address fast-check can write parses, and its canonical text parses back to itself (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const c = canonicalIp(text);
        expect(c).toBeDefined();
        expect(canonicalIp(c!.value)).toEqual(c);
      }),
      { numRuns: 2000 },
    );
  });
});
