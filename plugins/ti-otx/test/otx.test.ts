import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OtxFake, OTX_FAKE_API_KEY, otxPulse } from '@reactive-fabric/test-kit/fakes';
import type { Checkpoint, EnricherInstance, PollResult, SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { configErrors, instantiate, rejection, signal } from '../../../test/support/threat-intel-plugins.js';

let fake: OtxFake;
beforeEach(async () => {
  fake = new OtxFake();
  await fake.start();
});
afterEach(async () => {
  vi.useRealTimers();
  await fake.stop();
});

const otx = (extra: Record<string, unknown> = {}) => instantiate(plugin, { api_key: OTX_FAKE_API_KEY, base_url: fake.url, ...extra });
const EICAR_SHA256 = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f';

describe('OTX plugin: definition and config', () => {
  it('is an enricher for every indicator type with the seed defaults', async () => {
    expect(plugin.kind).toBe('enricher');
    expect(plugin.apiVersion).toBe('^1.0.0');
    const inst = await otx();
    expect(inst.supports).toEqual(['ipv4', 'ipv6', 'domain', 'md5', 'sha1', 'sha256', 'url']);
    expect(inst.limits).toMatchObject({ requestsPerMinute: 60, maxBatchSize: 1 });
    expect(typeof inst.poll).toBe('function');
  });

  it('names bad fields', () => {
    expect(configErrors(plugin, { api_key: 'k', feed_max_tlp: 'purple' }).map((e) => e.path)).toContain('/feed_max_tlp');
    expect(configErrors(plugin, {}).map((e) => e.path)).toEqual(['/api_key']);
  });
});

describe('OTX plugin: lookups', () => {
  it('counts pulses for IPv4 and IPv6 and explains them', async () => {
    const inst = await otx();
    const [v4, v6] = await inst.lookup(
      [
        { type: 'ipv4', value: '198.51.100.66' },
        { type: 'ipv6', value: '2001:db8::bad' },
      ],
      { signal: signal() },
    );
    expect(v4!.status).toBe('malicious');
    expect(v4!.evidence).toMatchObject({
      pulse_count: 3,
      pulses: expect.arrayContaining(['Bad Hosting botnet C2', 'Scanner wave', 'SSH brute force']),
      malware_families: ['Mirai'],
      attack_ids: expect.arrayContaining(['T1071', 'T1110']),
    });
    expect(v4!.reference).toBe('https://otx.alienvault.com/indicator/ip/198.51.100.66');
    expect(v6!.status).toBe('suspicious');
    expect(v6!.evidence).toMatchObject({ pulse_count: 1, pulses: ['Scanner wave'] });
    expect(fake.requests.map((r) => r.path)).toEqual(['/api/v1/indicators/IPv4/198.51.100.66/general', '/api/v1/indicators/IPv6/2001%3Adb8%3A%3Abad/general']);
  });

  it('looks up domains, MD5/SHA-1/SHA-256 and URLs', async () => {
    const inst = await otx();
    const verdicts = await inst.lookup(
      [
        { type: 'domain', value: 'malware.example.test' },
        { type: 'md5', value: '44d88612fea8a8f36de82e1278abb02f' },
        { type: 'sha1', value: '3395856ce81f2b7382dee72602f798b642f14140' },
        { type: 'sha256', value: EICAR_SHA256 },
        { type: 'url', value: 'http://malware.example.test/payload.exe' },
      ],
      { signal: signal() },
    );
    expect(verdicts.map((v) => [v.status, v.evidence?.['pulse_count']])).toEqual([
      ['suspicious', 1],
      ['suspicious', 1],
      ['suspicious', 1],
      ['suspicious', 1],
      ['suspicious', 1],
    ]);
    expect(fake.requests.map((r) => r.path.split('/').slice(3, 5).join('/'))).toEqual([
      'indicators/domain',
      'indicators/file',
      'indicators/file',
      'indicators/file',
      'indicators/url',
    ]);
  });

  it('sends the key as X-OTX-API-KEY', async () => {
    await (await otx()).lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() });
    expect(fake.requests[0]!.headers).toMatchObject({ 'x-otx-api-key': '[present]' });
  });

  it('OTX whitelist validation makes an indicator clean', async () => {
    const inst = await otx();
    const [d] = await inst.lookup([{ type: 'domain', value: 'example.com' }], { signal: signal() });
    expect(d).toMatchObject({ status: 'clean', score: 0, evidence: { validation: [expect.stringContaining('Whitelisted')] } });
  });

  it('an indicator in no pulse is unknown (200 with pulse_info.count 0), never clean', async () => {
    const inst = await otx();
    const verdicts = await inst.lookup(
      [
        { type: 'ipv4', value: '192.0.2.200' },
        { type: 'domain', value: 'never-seen.example.org' },
        { type: 'sha256', value: 'c'.repeat(64) },
        { type: 'url', value: 'http://never-seen.example.org/a?b=c' },
      ],
      { signal: signal() },
    );
    expect(verdicts.map((v) => v.status)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    expect(verdicts.every((v) => v.score === undefined)).toBe(true);
    expect(fake.requests.every((r) => r.status === 200)).toBe(true);
  });

  it("a malformed indicator (400) is unknown with OTX's reason", async () => {
    const inst = await otx();
    const [v] = await inst.lookup([{ type: 'ipv4', value: 'not-an-ip' }], { signal: signal() });
    expect(v).toMatchObject({ status: 'unknown', evidence: { note: expect.stringContaining('Invalid IPv4') } });
  });
});

describe('OTX plugin: failures', () => {
  it('a bad key is AUTH_FAILED (403) and recovers once the key is accepted', async () => {
    fake.apiKeys = new Set(['x']);
    const inst = await otx();
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toContain('Invalid API key');
    expect(err.message).not.toContain(OTX_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'AUTH_FAILED' });
    fake.apiKeys.add(OTX_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toEqual({ status: 'healthy' });
    expect(fake.requests.at(-1)!.path).toBe('/api/v1/users/me');
  });

  it('throttling (429) is RATE_LIMITED with Retry-After', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T10:00:20Z'));
    fake.setQuota('*', { perMinute: 2 });
    const inst = await otx();
    await inst.lookup(
      [
        { type: 'ipv4', value: '198.51.100.66' },
        { type: 'ipv4', value: '198.51.100.66' },
      ],
      { signal: signal() },
    );
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(40_000);
    expect(err.message).toContain('Request was throttled');
  });

  it('504 (known under modified_since load) is UNAVAILABLE; slowness is TIMEOUT', async () => {
    const inst = await otx({ timeout_seconds: 0.2, feed_since: '2026-11-01T00:00:00Z' });
    fake.failNext(1, 504);
    expect((await rejection(inst.poll!({ checkpoint: undefined, signal: signal(), maxEvents: 10 }))).code).toBe('UNAVAILABLE');
    fake.delayMs = 700;
    expect((await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }))).code).toBe('TIMEOUT');
  });
});

describe('OTX plugin: cache key and description', () => {
  it('cacheKey changes with key, endpoint and options and hides the key', async () => {
    const a = (await otx()).cacheKey!();
    expect((await otx()).cacheKey!()).toBe(a);
    expect((await instantiate(plugin, { api_key: 'k2', base_url: fake.url })).cacheKey!()).not.toBe(a);
    expect((await otx({ malicious_pulses: 5 })).cacheKey!()).not.toBe(a);
    expect(a).not.toContain(OTX_FAKE_API_KEY);
    const d = (await otx()).describe!();
    expect(d).toMatchObject({ backend: 'otx', target: fake.url });
    expect(JSON.stringify(d)).not.toContain(OTX_FAKE_API_KEY);
  });
});

describe('OTX plugin: subscribed-pulse feed', () => {
  const idsOf = (events: SourceEvent[]) => events.map((e) => (e.event as { id: string }).id);
  const valuesOf = (events: SourceEvent[]) =>
    events.map((e) => {
      const i = (e['threat'] as { indicator: Record<string, unknown> }).indicator;
      return (i['ip'] ??
        (i['url'] as Record<string, string> | undefined)?.['full'] ??
        (i['url'] as Record<string, string> | undefined)?.['domain'] ??
        Object.values((i['file'] as { hash: Record<string, string> }).hash)[0]) as string;
    });

  /** Poll until the feed has nothing more, restarting the plugin (new instance, JSON checkpoint) before every poll. */
  async function drain(checkpoint: Checkpoint | undefined, maxEvents: number, cfg: Record<string, unknown>) {
    const events: SourceEvent[] = [];
    let cp = checkpoint;
    let last: PollResult | undefined;
    for (let i = 0; i < 50; i++) {
      const inst: EnricherInstance = await otx(cfg);
      last = await inst.poll!({ checkpoint: cp, signal: signal(), maxEvents });
      expect(last.events.length).toBeLessThanOrEqual(maxEvents);
      events.push(...last.events);
      cp = JSON.parse(JSON.stringify(last.checkpoint)) as Checkpoint;
      if (!last.hasMore) break;
    }
    expect(last!.hasMore).toBe(false);
    return { events, checkpoint: cp };
  }

  it('pulls every indicator once across restarts and pages, then only what changed', async () => {
    const cfg = { feed_since: '2026-11-01T00:00:00Z', feed_page_size: 2 };
    const first = await drain(undefined, 3, cfg);
    expect(first.events).toHaveLength(15);
    expect(new Set(idsOf(first.events)).size).toBe(15);
    expect(valuesOf(first.events)).toEqual(
      expect.arrayContaining([
        '198.51.100.66',
        '2001:db8::bad',
        'malware.example.test',
        'cdn.malware.example.test',
        'http://malware.example.test/payload.exe',
        EICAR_SHA256,
        'http://198.51.100.7/payload.sh',
      ]),
    );
    const subscribed = fake.requests.filter((r) => r.path === '/api/v1/pulses/subscribed');
    expect(subscribed[0]!.query).toEqual({ limit: '2', modified_since: '2026-11-01T00:00:00.000Z' });
    expect(subscribed.map((r) => r.query['page'] ?? '1')).toContain('3');

    const e = first.events.find((x) => (x['otx'] as { pulse: { name: string } }).pulse.name === 'SSH brute force')!;
    expect(e['@timestamp']).toBe('2026-11-24T12:00:00.000Z');
    expect(e.event).toMatchObject({ kind: 'enrichment', category: ['threat'], type: ['indicator'], dataset: 'ti_otx.pulse' });
    expect(e['threat']).toMatchObject({
      feed: { name: 'AlienVault OTX' },
      technique: { id: ['T1110'] },
      indicator: { type: 'ipv4-addr', description: 'SSH brute force', marking: { tlp: 'CLEAR' } },
    });

    // Nothing new: the newest pulse sits exactly at modified_since and is not repeated.
    const idle = await drain(first.checkpoint, 3, cfg);
    expect(idle.events).toHaveLength(0);

    // A new pulse and an edited old one (new modified time, one more indicator).
    fake.upsertPulse(otxPulse('6560a1f0c1b2d3e4f5a60099', '2026-11-25T08:00:00.000000', [['IPv4', '192.0.2.77']], { name: 'New C2' }));
    const edited = fake.pulses.find((p) => p.id === '6560a1f0c1b2d3e4f5a60001')!;
    fake.upsertPulse({
      ...edited,
      modified: '2026-11-26T08:00:00.000000',
      indicators: [...edited.indicators, { id: 42, indicator: '192.0.2.78', type: 'IPv4', created: '2026-11-26T08:00:00' }],
    });
    const inc = await drain(idle.checkpoint, 2, cfg);
    expect(valuesOf(inc.events).sort()).toEqual(['192.0.2.77', '192.0.2.78', '198.51.100.66', 'malware.example.test']);
    expect((await drain(inc.checkpoint, 2, cfg)).events).toHaveLength(0);
  });

  it('when the feed shrinks mid-pass ("Invalid page."), it starts the pass over instead of failing or skipping', async () => {
    const cfg = { feed_since: '2026-11-01T00:00:00Z', feed_page_size: 2 };
    const r1 = await (await otx(cfg)).poll!({ checkpoint: undefined, signal: signal(), maxEvents: 100 });
    expect(r1.hasMore).toBe(true); // page 1 of 3 done
    const cp = JSON.parse(JSON.stringify(r1.checkpoint)) as Checkpoint;
    // Unsubscribe from everything but the two oldest pulses: page 2 no longer exists.
    fake.pulses = fake.pulses.filter((p) => p.modified < '2026-11-22');
    const rest = await drain(cp, 100, cfg);
    expect(valuesOf(rest.events).sort()).toEqual([
      '198.51.100.66',
      '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
      '44d88612fea8a8f36de82e1278abb02f',
      'malware.example.test',
    ]);
    expect(fake.requests.some((r) => r.status === 404)).toBe(true);
    expect(JSON.stringify(cp)).toBe(JSON.stringify(JSON.parse(JSON.stringify(r1.checkpoint)))); // not mutated
  });

  it('does not collect pulses above feed_max_tlp', async () => {
    fake.pulses = [
      otxPulse('red0000000000000000000001', '2026-11-25T08:00:00', [['IPv4', '192.0.2.90']], { tlp: 'red' }),
      otxPulse('grn0000000000000000000001', '2026-11-25T09:00:00', [['IPv4', '192.0.2.91']], { tlp: 'green' }),
    ];
    const { events } = await drain(undefined, 10, { feed_since: '2026-11-01T00:00:00Z' });
    expect(valuesOf(events)).toEqual(['192.0.2.91']);
  });

  it('refuses to follow a next link to another host with the key', async () => {
    const inst = await otx({ feed_since: '2026-11-01T00:00:00Z' });
    fake.respondNext({ status: 200, body: { count: 9, next: 'https://elsewhere.example/api/v1/pulses/subscribed?page=2', previous: null, results: [] } });
    const err = await rejection(inst.poll!({ checkpoint: undefined, signal: signal(), maxEvents: 10 }));
    expect(err.code).toBe('BAD_RESPONSE');
    expect(err.message).toContain('outside base_url');
  });

  it('a foreign checkpoint is BAD_CONFIG', async () => {
    const inst = await otx();
    const err = await rejection(inst.poll!({ checkpoint: 'garbage', signal: signal(), maxEvents: 10 }));
    expect(err.code).toBe('BAD_CONFIG');
  });
});
