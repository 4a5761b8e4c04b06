import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MispFake, MISP_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';

let fake: MispFake;
beforeEach(async () => {
  fake = new MispFake();
  await fake.start();
});
afterEach(() => fake.stop());

const search = async (body: unknown, key = MISP_FAKE_API_KEY, path = '/attributes/restSearch') => {
  const res = await fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { Authorization: key, Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
};
const attrs = (r: { body: Record<string, unknown> }) => (r.body['response'] as { Attribute: Array<Record<string, unknown>> }).Attribute;

describe('MispFake fidelity', () => {
  it('restSearch answers response.Attribute[] with the documented fields; timestamp is a string', async () => {
    const r = await search({ returnFormat: 'json', value: '198.51.100.66' });
    expect(r.status).toBe(200);
    const [a] = attrs(r);
    for (const k of ['id', 'event_id', 'category', 'type', 'value', 'to_ids', 'uuid', 'timestamp', 'Event', 'Tag']) expect(a).toHaveProperty(k);
    expect(typeof a!['timestamp']).toBe('string');
  });

  it('value lists, % wildcards, composite values, type and to_ids filters', async () => {
    expect(attrs(await search({ value: ['198.51.100.66', 'malware.example.test'] }))).toHaveLength(2);
    expect(attrs(await search({ value: '%.example.test' })).map((a) => a['value'])).toEqual(['malware.example.test', 'login.phish.example.test']);
    expect(attrs(await search({ value: '198.51.100.67' })).map((a) => a['type'])).toEqual(['ip-dst|port']);
    expect(attrs(await search({ type: 'md5' }))).toHaveLength(1);
    expect(attrs(await search({ value: '203.0.113.7', to_ids: true }))).toHaveLength(0);
  });

  it('timestamp is inclusive; limit and page slice in timestamp order', async () => {
    const all = attrs(await search({ timestamp: 0 }));
    const ts = all.map((a) => Number(a['timestamp']));
    expect(ts).toEqual([...ts].sort((x, y) => x - y));
    const at = ts[3]!;
    expect(attrs(await search({ timestamp: at })).every((a) => Number(a['timestamp']) >= at)).toBe(true);
    const p1 = attrs(await search({ timestamp: 0, limit: 4, page: 1 }));
    const p2 = attrs(await search({ timestamp: 0, limit: 4, page: 2 }));
    expect([...p1, ...p2].map((a) => a['id'])).toEqual(all.slice(0, 8).map((a) => a['id']));
  });

  it('403 {name,message,url} for a bad key; 404 for unknown paths; 429 with X-Rate-Limit-* when limited', async () => {
    const denied = await search({}, 'x'.repeat(40));
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      name: expect.stringContaining('Authentication failed'),
      message: expect.stringContaining('Authentication failed'),
      url: '/attributes/restSearch',
    });
    expect((await search({}, MISP_FAKE_API_KEY, '/nope')).status).toBe(404);
    fake.setQuota('restSearch', { perMinute: 1 });
    const ok = await search({});
    expect(ok.headers.get('x-rate-limit-limit')).toBe('1');
    const limited = await search({});
    expect(limited.status).toBe(429);
    expect(limited.body['message']).toBe('Rate limit exceeded.');
    expect(Number(limited.headers.get('x-rate-limit-reset'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('x-rate-limit-reset'))).toBeLessThanOrEqual(60);
  });

  it('events/restSearch answers response[].Event with Attribute[] and Tag[]', async () => {
    const r = await search({ value: '198.51.100.66' }, MISP_FAKE_API_KEY, '/events/restSearch');
    const events = r.body['response'] as unknown as Array<{ Event: { id: string; Attribute: unknown[]; Tag: unknown[] } }>;
    expect(events.map((e) => e.Event.id)).toEqual(['101']);
    expect(events[0]!.Event.Attribute.length).toBeGreaterThan(0);
  });
});
