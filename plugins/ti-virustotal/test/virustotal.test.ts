import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VirusTotalFake, VT_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import plugin, { urlId } from '../src/index.js';
import { configErrors, instantiate, rejection, signal } from '../../../test/support/threat-intel-plugins.js';

let fake: VirusTotalFake;
const EICAR = {
  md5: '44d88612fea8a8f36de82e1278abb02f',
  sha1: '3395856ce81f2b7382dee72602f798b642f14140',
  sha256: '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
};

beforeEach(async () => {
  fake = new VirusTotalFake({ quotas: { '*': {} } });
  await fake.start();
});
afterEach(async () => {
  vi.useRealTimers();
  await fake.stop();
});

const vt = (extra: Record<string, unknown> = {}) => instantiate(plugin, { api_key: VT_FAKE_API_KEY, base_url: fake.url, ...extra });

describe('VirusTotal plugin: definition and config', () => {
  it('is an enricher for plugin API ^1.0.0 with the free-tier defaults', async () => {
    expect(plugin.kind).toBe('enricher');
    expect(plugin.apiVersion).toBe('^1.0.0');
    const inst = await vt();
    expect(inst.limits).toEqual({ requestsPerMinute: 4, requestsPerDay: 500, maxBatchSize: 1 });
    expect(inst.supports).toEqual(['ipv4', 'ipv6', 'domain', 'md5', 'sha1', 'sha256', 'url']);
  });

  it('names the missing api_key and unknown fields', () => {
    const errs = configErrors(plugin, { check_ip: true });
    expect(errs.map((e) => e.path)).toEqual(expect.arrayContaining(['/api_key', '/check_ip']));
  });

  it('check_* switches narrow what it looks up', async () => {
    const inst = await vt({ check_hashes: false, check_urls: false });
    expect(inst.supports).toEqual(['ipv4', 'ipv6', 'domain']);
  });
});

describe('VirusTotal plugin: lookups', () => {
  it('looks up IPv4 and IPv6 addresses', async () => {
    const inst = await vt();
    const [bad, v6, good] = await inst.lookup(
      [
        { type: 'ipv4', value: '198.51.100.66' },
        { type: 'ipv6', value: '2001:db8::bad' },
        { type: 'ipv4', value: '8.8.8.8' },
      ],
      { signal: signal() },
    );
    expect(bad!.status).toBe('malicious');
    expect(bad!.score).toBeGreaterThan(0.9);
    expect(bad!.evidence).toMatchObject({ last_analysis_stats: { malicious: 12, suspicious: 2 }, as_owner: 'Example Bad Hosting', country: 'NL' });
    expect(bad!.reference).toBe('https://www.virustotal.com/gui/ip-address/198.51.100.66');
    expect(v6!.status).toBe('malicious');
    expect(good!.status).toBe('clean');
    expect(good!.score).toBe(0);
    expect(fake.requests.map((r) => r.path)).toEqual(['/api/v3/ip_addresses/198.51.100.66', '/api/v3/ip_addresses/2001%3Adb8%3A%3Abad', '/api/v3/ip_addresses/8.8.8.8']);
  });

  it('one flagging engine plus one suspicious is "suspicious", not malicious', async () => {
    const inst = await vt();
    const [v] = await inst.lookup([{ type: 'ipv4', value: '203.0.113.7' }], { signal: signal() });
    expect(v!.status).toBe('suspicious');
    expect(v!.score).toBeGreaterThanOrEqual(0.3);
    expect(v!.score).toBeLessThan(0.7);
  });

  it('sends the key as x-apikey', async () => {
    await (await vt()).lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() });
    expect(fake.requests[0]!.headers).toMatchObject({ 'x-apikey': '[present]' });
  });

  it('looks up domains', async () => {
    const inst = await vt();
    const [bad, good] = await inst.lookup(
      [
        { type: 'domain', value: 'malware.example.test' },
        { type: 'domain', value: 'example.com' },
      ],
      { signal: signal() },
    );
    expect(bad!.status).toBe('malicious');
    expect(bad!.evidence).toMatchObject({ tags: ['malware'] });
    expect(good!.status).toBe('clean');
  });

  it('looks up MD5, SHA-1 and SHA-256 and reports the SHA-256 id for all three', async () => {
    const inst = await vt();
    const verdicts = await inst.lookup(
      [
        { type: 'md5', value: EICAR.md5 },
        { type: 'sha1', value: EICAR.sha1 },
        { type: 'sha256', value: EICAR.sha256 },
        { type: 'sha256', value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
      ],
      { signal: signal() },
    );
    for (const v of verdicts.slice(0, 3)) {
      expect(v.status).toBe('malicious');
      expect(v.evidence).toMatchObject({ id: EICAR.sha256, meaningful_name: 'eicar.com', last_analysis_stats: { malicious: 62 } });
      expect(v.reference).toBe(`https://www.virustotal.com/gui/file/${EICAR.sha256}`);
    }
    expect(verdicts[3]!.status).toBe('clean');
  });

  it('looks up URLs by unpadded URL-safe base64 id', async () => {
    const inst = await vt();
    // 20 characters: standard base64 would end in "=".
    const url = 'https://example.com/';
    expect(Buffer.from(url).toString('base64')).toMatch(/=$/);
    const [good, bad] = await inst.lookup(
      [
        { type: 'url', value: url },
        { type: 'url', value: 'http://malware.example.test/payload.exe' },
      ],
      { signal: signal() },
    );
    expect(good!.status).toBe('clean');
    expect(bad!.status).toBe('malicious');
    const paths = fake.requests.map((r) => r.path);
    expect(paths[0]).toBe(`/api/v3/urls/${urlId(url)}`);
    expect(paths.every((p) => !p.includes('=') && !p.includes('+'))).toBe(true);
  });

  it('reports never-seen indicators as unknown: no error, no score, never clean', async () => {
    const inst = await vt();
    const verdicts = await inst.lookup(
      [
        { type: 'sha256', value: 'a'.repeat(64) },
        { type: 'md5', value: 'b'.repeat(32) },
        { type: 'domain', value: 'never-seen.example.org' },
        { type: 'url', value: 'http://never-seen.example.org/x' },
        { type: 'ipv4', value: '192.0.2.200' },
      ],
      { signal: signal() },
    );
    expect(verdicts.map((v) => v.status)).toEqual(['unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    for (const v of verdicts) expect(v.score).toBeUndefined();
    expect(fake.requests.map((r) => r.status)).toEqual([404, 404, 404, 404, 200]);
  });

  it('a malformed indicator is unknown with the reason, not a failed batch', async () => {
    const inst = await vt();
    const [v, ok] = await inst.lookup(
      [
        { type: 'ipv4', value: '999.1.1.1' },
        { type: 'ipv4', value: '198.51.100.66' },
      ],
      { signal: signal() },
    );
    expect(v!.status).toBe('unknown');
    expect(String(v!.evidence?.['invalid'])).toContain('not a valid IP');
    expect(ok!.status).toBe('malicious');
  });
});

describe('VirusTotal plugin: failures', () => {
  it('a refused key is AUTH_FAILED and degraded; fixing the key recovers', async () => {
    fake.apiKeys = new Set(['some-other-key']);
    const inst = await vt();
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('WrongCredentialsError');
    expect(JSON.stringify({ m: err.message, d: err.detail })).not.toContain(VT_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'AUTH_FAILED' });
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'AUTH_FAILED' });

    fake.apiKeys.add(VT_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toEqual({ status: 'healthy' });
    const [v] = await inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() });
    expect(v!.status).toBe('malicious');
  });

  it('the per-minute quota is RATE_LIMITED with a 60 s retry, and served again in the next window', async () => {
    fake.setQuota('*', { perMinute: 4, perDay: 500 });
    const inst = await vt();
    for (let i = 0; i < 4; i++) await inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() });
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(60_000);
    expect(fake.requests.at(-1)!.status).toBe(429);
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'RATE_LIMITED' });
    fake.advance(60_000);
    const [v] = await inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() });
    expect(v!.status).toBe('clean');
  });

  it('the daily quota is QUOTA_EXHAUSTED until 00:00 UTC', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T18:00:00Z'));
    fake.setQuota('*', { perMinute: 100, perDay: 3 });
    const inst = await vt({ requests_per_day: 3 });
    for (let i = 0; i < 3; i++) await inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() });
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(err.code).toBe('QUOTA_EXHAUSTED');
    expect(err.retryAfterMs).toBe(6 * 3_600_000);
  });

  it('a 429 that outlasts a minute window is taken as the daily quota even after a restart', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T12:00:00Z'));
    fake.setQuota('*', { perDay: 0 });
    const inst = await vt(); // a fresh instance: it has not counted the day's requests itself
    const first = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(first.code).toBe('RATE_LIMITED');
    vi.setSystemTime(new Date('2026-11-27T12:01:00Z'));
    const second = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(second.code).toBe('QUOTA_EXHAUSTED');
    expect(second.retryAfterMs).toBe(11 * 3_600_000 + 59 * 60_000);
  });

  it('5xx is UNAVAILABLE, a slow answer is TIMEOUT', async () => {
    const inst = await vt({ timeout_seconds: 0.2 });
    fake.failNext(1, 503);
    const e1 = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(e1.code).toBe('UNAVAILABLE');
    expect(e1.message).toContain('TransientError');
    fake.delayMs = 1000;
    const e2 = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(e2.code).toBe('TIMEOUT');
  });

  it('an answer that is not the documented shape is BAD_RESPONSE', async () => {
    const inst = await vt();
    fake.respondNext({ status: 200, body: '<html>captive portal</html>' });
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(err.code).toBe('BAD_RESPONSE');
    expect(err.message).toContain('captive portal');
  });
});

describe('VirusTotal plugin: cache key and description', () => {
  it('cacheKey changes with the key, the endpoint and the scoring options, and never holds the key', async () => {
    const a = (await vt()).cacheKey!();
    const b = (await instantiate(plugin, { api_key: 'another-key', base_url: fake.url })).cacheKey!();
    const c = (await instantiate(plugin, { api_key: VT_FAKE_API_KEY, base_url: `${fake.origin}/api/v3/` })).cacheKey!();
    const d = (await vt({ min_reputation_score: 0.5 })).cacheKey!();
    const e = (await instantiate(plugin, { api_key: VT_FAKE_API_KEY, base_url: 'https://proxy.example/api/v3' })).cacheKey!();
    expect(a).not.toBe(b);
    expect(a).toBe(c); // a trailing slash is the same endpoint
    expect(a).not.toBe(d);
    expect(a).not.toBe(e);
    expect(a).toBe((await vt()).cacheKey!());
    for (const k of [a, b, d, e]) {
      expect(k).not.toContain(VT_FAKE_API_KEY);
      expect(k).not.toContain('another-key');
    }
  });

  it('describe() shows the target and budgets without the key', async () => {
    const inst = await vt();
    const d = inst.describe!();
    expect(d).toMatchObject({ backend: 'virustotal', target: fake.url, requests_per_minute: 4, requests_per_day: 500 });
    expect(JSON.stringify(d)).not.toContain(VT_FAKE_API_KEY);
  });
});

describe('VirusTotal plugin: secrets', () => {
  it('a backend that echoes the key never gets it into the error or the health report', async () => {
    const inst = await vt();
    fake.respondNext({ status: 401, body: { error: { code: 'WrongCredentialsError', message: `Wrong API key ${VT_FAKE_API_KEY}` } } });
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() }));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toContain('Wrong API key [redacted]');
    expect(JSON.stringify(await inst.healthCheck!(signal()))).not.toContain(VT_FAKE_API_KEY);
  });

  it('refuses a base_url with user:password, naming the fix', async () => {
    const err = await rejection(instantiate(plugin, { api_key: VT_FAKE_API_KEY, base_url: 'https://me:hunter2@vt-proxy.example/api/v3' }));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toContain('must not contain credentials');
    expect(err.message).not.toContain('hunter2');
  });
});
