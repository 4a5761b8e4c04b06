import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import type { Checkpoint, EnricherInstance, SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { configErrors, instantiate, rejection, signal } from '../../../test/support/threat-intel-plugins.js';

let fake: AbuseIpdbFake;

beforeEach(async () => {
  fake = new AbuseIpdbFake();
  await fake.start();
});
afterEach(async () => {
  vi.useRealTimers();
  await fake.stop();
});

const abuse = (extra: Record<string, unknown> = {}) => instantiate(plugin, { api_key: ABUSEIPDB_FAKE_API_KEY, base_url: fake.url, ...extra });
const ip = (value: string) => ({ type: (value.includes(':') ? 'ipv6' : 'ipv4') as 'ipv4' | 'ipv6', value });

describe('AbuseIPDB plugin: definition and config', () => {
  it('looks up IPv4 and IPv6 only, with the free-tier defaults', async () => {
    expect(plugin.kind).toBe('enricher');
    expect(plugin.apiVersion).toBe('^1.0.0');
    const inst = await abuse();
    expect(inst.supports).toEqual(['ipv4', 'ipv6']);
    expect(inst.limits).toEqual({ requestsPerMinute: 60, requestsPerDay: 1000, maxBatchSize: 1 });
    expect((await abuse({ use_check_block: true })).limits?.maxBatchSize).toBeGreaterThan(1);
  });

  it('rejects check_domains: AbuseIPDB has no domain lookups', () => {
    const errs = configErrors(plugin, { api_key: 'k', check_domains: true });
    expect(errs).toEqual([expect.objectContaining({ path: '/check_domains', message: expect.stringContaining('unknown field') })]);
    expect(configErrors(plugin, { api_key: 'k', max_age_days: 400 }).map((e) => e.path)).toEqual(['/max_age_days']);
  });
});

describe('AbuseIPDB plugin: lookups', () => {
  it('maps abuseConfidenceScore to malicious / suspicious / clean with the vendor facts as evidence', async () => {
    const inst = await abuse();
    const [bad, v6, mid, low] = await inst.lookup([ip('198.51.100.66'), ip('2001:db8::bad'), ip('203.0.113.7'), ip('192.0.2.10')], { signal: signal() });
    expect(bad).toMatchObject({
      status: 'malicious',
      score: 1,
      evidence: { abuseConfidenceScore: 100, totalReports: 254, numDistinctUsers: 87, isWhitelisted: false, countryCode: 'NL' },
    });
    expect(bad!.reference).toBe('https://www.abuseipdb.com/check/198.51.100.66');
    expect(v6).toMatchObject({ status: 'malicious', score: 0.91, evidence: { isTor: true } });
    expect(mid).toMatchObject({ status: 'suspicious', score: 0.4 });
    expect(low).toMatchObject({ status: 'clean', score: 0.03, evidence: { totalReports: 1 } });
    expect(fake.requests.map((r) => r.query)).toEqual([
      { ipAddress: '198.51.100.66', maxAgeInDays: '30' },
      { ipAddress: '2001:db8::bad', maxAgeInDays: '30' },
      { ipAddress: '203.0.113.7', maxAgeInDays: '30' },
      { ipAddress: '192.0.2.10', maxAgeInDays: '30' },
    ]);
  });

  it('sends the documented headers: Key and Accept: application/json', async () => {
    const inst = await abuse();
    await inst.lookup([ip('198.51.100.66')], { signal: signal() });
    expect(fake.requests[0]!.headers).toMatchObject({ key: '[present]', accept: 'application/json' });
  });

  it('a whitelisted IP is clean even with reports, and says so', async () => {
    const inst = await abuse();
    const [v] = await inst.lookup([ip('8.8.8.8')], { signal: signal() });
    expect(v).toMatchObject({ status: 'clean', score: 0, evidence: { isWhitelisted: true, totalReports: 38 } });
  });

  it('an IP nobody reported is unknown, and reports older than max_age_days do not count', async () => {
    const inst = await abuse();
    const [never] = await inst.lookup([ip('192.0.2.99')], { signal: signal() });
    expect(never!.status).toBe('unknown');
    expect(never!.score).toBeUndefined();
    // 192.0.2.10's only report is 20 days old.
    const recent = await abuse({ max_age_days: 7 });
    const [old] = await recent.lookup([ip('192.0.2.10')], { signal: signal() });
    expect(old!.status).toBe('unknown');
    expect(fake.requests.at(-1)!.query['maxAgeInDays']).toBe('7');
  });

  it("an invalid address is unknown with AbuseIPDB's reason (422), not a failed batch", async () => {
    const inst = await abuse();
    const [bad, good] = await inst.lookup([ip('300.1.1.1'), ip('198.51.100.66')], { signal: signal() });
    expect(bad!.status).toBe('unknown');
    expect(String(bad!.evidence?.['invalid'])).toContain('valid IPv4');
    expect(good!.status).toBe('malicious');
  });

  it('refuses indicator types it does not support', async () => {
    const inst = await abuse();
    const err = await rejection(inst.lookup([{ type: 'domain', value: 'example.com' }], { signal: signal() }));
    expect(err.code).toBe('CONTRACT_VIOLATION');
    expect(fake.requests).toHaveLength(0);
  });

  it('check-block answers several addresses of one /24 with one request', async () => {
    const inst = await abuse({ use_check_block: true, check_block_min_ips: 2 });
    const verdicts = await inst.lookup([ip('198.51.100.66'), ip('198.51.100.67'), ip('198.51.100.5'), ip('203.0.113.7')], { signal: signal() });
    expect(verdicts.map((v) => v.status)).toEqual(['malicious', 'malicious', 'unknown', 'suspicious']);
    expect(verdicts[0]!.evidence).toMatchObject({ via: 'check-block', network: '198.51.100.0/24', totalReports: 254 });
    expect(fake.requests.map((r) => `${r.path}?${new URLSearchParams(r.query)}`)).toEqual([
      '/api/v2/check-block?network=198.51.100.0%2F24&maxAgeInDays=30',
      '/api/v2/check?ipAddress=203.0.113.7&maxAgeInDays=30',
    ]);
  });

  it('when the check-block quota is spent it falls back to /check and stops asking check-block', async () => {
    fake.setQuota('check-block', { perDay: 0 });
    const inst = await abuse({ use_check_block: true, check_block_min_ips: 2 });
    const first = await inst.lookup([ip('198.51.100.66'), ip('198.51.100.67')], { signal: signal() });
    expect(first.map((v) => v.status)).toEqual(['malicious', 'malicious']);
    await inst.lookup([ip('198.51.100.66'), ip('198.51.100.67')], { signal: signal() });
    expect(fake.count('check-block')).toBe(1);
    expect(fake.count('/check')).toBe(5);
  });
});

describe('AbuseIPDB plugin: failures', () => {
  it("a refused key is AUTH_FAILED with AbuseIPDB's message; fixing the key recovers", async () => {
    fake.apiKeys = new Set(['other']);
    const inst = await abuse();
    const err = await rejection(inst.lookup([ip('198.51.100.66')], { signal: signal() }));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toContain('Your API key is either missing, incorrect, or revoked');
    expect(err.message).not.toContain(ABUSEIPDB_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'AUTH_FAILED' });
    fake.apiKeys.add(ABUSEIPDB_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toEqual({ status: 'healthy' });
    expect((await inst.lookup([ip('198.51.100.66')], { signal: signal() }))[0]!.status).toBe('malicious');
  });

  it('the daily limit is QUOTA_EXHAUSTED with retryAfterMs from Retry-After', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T20:00:00Z'));
    fake.setQuota('check', { perDay: 2 });
    const inst = await abuse();
    await inst.lookup([ip('198.51.100.66')], { signal: signal() });
    await inst.lookup([ip('198.51.100.66')], { signal: signal() });
    const err = await rejection(inst.lookup([ip('198.51.100.66')], { signal: signal() }));
    expect(err.code).toBe('QUOTA_EXHAUSTED');
    expect(err.retryAfterMs).toBe(4 * 3_600_000);
    expect(err.message).toContain('Daily rate limit of 2 requests exceeded');
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'QUOTA_EXHAUSTED' });
  });

  it('a short-window 429 is RATE_LIMITED; X-RateLimit-Reset is used when Retry-After is absent', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T20:00:15Z'));
    fake.setQuota('check', { perMinute: 1 });
    const inst = await abuse();
    await inst.lookup([ip('198.51.100.66')], { signal: signal() });
    const err = await rejection(inst.lookup([ip('198.51.100.66')], { signal: signal() }));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(45_000);

    const reset = Math.floor(Date.now() / 1000) + 30;
    fake.respondNext({ status: 429, body: { errors: [{ detail: 'Too Many Requests', status: 429 }] }, headers: { 'x-ratelimit-reset': String(reset) } });
    const err2 = await rejection(inst.lookup([ip('198.51.100.66')], { signal: signal() }));
    expect(err2.code).toBe('RATE_LIMITED');
    expect(err2.retryAfterMs).toBe(30_000);
  });

  it('5xx is UNAVAILABLE; a slow answer is TIMEOUT', async () => {
    const inst = await abuse({ timeout_seconds: 0.2 });
    fake.failNext(1, 502);
    expect((await rejection(inst.lookup([ip('198.51.100.66')], { signal: signal() }))).code).toBe('UNAVAILABLE');
    fake.delayMs = 800;
    expect((await rejection(inst.lookup([ip('198.51.100.66')], { signal: signal() }))).code).toBe('TIMEOUT');
  });
});

describe('AbuseIPDB plugin: cache key and description', () => {
  it('cacheKey follows the key, endpoint and max_age_days, and hides the key', async () => {
    const a = (await abuse()).cacheKey!();
    expect((await abuse()).cacheKey!()).toBe(a);
    expect((await instantiate(plugin, { api_key: 'other-key', base_url: fake.url })).cacheKey!()).not.toBe(a);
    expect((await abuse({ max_age_days: 90 })).cacheKey!()).not.toBe(a);
    expect((await abuse({ base_url: 'https://abuse-proxy.example/api/v2' })).cacheKey!()).not.toBe(a);
    expect(a).not.toContain(ABUSEIPDB_FAKE_API_KEY);
  });

  it('describe() has no secret', async () => {
    const d = (await abuse()).describe!();
    expect(d).toMatchObject({ backend: 'abuseipdb', target: fake.url, requests_per_day: 1000 });
    expect(JSON.stringify(d)).not.toContain(ABUSEIPDB_FAKE_API_KEY);
  });
});

describe('AbuseIPDB plugin: blacklist feed', () => {
  const poll = (inst: EnricherInstance, checkpoint: Checkpoint | undefined, maxEvents = 100) => inst.poll!({ checkpoint, signal: signal(), maxEvents });
  const ipsOf = (events: SourceEvent[]) => events.map((e) => (e['threat'] as { indicator: { ip: string } }).indicator.ip);

  it('emits ECS threat.indicator events, continues across a restart without repeats, then only increments', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T08:00:00Z'));
    await fake.stop();
    fake = new AbuseIpdbFake();
    await fake.start();
    const cfg = { blacklist_confidence_minimum: 25, blacklist_interval_minutes: 60 };
    const first = await abuse(cfg);
    const r1 = await poll(first, undefined, 3);
    expect(r1.events).toHaveLength(3);
    expect(r1.hasMore).toBe(true);
    const e = r1.events[0]!;
    expect(e.event).toMatchObject({ kind: 'enrichment', category: ['threat'], type: ['indicator'], dataset: 'ti_abuseipdb.blacklist' });
    expect(e['threat']).toMatchObject({ feed: { name: 'AbuseIPDB blacklist' }, indicator: { type: expect.stringMatching(/^ipv[46]-addr$/), provider: 'AbuseIPDB' } });

    // Restart: a new instance from the saved checkpoint.
    const second = await abuse(cfg);
    const cp1 = JSON.parse(JSON.stringify(r1.checkpoint)) as Checkpoint;
    const r2 = await poll(second, cp1, 10);
    expect(r2.hasMore).toBe(false);
    const all = [...ipsOf(r1.events), ...ipsOf(r2.events)];
    expect(all.sort()).toEqual(['198.51.100.23', '198.51.100.66', '198.51.100.67', '198.51.100.7', '2001:db8::bad', '203.0.113.50', '203.0.113.7']);
    expect(fake.count('/blacklist')).toBe(2);

    // Within the interval nothing is downloaded (free tier: 5 a day).
    const r3 = await poll(second, r2.checkpoint);
    expect(r3.events).toHaveLength(0);
    expect(fake.count('/blacklist')).toBe(2);

    // A new report after the interval: exactly that address comes out.
    vi.setSystemTime(new Date('2026-11-27T09:30:00Z'));
    fake.ips['192.0.2.10'] = { ...fake.ips['192.0.2.10']!, abuseConfidenceScore: 95, lastReportedAt: '2026-11-27T09:20:00+00:00' };
    const r4 = await poll(await abuse(cfg), r3.checkpoint);
    expect(ipsOf(r4.events)).toEqual(['192.0.2.10']);
    expect(r4.events[0]!['@timestamp']).toBe('2026-11-27T09:20:00.000Z');
  });

  it('the blacklist quota (5 a day) ends in QUOTA_EXHAUSTED', async () => {
    fake.setQuota('blacklist', { perDay: 0 });
    const inst = await abuse();
    const err = await rejection(poll(inst, undefined));
    expect(err.code).toBe('QUOTA_EXHAUSTED');
    expect(err.retryAfterMs).toBeGreaterThan(0);
  });

  it('a checkpoint of the wrong shape is a clear BAD_CONFIG naming the reset route', async () => {
    const inst = await abuse();
    const err = await rejection(poll(inst, { page: 3 } as Checkpoint));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toContain('/collectors/ti-test/checkpoint');
  });
});
