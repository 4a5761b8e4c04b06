import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirusTotalFake, VT_FAKE_API_KEY, vtUrlId } from '@reactive-fabric/test-kit/fakes';

// The fake must behave like VirusTotal v3 as documented (shared/docs/vendor-apis.md), or the plugin
// tests prove nothing. These talk raw HTTP to it.
let fake: VirusTotalFake;
beforeEach(async () => {
  fake = new VirusTotalFake();
  await fake.start();
});
afterEach(() => fake.stop());

const get = (path: string, key: string | null = VT_FAKE_API_KEY) => fetch(`${fake.url}${path}`, { headers: key ? { 'x-apikey': key } : {} });

describe('VirusTotalFake fidelity', () => {
  it('serves /api/v3 objects with id, type, links.self and attributes.last_analysis_stats', async () => {
    const res = await get('/files/44d88612fea8a8f36de82e1278abb02f');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string; type: string; links: { self: string }; attributes: Record<string, unknown> } };
    expect(body.data.id).toBe('275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f');
    expect(body.data.type).toBe('file');
    expect(body.data.links.self).toBe(`${fake.url}/files/${body.data.id}`);
    expect(Object.keys(body.data.attributes['last_analysis_stats'] as object).sort()).toEqual([
      'confirmed-timeout',
      'failure',
      'harmless',
      'malicious',
      'suspicious',
      'timeout',
      'type-unsupported',
      'undetected',
    ]);
    for (const k of ['last_analysis_results', 'last_analysis_date', 'reputation', 'total_votes', 'tags', 'md5', 'sha1', 'sha256', 'meaningful_name', 'size'])
      expect(body.data.attributes).toHaveProperty(k);
  });

  it('answers errors as {"error":{"code","message"}} with the documented codes', async () => {
    const missing = await get('/ip_addresses/8.8.8.8', null);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: { code: 'AuthenticationRequiredError', message: 'X-Apikey header is missing' } });
    const wrong = await get('/ip_addresses/8.8.8.8', 'nope');
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('WrongCredentialsError');
    const unknown = await get(`/files/${'a'.repeat(64)}`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('NotFoundError');
    const invalid = await get('/ip_addresses/999.1.1.1');
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('InvalidArgumentError');
  });

  it('identifies URLs by unpadded URL-safe base64 or SHA-256; a padded id is not found', async () => {
    const url = 'https://example.com/';
    expect((await get(`/urls/${vtUrlId(url)}`)).status).toBe(200);
    expect((await get(`/urls/${Buffer.from(url).toString('base64')}`)).status).toBe(404);
    const { createHash } = await import('node:crypto');
    expect((await get(`/urls/${createHash('sha256').update(url).digest('hex')}`)).status).toBe(200);
  });

  it('enforces 4/min by default with 429 QuotaExceededError and no rate-limit headers', async () => {
    for (let i = 0; i < 4; i++) expect((await get('/ip_addresses/8.8.8.8')).status).toBe(200);
    const res = await get('/ip_addresses/8.8.8.8');
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: { code: 'QuotaExceededError', message: 'Quota exceeded' } });
    expect([...res.headers.keys()].filter((h) => /rate|retry/i.test(h))).toEqual([]);
    fake.advance(60_000);
    expect((await get('/ip_addresses/8.8.8.8')).status).toBe(200);
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200, 200, 200, 429, 200]);
  });

  it('injects 503 TransientError and 504 DeadlineExceededError', async () => {
    fake.failNext(1, 503);
    fake.failNext(1, 504);
    const a = await get('/ip_addresses/8.8.8.8');
    const b = await get('/ip_addresses/8.8.8.8');
    expect([a.status, ((await a.json()) as { error: { code: string } }).error.code]).toEqual([503, 'TransientError']);
    expect([b.status, ((await b.json()) as { error: { code: string } }).error.code]).toEqual([504, 'DeadlineExceededError']);
  });
});
