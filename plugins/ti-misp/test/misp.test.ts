import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MispFake, MISP_FAKE_API_KEY, mispAttribute } from '@reactive-fabric/test-kit/fakes';
import type { Checkpoint, Indicator, PollResult, SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { configErrors, instantiate, rejection, signal } from '../../../test/support/threat-intel-plugins.js';

let fake: MispFake;
beforeEach(async () => {
  fake = new MispFake();
  await fake.start();
});
afterEach(async () => {
  vi.useRealTimers();
  await fake.stop();
});

const misp = (extra: Record<string, unknown> = {}) => instantiate(plugin, { api_key: MISP_FAKE_API_KEY, base_url: fake.url, ...extra });
const EICAR = {
  md5: '44d88612fea8a8f36de82e1278abb02f',
  sha1: '3395856ce81f2b7382dee72602f798b642f14140',
  sha256: '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
};

describe('MISP plugin: definition and config', () => {
  it('is a batching enricher for every indicator type', async () => {
    expect(plugin.kind).toBe('enricher');
    expect(plugin.apiVersion).toBe('^1.0.0');
    const inst = await misp();
    expect(inst.supports).toEqual(['ipv4', 'ipv6', 'domain', 'md5', 'sha1', 'sha256', 'url']);
    expect(inst.limits).toEqual({ requestsPerMinute: 60, requestsPerDay: 100_000, maxBatchSize: 50 });
  });

  it('requires base_url: MISP is self-hosted', () => {
    expect(configErrors(plugin, { api_key: 'k' }).map((e) => e.path)).toEqual(['/base_url']);
    expect(configErrors(plugin, { api_key: 'k', base_url: 'misp.internal' }).map((e) => e.path)).toEqual(['/base_url']);
  });
});

describe('MISP plugin: lookups', () => {
  it('answers a whole batch with one restSearch value list', async () => {
    const inst = await misp();
    const batch: Indicator[] = [
      { type: 'ipv4', value: '198.51.100.66' },
      { type: 'ipv4', value: '198.51.100.67' },
      { type: 'ipv4', value: '203.0.113.7' },
      { type: 'ipv6', value: '2001:db8::bad' },
      { type: 'domain', value: 'malware.example.test' },
      { type: 'md5', value: EICAR.md5 },
      { type: 'sha1', value: EICAR.sha1 },
      { type: 'sha256', value: EICAR.sha256 },
      { type: 'url', value: 'http://malware.example.test/payload.exe' },
      { type: 'ipv4', value: '192.0.2.200' },
    ];
    const verdicts = await inst.lookup(batch, { signal: signal() });
    expect(verdicts.map((v) => [v.indicator.value, v.status])).toEqual([
      ['198.51.100.66', 'malicious'],
      ['198.51.100.67', 'malicious'], // an ip-dst|port attribute
      ['203.0.113.7', 'suspicious'], // known, but not flagged for detection
      ['2001:db8::bad', 'malicious'],
      ['malware.example.test', 'malicious'],
      [EICAR.md5, 'malicious'],
      [EICAR.sha1, 'malicious'],
      [EICAR.sha256, 'malicious'],
      ['http://malware.example.test/payload.exe', 'malicious'],
      ['192.0.2.200', 'unknown'],
    ]);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      path: '/attributes/restSearch',
      body: { returnFormat: 'json', value: batch.map((i) => i.value), enforceWarninglist: true },
    });
    expect(verdicts[0]!.evidence).toMatchObject({
      event_ids: ['101'],
      events: ['Bad Hosting C2 infrastructure'],
      tags: expect.arrayContaining(['kill-chain:Command and Control', 'tlp:green']),
      to_ids: 1,
    });
    expect(verdicts[0]!.reference).toBe(`${fake.url}/events/view/101`);
    expect(verdicts[9]!.score).toBeUndefined();
  });

  it('sends the documented headers: Authorization, Accept and Content-Type JSON', async () => {
    await (await misp()).lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() });
    expect(fake.requests[0]!.headers).toMatchObject({ authorization: '[present]', accept: 'application/json', 'content-type': 'application/json' });
  });

  it('values on MISP warninglists are dropped when enforce_warninglist is on', async () => {
    const [on] = await (await misp()).lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() });
    expect(on!.status).toBe('unknown');
    const [off] = await (await misp({ enforce_warninglist: false })).lookup([{ type: 'ipv4', value: '8.8.8.8' }], { signal: signal() });
    expect(off!.status).toBe('suspicious');
  });

  it('attributes tagged with the false-positive taxonomy make the indicator clean', async () => {
    fake.attributes.push(mispAttribute('103', 'domain', 'fp.example.test', 1_763_700_000, { tags: ['false-positive:risk="high"'] }));
    const [v] = await (await misp()).lookup([{ type: 'domain', value: 'fp.example.test' }], { signal: signal() });
    expect(v).toMatchObject({ status: 'clean', score: 0 });
  });
});

describe('MISP plugin: failures', () => {
  it("a refused key is AUTH_FAILED with MISP's message, and recovers", async () => {
    fake.apiKeys = new Set(['x'.repeat(40)]);
    const inst = await misp();
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toContain('Authentication failed. Please make sure you pass the API key');
    expect(err.message).not.toContain(MISP_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toMatchObject({ status: 'degraded', code: 'AUTH_FAILED' });
    fake.apiKeys.add(MISP_FAKE_API_KEY);
    expect(await inst.healthCheck!(signal())).toEqual({ status: 'healthy' });
    expect(fake.requests.at(-1)!.path).toBe('/servers/getVersion');
  });

  it('a 429 is RATE_LIMITED with retryAfterMs from X-Rate-Limit-Reset', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-27T10:00:30Z'));
    fake.setQuota('restSearch', { perMinute: 1 });
    const inst = await misp();
    await inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() });
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(30_000);
    expect(err.message).toContain('Rate limit exceeded.');
  });

  it('5xx is UNAVAILABLE, a wrong base_url says so, slowness is TIMEOUT', async () => {
    const inst = await misp({ timeout_seconds: 0.2 });
    fake.failNext(1, 500);
    expect((await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }))).code).toBe('UNAVAILABLE');
    const wrong = await misp({ base_url: `${fake.url}/misp` });
    const err = await rejection(wrong.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('BAD_RESPONSE');
    expect(err.message).toContain('base_url must be the MISP root');
    fake.delayMs = 700;
    expect((await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }))).code).toBe('TIMEOUT');
  });
});

describe('MISP plugin: cache key and description', () => {
  it('cacheKey follows key, endpoint and enforce_warninglist and hides the key; describe() too', async () => {
    const a = (await misp()).cacheKey!();
    expect((await misp()).cacheKey!()).toBe(a);
    expect((await instantiate(plugin, { api_key: 'y'.repeat(40), base_url: fake.url })).cacheKey!()).not.toBe(a);
    expect((await misp({ enforce_warninglist: false })).cacheKey!()).not.toBe(a);
    expect((await misp({ base_url: 'https://misp.other.example' })).cacheKey!()).not.toBe(a);
    expect(a).not.toContain(MISP_FAKE_API_KEY);
    const d = (await misp()).describe!();
    expect(d).toMatchObject({ backend: 'misp', target: fake.url, max_batch_size: 50 });
    expect(JSON.stringify(d)).not.toContain(MISP_FAKE_API_KEY);
  });
});

describe('MISP plugin: restSearch feed', () => {
  const idsOf = (events: SourceEvent[]) => events.map((e) => (e.event as { id: string }).id);
  const indicatorValueOf = (e: SourceEvent) => {
    const i = (e['threat'] as { indicator: Record<string, unknown> }).indicator;
    return (i['ip'] ??
      (i['url'] as Record<string, string> | undefined)?.['full'] ??
      (i['url'] as Record<string, string> | undefined)?.['domain'] ??
      Object.values((i['file'] as { hash: Record<string, string> }).hash)[0]) as string;
  };

  async function drain(checkpoint: Checkpoint | undefined, maxEvents: number, cfg: Record<string, unknown>) {
    const events: SourceEvent[] = [];
    let cp = checkpoint;
    let last: PollResult | undefined;
    for (let i = 0; i < 50; i++) {
      last = await (await misp(cfg)).poll!({ checkpoint: cp, signal: signal(), maxEvents });
      expect(last.events.length).toBeLessThanOrEqual(maxEvents);
      events.push(...last.events);
      cp = JSON.parse(JSON.stringify(last.checkpoint)) as Checkpoint;
      if (!last.hasMore) break;
    }
    expect(last!.hasMore).toBe(false);
    return { events, checkpoint: cp };
  }

  it('pulls every to_ids attribute once across restarts and pages, then only new or edited ones', async () => {
    const cfg = { feed_since: '2025-01-01T00:00:00Z', feed_page_size: 3 };
    const first = await drain(undefined, 2, cfg);
    expect(first.events.map(indicatorValueOf).sort()).toEqual(
      [
        '198.51.100.66',
        'malware.example.test',
        '198.51.100.67',
        EICAR.sha256,
        EICAR.md5,
        EICAR.sha1,
        'http://malware.example.test/payload.exe',
        '2001:db8::bad',
        'login.phish.example.test',
        '198.51.100.7',
        'http://198.51.100.7/install.sh',
      ].sort(),
    );
    expect(new Set(idsOf(first.events)).size).toBe(11);
    const searches = fake.requests.filter((r) => r.path === '/attributes/restSearch');
    expect(searches[0]!.body).toMatchObject({ returnFormat: 'json', timestamp: 1_735_689_600, limit: 3, page: 1, to_ids: true });
    expect(searches.map((r) => (r.body as { page: number }).page)).toContain(3);

    const e = first.events.find((x) => indicatorValueOf(x) === '198.51.100.67')!;
    expect(e.event).toMatchObject({ kind: 'enrichment', category: ['threat'], type: ['indicator'], dataset: 'ti_misp.attribute' });
    expect(e['threat']).toMatchObject({
      feed: { name: 'MISP' },
      indicator: { type: 'ipv4-addr', ip: '198.51.100.67', confidence: 'High', marking: { tlp: 'GREEN' }, reference: `${fake.url}/events/view/101` },
    });
    expect(e['misp']).toMatchObject({ attribute: { type: 'ip-dst|port' }, event: { id: '101', info: 'Bad Hosting C2 infrastructure' } });

    const idle = await drain(first.checkpoint, 2, cfg);
    expect(idle.events).toHaveLength(0);

    const latest = Math.max(...fake.attributes.map((a) => Number(a.timestamp)));
    fake.attributes.push(mispAttribute('101', 'ip-dst', '192.0.2.55', latest + 100));
    const edited = fake.attributes.find((a) => a.value === 'malware.example.test')!;
    edited.timestamp = String(latest + 200);
    const inc = await drain(idle.checkpoint, 2, cfg);
    expect(inc.events.map(indicatorValueOf)).toEqual(['192.0.2.55', 'malware.example.test']);
    expect((await drain(inc.checkpoint, 2, cfg)).events).toHaveLength(0);
  });

  it('leaves out attributes above feed_max_tlp', async () => {
    const { events } = await drain(undefined, 50, { feed_since: '2025-01-01T00:00:00Z', feed_max_tlp: 'green' });
    const values = events.map(indicatorValueOf);
    expect(values).not.toContain('2001:db8::bad'); // event 103 is tlp:amber
    expect(values).toContain('198.51.100.66');
  });

  it('a foreign checkpoint is BAD_CONFIG', async () => {
    const err = await rejection((await misp()).poll!({ checkpoint: { since: 'yesterday' } as Checkpoint, signal: signal(), maxEvents: 5 }));
    expect(err.code).toBe('BAD_CONFIG');
  });
});

describe('MISP plugin: secrets', () => {
  it('a 5xx page that prints the Authorization header does not leak the key', async () => {
    const inst = await misp();
    fake.respondNext({ status: 500, body: { name: 'Internal error', message: `Unexpected header Authorization: ${MISP_FAKE_API_KEY}`, url: '/attributes/restSearch' } });
    const err = await rejection(inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).not.toContain(MISP_FAKE_API_KEY);
    expect(err.message).toContain('[redacted]');
  });
});
