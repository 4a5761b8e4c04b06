import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';

let fake: AbuseIpdbFake;
beforeEach(async () => {
  fake = new AbuseIpdbFake();
  await fake.start();
});
afterEach(async () => {
  vi.useRealTimers();
  await fake.stop();
});

const get = (path: string, key: string | null = ABUSEIPDB_FAKE_API_KEY) => fetch(`${fake.url}${path}`, { headers: { Accept: 'application/json', ...(key ? { Key: key } : {}) } });

describe('AbuseIpdbFake fidelity', () => {
  it('/check answers the documented data fields and X-RateLimit headers', async () => {
    const res = await get('/check?ipAddress=198.51.100.66&maxAgeInDays=90');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit')).toBe('1000');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('999');
    const { data } = (await res.json()) as { data: Record<string, unknown> };
    expect(Object.keys(data).sort()).toEqual(
      [
        'abuseConfidenceScore',
        'countryCode',
        'domain',
        'hostnames',
        'ipAddress',
        'ipVersion',
        'isPublic',
        'isTor',
        'isWhitelisted',
        'isp',
        'lastReportedAt',
        'numDistinctUsers',
        'totalReports',
        'usageType',
      ].sort(),
    );
    expect(data['abuseConfidenceScore']).toBe(100);
  });

  it('errors are {"errors":[{detail,status,source?}]}: 401 without a key, 422 with the parameter', async () => {
    const unauth = await get('/check?ipAddress=8.8.8.8', null);
    expect(unauth.status).toBe(401);
    expect(((await unauth.json()) as { errors: Array<{ detail: string; status: number }> }).errors[0]).toMatchObject({
      status: 401,
      detail: expect.stringContaining('Authentication failed'),
    });
    const bad = await get('/check?ipAddress=not-an-ip');
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { errors: Array<{ source: { parameter: string } }> }).errors[0]!.source).toEqual({ parameter: 'ipAddress' });
    expect((await get('/check?ipAddress=8.8.8.8&maxAgeInDays=400')).status).toBe(422);
  });

  it('per-endpoint daily limits answer 429 with Retry-After and X-RateLimit-Reset (epoch)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T23:00:00Z'));
    fake.setQuota('blacklist', { perDay: 1 });
    expect((await get('/blacklist')).status).toBe(200);
    const res = await get('/blacklist');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3600');
    expect(res.headers.get('x-ratelimit-reset')).toBe(String(Date.parse('2026-11-28T00:00:00Z') / 1000));
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(((await res.json()) as { errors: Array<{ detail: string }> }).errors[0]!.detail).toBe(
      'Daily rate limit of 1 requests exceeded for this endpoint. See headers for additional details.',
    );
    // /check has its own budget.
    expect((await get('/check?ipAddress=8.8.8.8')).status).toBe(200);
  });

  it('/check-block lists reported addresses of a /24 and refuses wider networks on the free tier', async () => {
    const res = await get('/check-block?network=198.51.100.0/24');
    const { data } = (await res.json()) as { data: { networkAddress: string; netmask: string; reportedAddress: Array<{ ipAddress: string }> } };
    expect(data.networkAddress).toBe('198.51.100.0');
    expect(data.netmask).toBe('255.255.255.0');
    expect(data.reportedAddress.map((r) => r.ipAddress).sort()).toEqual(['198.51.100.23', '198.51.100.66', '198.51.100.67', '198.51.100.7']);
    expect((await get('/check-block?network=198.51.0.0/16')).status).toBe(402);
  });

  it('/blacklist has meta.generatedAt and honours confidenceMinimum and limit', async () => {
    const res = await get('/blacklist?confidenceMinimum=90&limit=2');
    const body = (await res.json()) as { meta: { generatedAt: string }; data: Array<{ abuseConfidenceScore: number }> };
    expect(typeof body.meta.generatedAt).toBe('string');
    expect(body.data).toHaveLength(2);
    expect(body.data.every((d) => d.abuseConfidenceScore >= 90)).toBe(true);
  });
});
