import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractIndicators, isNonPublic, Warninglists } from '../../src/enrichment/index.js';
import { detection, FakeEnricher, makeStage, ManualClock, metricValue, processWithin, reputation, tempStateDir, warninglistsDir } from './helpers.js';

describe('indicator extraction', () => {
  it('finds IPs, domains, URLs and hashes in ECS fields, normalised and de-duplicated', () => {
    const found = extractIndicators({
      source: { ip: '45.33.32.156' },
      destination: { ip: '::FFFF:45.33.32.156', domain: 'Mail.Evil-Domain.NET.' },
      related: { ip: ['2001:0DB8:0:0::1', '45.33.32.156'], hash: ['D41D8CD98F00B204E9800998ECF8427E', 'nothex'], hosts: ['web01', 'cdn.example.org'] },
      url: { original: 'http://198.51.100.7:8080/payload.sh' },
      dns: { question: { name: 'c2.bad-actor.io' } },
      file: { hash: { sha256: 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855', md5: 'zz' } },
      'threat.indicator.url.full': 'https://phish.example-bank.com/login',
      host: { ip: '10.1.1.1' },
    });
    expect(found.map((f) => `${f.indicator.type} ${f.indicator.value} <- ${f.fields.join(',')}`)).toEqual([
      'ipv4 45.33.32.156 <- source.ip,destination.ip,related.ip',
      'ipv6 2001:db8::1 <- related.ip',
      'domain mail.evil-domain.net <- destination.domain',
      'domain c2.bad-actor.io <- dns.question.name',
      'domain cdn.example.org <- related.hosts',
      'url http://198.51.100.7:8080/payload.sh <- url.original',
      'ipv4 198.51.100.7 <- url.original',
      'url https://phish.example-bank.com/login <- threat.indicator.url.full',
      'domain phish.example-bank.com <- threat.indicator.url.full',
      'sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 <- file.hash.sha256',
      'md5 d41d8cd98f00b204e9800998ecf8427e <- related.hash',
    ]);
  });

  it('treats private, reserved and documentation addresses and reserved names as non-public', () => {
    const nonPublic = ['10.2.3.4', '172.31.0.1', '192.168.1.1', '127.0.0.1', '169.254.1.1', '100.64.0.1', '198.51.100.7', '224.0.0.1', '::1', 'fe80::1', 'fd00::1', '2001:db8::1'];
    for (const ip of nonPublic) expect(isNonPublic({ type: ip.includes(':') ? 'ipv6' : 'ipv4', value: ip }), ip).toBe(true);
    for (const ip of ['45.33.32.156', '8.8.8.8', '2a00:1450:4001::200e']) expect(isNonPublic({ type: ip.includes(':') ? 'ipv6' : 'ipv4', value: ip }), ip).toBe(false);
    expect(isNonPublic({ type: 'domain', value: 'printer.local' })).toBe(true);
    expect(isNonPublic({ type: 'domain', value: 'www.example.com' })).toBe(true);
    expect(isNonPublic({ type: 'url', value: 'http://10.0.0.5/x' })).toBe(true);
    expect(isNonPublic({ type: 'domain', value: 'evil.net' })).toBe(false);
    // lookup_documentation_ranges lets demo/fake ranges through, and nothing else.
    expect(isNonPublic({ type: 'ipv4', value: '198.51.100.7' }, false)).toBe(false);
    expect(isNonPublic({ type: 'ipv6', value: '2001:db8::bad' }, false)).toBe(false);
    expect(isNonPublic({ type: 'domain', value: 'malware.example.test' }, false)).toBe(false);
    expect(isNonPublic({ type: 'ipv4', value: '10.2.3.4' }, false)).toBe(true);
    expect(isNonPublic({ type: 'domain', value: 'printer.local' }, false)).toBe(true);
  });
});

describe('MISP warninglists', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('loads the shared MISP warninglists and matches by their types', async () => {
    const lists = await Warninglists.load([warninglistsDir], '/');
    expect(lists.size).toBe(10);
    expect(lists.match({ type: 'ipv4', value: '8.8.8.8' })?.list).toBe('List of known IPv4 public DNS resolvers');
    expect(lists.match({ type: 'ipv4', value: '100.64.3.4' })?.list).toBe('List of RFC 6598 CIDR blocks');
    expect(lists.match({ type: 'ipv6', value: 'fe80::1234' })?.list).toBe('List of IPv6 link local blocks');
    expect(lists.match({ type: 'domain', value: 'google.com' })?.list).toBe('Top 1,000 domains from Cloudflare Radar');
    expect(lists.match({ type: 'md5', value: 'D41D8CD98F00B204E9800998ECF8427E'.toLowerCase() })?.list).toBe('List of known hashes for empty files');
    expect(lists.match({ type: 'ipv4', value: '45.33.32.156' })).toBeUndefined();
    expect(lists.match({ type: 'domain', value: 'c2.bad-actor.io' })).toBeUndefined();
    // A top-domain list of type "string" is exact: a subdomain is not on it.
    expect(lists.match({ type: 'domain', value: 'evil.google.com.attacker.io' })).toBeUndefined();
    // matching_attributes decide which types a list covers: the DNS resolver list is not for hashes.
    expect(lists.match({ type: 'sha1', value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709' })?.list).toBe('List of known hashes for empty files');
    expect(lists.match({ type: 'ipv4', value: '1.1.1.1' })?.list).toBe('List of known IPv4 public DNS resolvers');
  });

  it('hostname, substring and regex lists; clear errors for a bad path or file', async () => {
    const dir = path.join(state.dir, 'lists');
    const write = async (name: string, doc: unknown) => {
      await mkdir(path.join(dir, name), { recursive: true });
      await writeFile(path.join(dir, name, 'list.json'), JSON.stringify(doc));
    };
    await write('host', { name: 'corp hosts', type: 'hostname', list: ['corp-cdn.net'], matching_attributes: ['hostname', 'domain', 'url'] });
    await write('sub', { name: 'scanner', type: 'substring', list: ['shodan'], matching_attributes: ['domain'] });
    await write('re', { name: 'update urls', type: 'regex', list: ['/^https:\\/\\/updates\\.[a-z]+\\.org\\//i'], matching_attributes: ['url'] });
    const lists = await Warninglists.load(['lists'], state.dir);
    expect(lists.match({ type: 'domain', value: 'a.b.corp-cdn.net' })?.list).toBe('corp hosts');
    expect(lists.match({ type: 'domain', value: 'notcorp-cdn.net' })).toBeUndefined();
    expect(lists.match({ type: 'url', value: 'https://x.corp-cdn.net/file' })?.list).toBe('corp hosts');
    expect(lists.match({ type: 'domain', value: 'census.shodan.io' })?.list).toBe('scanner');
    expect(lists.match({ type: 'url', value: 'https://UPDATES.mozilla.org/x' })?.list).toBe('update urls');
    expect(lists.match({ type: 'url', value: 'https://evil.io/?u=https://updates.mozilla.org/' })).toBeUndefined();

    await expect(Warninglists.load(['missing-dir'], state.dir)).rejects.toThrow(/enrichment\.warninglists\[0\]: "missing-dir" .* does not exist/);
    await write('broken', { name: 'bad', type: 'cidr', list: ['10.0.0.0/33'] });
    await expect(Warninglists.load(['lists'], state.dir)).rejects.toThrow(/broken\/list\.json: "10\.0\.0\.0\/33" is not an IP address or CIDR block/);
  });

  it('the stage never looks up warninglisted or private indicators and says why', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 15));
    const src = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 1, confidence: 1 }) });
    const { stage, registry } = await makeStage({
      enrichers: [{ id: 'vt', instance: src }],
      config: { warninglists: ['../shared/datasets/misp-warninglists'] },
      stateDir: state.dir,
      clock,
    });
    const e = detection({
      source: { ip: '192.168.1.20' },
      destination: { ip: '8.8.8.8' },
      related: { ip: ['45.33.32.156'] },
      dns: { question: { name: 'google.com' } },
      file: { hash: { md5: 'd41d8cd98f00b204e9800998ecf8427e' } },
    });
    await processWithin(stage, clock, [e], 100);
    expect(src.lookedUp).toEqual(['45.33.32.156']);
    expect(reputation(e).skipped.map((s: { value: string; reason: string }) => `${s.value}:${s.reason}`)).toEqual([
      '192.168.1.20:non_public',
      '8.8.8.8:warninglist',
      'google.com:warninglist',
      'd41d8cd98f00b204e9800998ecf8427e:warninglist',
    ]);
    expect(reputation(e).explanation).toContain('8.8.8.8 (warninglist: List of known IPv4 public DNS resolvers)');
    expect(await metricValue(registry, 'fabric_enrichment_indicators_skipped_total', { reason: 'warninglist' })).toBe(3);
    await stage.stop();
  });
});
