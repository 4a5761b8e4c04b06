import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ElasticsearchFake,
  loghubDir,
  loghubEsDocs,
  readLoghub,
  spreadOverTime,
  type EsCredentials,
  type EsFlavour,
  type LoghubRecord,
  selfSignedCertificate,
} from '@reactive-fabric/test-kit/fakes';
import type { SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { drain, duplicates, expectPluginError, ids, pollOnce, repoRoot, startSource, testContext, expectTlsOptionsHonoured } from '../../../test/support/log-store-plugins.js';

let ssh: LoghubRecord[];
let linux: LoghubRecord[];
beforeAll(() => {
  ssh = readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log');
  linux = readLoghub(loghubDir(repoRoot), 'Linux_2k.log');
});

const fakes: ElasticsearchFake[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fakeWith(flavour: EsFlavour, credentials: EsCredentials = { type: 'none' }): Promise<ElasticsearchFake> {
  const fake = await new ElasticsearchFake({ flavour, credentials }).start();
  fakes.push(fake);
  return fake;
}

function configFor(fake: ElasticsearchFake, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: '127.0.0.1', port: fake.port, scheme: 'http', indices: ['logs-*'], ...extra };
}

/** Loghub lines as documents stamped over [now - fromAgoMs, now - toAgoMs). */
function docsAt(records: LoghubRecord[], fromAgoMs: number, toAgoMs: number, index = 'logs-ssh') {
  const now = Date.now();
  return loghubEsDocs(spreadOverTime(records, now - fromAgoMs, now - toAgoMs), index);
}

describe.each(['elasticsearch', 'opensearch'] as const)('log-elasticsearch against the %s fake', (flavour) => {
  it('pulls incrementally over many polls while documents keep arriving, late ones included: none lost, none repeated', async () => {
    const fake = await fakeWith(flavour);
    const expected = new Set(fake.addDocs(docsAt(ssh.slice(0, 600), 4 * 60_000, 60_000)));
    // Documents indexed while a pull pages through results, some stamped 20 s in the past
    // (ingest delay) so they land behind the cursor of the window being read.
    let batch = 0;
    fake.onSearch = (n) => {
      if (n % 3 !== 0 || batch >= 20) return;
      const start = 600 + batch * 20;
      batch++;
      const late = docsAt(ssh.slice(start, start + 10), 20_000, 15_000, 'logs-ssh');
      const fresh = docsAt(linux.slice(start, start + 10), 1000, 0, 'logs-linux');
      for (const id of fake.addDocs([...late, ...fresh])) expected.add(id);
    };
    const source = await startSource(plugin, configFor(fake, { max_results_per_query: 25 }));
    const got: SourceEvent[] = [];
    let cp: unknown;
    let polls = 0;
    for (; polls < 400; polls++) {
      const res = await pollOnce(source, cp as never, 40);
      got.push(...res.events);
      cp = res.checkpoint;
      if (!res.hasMore && batch >= 20 && got.length >= expected.size) break;
      if (!res.hasMore) await new Promise((r) => setTimeout(r, 20));
    }
    fake.onSearch = undefined;
    // Two more polls after the last arrival must find nothing new.
    for (let i = 0; i < 2; i++) got.push(...(await pollOnce(source, cp as never, 40)).events);
    const gotIds = ids(got);
    expect(duplicates(gotIds)).toEqual([]);
    expect(new Set(gotIds)).toEqual(expected);
    expect(expected.size).toBe(600 + 20 * 20);
    expect(polls).toBeGreaterThan(20);
    expect(fake.openPits).toBe(0);
    expect(fake.stats.pitsOpened).toBe(fake.stats.pitsClosed);
    await source.stop?.();
  });

  it('restarts from a committed checkpoint (even one cut mid-window) without gaps or repeats', async () => {
    const fake = await fakeWith(flavour);
    const expected = new Set(fake.addDocs(docsAt(ssh.slice(0, 300), 3 * 60_000, 30_000)));
    const first = await startSource(plugin, configFor(fake, { max_results_per_query: 50 }));
    const got: SourceEvent[] = [];
    let cp: unknown;
    for (let i = 0; i < 3; i++) {
      const res = await pollOnce(first, cp as never, 70);
      got.push(...res.events);
      cp = res.checkpoint;
    }
    expect((cp as { window?: unknown }).window).toBeDefined();
    await first.stop?.();
    for (const id of fake.addDocs(docsAt(ssh.slice(300, 400), 40_000, 1000))) expected.add(id);

    const second = await startSource(plugin, configFor(fake, { max_results_per_query: 50 }));
    await drain(second, cp as never, 70, got);
    const gotIds = ids(got);
    expect(duplicates(gotIds)).toEqual([]);
    expect(new Set(gotIds)).toEqual(expected);
    await second.stop?.();
  });

  it('polls patterns that match no index yet without failing, and picks up the index once it exists', async () => {
    const fake = await fakeWith(flavour);
    const source = await startSource(plugin, configFor(fake, { indices: ['auth-*'] }));
    const empty = await pollOnce(source, undefined, 10);
    expect(empty.events).toEqual([]);
    const expected = fake.addDocs(docsAt(ssh.slice(0, 5), 30_000, 20_000, 'auth-2026.11'));
    const later = await pollOnce(source, empty.checkpoint, 10);
    expect(ids(later.events).sort()).toEqual([...expected].sort());
  });

  it('maps hits to ECS with the original kept and a stable event.id', async () => {
    const fake = await fakeWith(flavour);
    const [id] = fake.addDocs(docsAt(ssh.slice(0, 1), 60_000, 59_000));
    const source = await startSource(plugin, configFor(fake));
    const { events } = await pollOnce(source, undefined, 10);
    expect(events).toHaveLength(1);
    const ev = events[0]!;
    expect(ev.event?.id).toBe(id);
    expect(ev.event?.original).toBe(ssh[0]!.line);
    expect(ev.message).toBe(ssh[0]!.message);
    expect(ev['@timestamp']).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((ev.host as { name: string }).name).toBe('LabSZ');
    expect(ev.labels).toMatchObject({ log_store: flavour, log_store_index: 'logs-ssh' });
    expect(ev.event?.dataset).toBe('openssh.log');
    expect(ev).not.toHaveProperty('fabric');
  });
});

describe('log-elasticsearch: credentials, limits and bad answers', () => {
  it.each<[string, EsCredentials, Record<string, unknown>]>([
    ['API key (id:key)', { type: 'api_key', id: 'VuaCfGcBCdbkQm', key: 'ui2lp2axTNmsyakw9tvNnw' }, { type: 'api_key', api_key: 'VuaCfGcBCdbkQm:ui2lp2axTNmsyakw9tvNnw' }],
    [
      'API key (encoded)',
      { type: 'api_key', id: 'VuaCfGcBCdbkQm', key: 'ui2lp2axTNmsyakw9tvNnw' },
      { type: 'api_key', api_key: Buffer.from('VuaCfGcBCdbkQm:ui2lp2axTNmsyakw9tvNnw').toString('base64') },
    ],
    ['Basic', { type: 'basic', username: 'fabric', password: 's3cret-pass' }, { type: 'basic', username: 'fabric', password: 's3cret-pass' }],
    ['Bearer', { type: 'bearer', token: 'tok-abc-123' }, { type: 'bearer', token: 'tok-abc-123' }],
  ])('authenticates with %s', async (_name, creds, auth) => {
    const fake = await fakeWith('elasticsearch', creds);
    fake.addDocs(docsAt(ssh.slice(0, 5), 60_000, 50_000));
    const source = await startSource(plugin, configFor(fake, { auth }));
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(5);
  });

  it('fails with AUTH_FAILED (not retriable, no secret in the message) when credentials are refused, then recovers without loss once fixed', async () => {
    const good: EsCredentials = { type: 'basic', username: 'fabric', password: 'right-password-1' };
    const fake = await fakeWith('elasticsearch', good);
    const expected = new Set(fake.addDocs(docsAt(ssh.slice(0, 50), 120_000, 60_000)));
    const source = await startSource(plugin, configFor(fake, { auth: { type: 'basic', username: 'fabric', password: 'right-password-1' } }));
    const got: SourceEvent[] = [];
    const first = await pollOnce(source, undefined, 20);
    got.push(...first.events);

    fake.setCredentials({ type: 'basic', username: 'fabric', password: 'rotated-password-2' });
    for (const id of fake.addDocs(docsAt(ssh.slice(50, 80), 50_000, 10_000))) expected.add(id);
    const err = await expectPluginError(pollOnce(source, first.checkpoint, 20));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('unable to authenticate user [fabric]');
    expect(err.message).not.toContain('right-password-1');

    fake.setCredentials(good);
    await drain(source, first.checkpoint, 20, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
  });

  it('reports a 403 (missing read privilege) as AUTH_FAILED with the reason', async () => {
    const fake = await fakeWith('elasticsearch', { type: 'bearer', token: 't' });
    fake.setForbidden(true);
    const source = await startSource(plugin, configFor(fake, { auth: { type: 'bearer', token: 't' } }));
    const err = await expectPluginError(pollOnce(source, undefined, 10));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toContain('indices:data/read/search');
  });

  it('honours 429 with the Retry-After hint, and reports 5xx as UNAVAILABLE', async () => {
    const fake = await fakeWith('elasticsearch');
    const expected = new Set(fake.addDocs(docsAt(ssh.slice(0, 30), 60_000, 30_000)));
    const source = await startSource(plugin, configFor(fake));
    await pollOnce(source, undefined, 1); // cluster info read, PIT path exercised
    fake.inject({ kind: 'status', status: 429, retryAfterSeconds: 7, match: /_search$/ });
    const limited = await expectPluginError(pollOnce(source, undefined, 10));
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.retryAfterMs).toBe(7000);
    expect(limited.message).toContain('es_rejected_execution_exception');
    expect(fake.openPits).toBe(0);

    fake.inject({ kind: 'status', status: 503, match: /_search$/ });
    const down = await expectPluginError(pollOnce(source, undefined, 10));
    expect(down.code).toBe('UNAVAILABLE');
    expect(down.message).toContain('cluster_block_exception');

    const got: SourceEvent[] = [];
    await drain(source, undefined, 100, got);
    expect(new Set(ids(got))).toEqual(expected);
  });

  it('reports malformed bodies as BAD_RESPONSE and keeps working', async () => {
    const fake = await fakeWith('opensearch');
    fake.addDocs(docsAt(ssh.slice(0, 10), 60_000, 30_000));
    const source = await startSource(plugin, configFor(fake));
    fake.inject({ kind: 'malformed', match: /^\/$/ });
    const truncated = await expectPluginError(pollOnce(source, undefined, 10));
    expect(truncated.code).toBe('BAD_RESPONSE');
    fake.inject({ kind: 'malformed', body: '<html><body>502 Bad Gateway</body></html>', contentType: 'text/html', match: /_search$/ });
    expect((await expectPluginError(pollOnce(source, undefined, 10))).code).toBe('BAD_RESPONSE');
    fake.inject({ kind: 'malformed', body: '{"took":1,"hits":{"total":3}}', match: /_search$/ });
    const shape = await expectPluginError(pollOnce(source, undefined, 10));
    expect(shape.code).toBe('BAD_RESPONSE');
    expect(shape.message).toContain('hits.hits');
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(10);
  });

  it('times out slow answers with TIMEOUT and reports dropped connections as UNAVAILABLE', async () => {
    const fake = await fakeWith('elasticsearch');
    fake.addDocs(docsAt(ssh.slice(0, 3), 60_000, 30_000));
    const source = await startSource(plugin, configFor(fake, { request_timeout_seconds: 0.3 }));
    fake.inject({ kind: 'slow', delayMs: 1500 });
    expect((await expectPluginError(pollOnce(source, undefined, 10))).code).toBe('TIMEOUT');
    fake.inject({ kind: 'reset' });
    expect((await expectPluginError(pollOnce(source, undefined, 10))).code).toBe('UNAVAILABLE');
    expect((await pollOnce(source, undefined, 10)).events).toHaveLength(3);
  });

  it('reports a point in time that expired between pages as UNAVAILABLE, and the next poll recovers', async () => {
    const fake = await fakeWith('opensearch');
    const expected = fake.addDocs(docsAt(ssh.slice(0, 30), 60_000, 30_000));
    fake.onSearch = (n) => n === 2 && fake.expirePits();
    const source = await startSource(plugin, configFor(fake, { max_results_per_query: 10 }));
    const err = await expectPluginError(pollOnce(source, undefined, 30));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('pit_keep_alive');
    fake.onSearch = undefined;
    const patient = source;
    const got: SourceEvent[] = [];
    await drain(patient, undefined, 30, got);
    expect(ids(got).sort()).toEqual([...expected].sort());
  });

  it('honours the poll AbortSignal', async () => {
    const fake = await fakeWith('elasticsearch');
    fake.addDocs(docsAt(ssh.slice(0, 3), 60_000, 30_000));
    const source = await startSource(plugin, configFor(fake));
    fake.inject({ kind: 'slow', delayMs: 2000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await expectPluginError(source.poll({ checkpoint: undefined, signal: ac.signal, maxEvents: 10 }));
    expect(err.code).toBe('ABORTED');
  });

  it('pulls more than 10,000 documents of one window without ever asking past the result window', async () => {
    const fake = await fakeWith('elasticsearch');
    const all = [...ssh, ...linux];
    const records = Array.from({ length: 10_500 }, (_, i) => all[i % all.length]!);
    const expected = new Set(fake.addDocs(docsAt(records, 4 * 60_000, 60_000)));
    const source = await startSource(plugin, configFor(fake, { max_results_per_query: 5000 }));
    const got: SourceEvent[] = [];
    await drain(source, undefined, 20_000, got);
    expect(got).toHaveLength(10_500);
    expect(new Set(ids(got))).toEqual(expected);
    expect(fake.stats.maxFromPlusSize).toBeLessThanOrEqual(10_000);
  });

  it('can window on event.ingested (late events by event time) while @timestamp stays the event time', async () => {
    const fake = await fakeWith('elasticsearch');
    const now = Date.now();
    // Happened an hour ago, ingested 30 s ago: outside any @timestamp window of a fresh collector.
    const [id] = fake.addDocs([
      { index: 'logs-ssh', source: { '@timestamp': new Date(now - 3_600_000).toISOString(), message: ssh[0]!.message, event: { ingested: new Date(now - 30_000).toISOString() } } },
    ]);
    const byEventTime = await startSource(plugin, configFor(fake));
    expect((await pollOnce(byEventTime, undefined, 10)).events).toEqual([]);
    const byIngest = await startSource(plugin, configFor(fake, { timestamp_field: 'event.ingested' }));
    const { events } = await pollOnce(byIngest, undefined, 10);
    expect(ids(events)).toEqual([id]);
    expect(events[0]!['@timestamp']).toBe(new Date(now - 3_600_000).toISOString());
  });

  it('pages an Elasticsearch 7.9 (no point in time) with search_after on [@timestamp, _id], ties across pages included', async () => {
    const fake = await new ElasticsearchFake({ flavour: 'elasticsearch', version: '7.9.3' }).start();
    fakes.push(fake);
    const tied = new Date(Date.now() - 90_000).toISOString();
    const expected = new Set(
      fake.addDocs(
        loghubEsDocs(
          ssh.slice(0, 95).map((record) => ({ record, timestamp: Date.parse(tied) })),
          'logs-ssh',
        ),
      ),
    );
    for (const id of fake.addDocs(docsAt(ssh.slice(95, 150), 120_000, 30_000))) expected.add(id);
    const source = await startSource(plugin, configFor(fake, { max_results_per_query: 20 }));
    const got: SourceEvent[] = [];
    await drain(source, undefined, 30, got);
    expect(duplicates(ids(got))).toEqual([]);
    expect(new Set(ids(got))).toEqual(expected);
    expect(fake.stats.pitsOpened).toBe(0);
    expect(JSON.parse(fake.requestsTo(/_search$/)[0]!.body).sort).toEqual([{ '@timestamp': { order: 'asc', unmapped_type: 'date' } }, { _id: 'asc' }]);
  });

  it('refuses to page an Elasticsearch 8 without point in time or tiebreaker_field, naming both fixes', async () => {
    const fake = await fakeWith('elasticsearch');
    const source = await startSource(plugin, configFor(fake, { use_pit: false }));
    const err = await expectPluginError(pollOnce(source, undefined, 10));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toMatch(/use_pit: true or tiebreaker_field/);
  });

  it('applies the optional query', async () => {
    const fake = await fakeWith('elasticsearch');
    fake.addDocs(docsAt(ssh.slice(0, 200), 120_000, 60_000));
    const source = await startSource(plugin, configFor(fake, { query: 'message:"Failed password"' }));
    const got: SourceEvent[] = [];
    await drain(source, undefined, 500, got);
    const want = ssh.slice(0, 200).filter((r) => r.message.toLowerCase().includes('failed password')).length;
    expect(want).toBeGreaterThan(0);
    expect(got).toHaveLength(want);
  });

  it('speaks HTTPS: an unknown CA is BAD_CONFIG naming tls.ca_file; tls.ca_file or tls.verify: false connect; a missing CA file fails start()', async () => {
    const tls = selfSignedCertificate();
    const fake = await new ElasticsearchFake({ flavour: 'elasticsearch' }).start(0, tls);
    fakes.push(fake);
    fake.addDocs(docsAt(ssh.slice(0, 3), 60_000, 30_000));
    await expectTlsOptionsHonoured(plugin, { host: '127.0.0.1', port: fake.port, scheme: 'https' }, tls.cert);
  });

  it('describes backend and target without credentials', async () => {
    const fake = await fakeWith('opensearch', { type: 'basic', username: 'fabric', password: 'pw-never-shown' });
    const source = await startSource(plugin, configFor(fake, { auth: { type: 'basic', username: 'fabric', password: 'pw-never-shown' } }));
    await pollOnce(source, undefined, 1);
    const d = source.describe!();
    expect(d).toMatchObject({ backend: 'opensearch', target: `http://127.0.0.1:${fake.port}` });
    expect(JSON.stringify(d)).not.toContain('pw-never-shown');
    const apiKeySource = await startSource(plugin, configFor(fake, { auth: { type: 'api_key', api_key: 'id:key-never-shown' } }));
    expect(JSON.stringify(apiKeySource.describe!())).not.toContain('key-never-shown');
  });

  it('rejects an auth block missing its secret with a message naming the field', async () => {
    await expect(startSource(plugin, { host: 'es', auth: { type: 'api_key' } }, testContext())).rejects.toThrow(/auth\.api_key/);
  });

  it('fake: reproduces the result-window 400 and x-elastic-product on 2xx', async () => {
    const fake = await fakeWith('elasticsearch');
    fake.addDocs(docsAt(ssh.slice(0, 2), 60_000, 30_000));
    const ok = await fetch(`${fake.url}/logs-*/_search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ok.headers.get('x-elastic-product')).toBe('Elasticsearch');
    const res = await fetch(`${fake.url}/logs-*/_search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 9990, size: 20 }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; root_cause: Array<{ reason: string }> } };
    expect(body.error.type).toBe('search_phase_execution_exception');
    expect(body.error.root_cause[0]!.reason).toContain('Result window is too large, from + size must be less than or equal to: [10000] but was [10010]');
  });
});
