import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtxFake, OTX_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';

let fake: OtxFake;
beforeEach(async () => {
  fake = new OtxFake();
  await fake.start();
});
afterEach(() => fake.stop());

const get = async (path: string, key: string | null = OTX_FAKE_API_KEY) => {
  const res = await fetch(path.startsWith('http') ? path : `${fake.url}${path}`, { headers: key ? { 'X-OTX-API-KEY': key } : {} });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
};

describe('OtxFake fidelity', () => {
  it('general section: pulse_info{count,pulses,references,related}, validation, false_positive, sections', async () => {
    const r = await get('/indicators/IPv4/198.51.100.66/general');
    expect(r.status).toBe(200);
    for (const k of ['indicator', 'type', 'pulse_info', 'validation', 'false_positive', 'reputation', 'asn', 'country_code', 'sections']) expect(r.body).toHaveProperty(k);
    expect((r.body['pulse_info'] as { count: number }).count).toBe(3);
    const unknown = await get('/indicators/domain/never-seen.example.org/general');
    expect(unknown.status).toBe(200);
    expect((unknown.body['pulse_info'] as { count: number }).count).toBe(0);
    expect((await get('/indicators/url/x/passive_dns')).status).toBe(404); // not a URL section
  });

  it('403 for a bad key; throttling is 429 with Retry-After', async () => {
    expect(await get('/users/me', 'bad')).toMatchObject({ status: 403, body: { detail: 'Invalid API key' } });
    fake.setQuota('*', { perMinute: 1 });
    await get('/users/me');
    const r = await get('/users/me');
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.body['detail']).toMatch(/^Request was throttled\. Expected available in \d+ seconds\.$/);
  });

  it('/pulses/subscribed pages with count, absolute next/previous links and inclusive modified_since', async () => {
    const first = await get('/pulses/subscribed?limit=2&modified_since=2026-11-21T09:30:00');
    expect(first.body['count']).toBe(5); // pulses 2..6: modified_since includes 2026-11-21T09:30
    expect(first.body['previous']).toBeNull();
    const next = first.body['next'] as string;
    expect(next.startsWith(`${fake.url}/pulses/subscribed?`)).toBe(true);
    const second = await get(next);
    expect(second.body['previous']).not.toBeNull();
    const third = await get(second.body['next'] as string);
    expect(third.body['next']).toBeNull();
    const ids = [first, second, third].flatMap((p) => (p.body['results'] as Array<{ id: string }>).map((x) => x.id));
    expect(new Set(ids).size).toBe(5);
    const pulse = (first.body['results'] as Array<Record<string, unknown>>)[0]!;
    for (const k of ['id', 'name', 'author_name', 'created', 'modified', 'tlp', 'tags', 'references', 'malware_families', 'attack_ids', 'indicators'])
      expect(pulse).toHaveProperty(k);
  });
});
