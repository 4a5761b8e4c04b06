import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loghubDir, loghubEsDocs, readLoghub, spreadOverTime, type EsDoc, type LoghubRecord } from '@reactive-fabric/test-kit/fakes';
import type { SourceEvent } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { drain, duplicates, ids, pollOnce, repoRoot, startSource } from '../../../test/support/log-store-plugins.js';

/**
 * Against a real OpenSearch 2.19 node (scripts/opensearch/node.mjs start). Proves the wire format
 * the fakes imitate: PIT open/close, search_after with the _id tiebreaker, more than 10,000
 * documents in one window, and documents indexed while the plugin pulls.
 */
const url = process.env.OPENSEARCH_URL ?? 'http://127.0.0.1:19200';
const index = `rf-it-${process.pid}-${Date.now()}`;
let records: LoghubRecord[];

async function os(method: string, path: string, body?: unknown, ndjson = false): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body: ndjson ? (body as string) : JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** Bulk-indexes documents (visible at once) and returns their `_index/_id`. */
async function bulk(docs: EsDoc[]): Promise<string[]> {
  const lines = docs.flatMap((d) => [JSON.stringify({ index: { _index: d.index } }), JSON.stringify(d.source)]).join('\n') + '\n';
  const res = await os('POST', '/_bulk?refresh=true', lines, true);
  if (res.errors) throw new Error(`bulk had errors: ${JSON.stringify(res).slice(0, 300)}`);
  return (res.items as Array<{ index: { _index: string; _id: string } }>).map((i) => `${i.index._index}/${i.index._id}`);
}

function docsAt(recs: LoghubRecord[], fromAgoMs: number, toAgoMs: number): EsDoc[] {
  const now = Date.now();
  return loghubEsDocs(spreadOverTime(recs, now - fromAgoMs, now - toAgoMs), index);
}

beforeAll(async () => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`status ${res.status}`);
  } catch (err) {
    throw new Error(
      `No OpenSearch node answers at ${url} (${(err as Error).message}). Start it with: node scripts/opensearch/node.mjs start (stop: node scripts/opensearch/node.mjs stop)`,
    );
  }
  const dir = loghubDir(repoRoot);
  records = [...readLoghub(dir, 'OpenSSH_2k.log'), ...readLoghub(dir, 'Linux_2k.log')];
  await os('PUT', `/${index}`, {
    settings: { number_of_shards: 2, number_of_replicas: 0 },
    mappings: { properties: { '@timestamp': { type: 'date' }, message: { type: 'text' }, host: { properties: { name: { type: 'keyword' } } } } },
  });
});

afterAll(async () => {
  await fetch(`${url}/${index}`, { method: 'DELETE' }).catch(() => undefined);
});

describe('log-elasticsearch against a real OpenSearch 2.19 node', () => {
  it('pulls >10,000 documents and documents indexed during the pull, across a restart: none lost, none repeated', async () => {
    const seed = Array.from({ length: 10_200 }, (_, i) => records[i % records.length]!);
    const expected = new Set<string>();
    for (let i = 0; i < seed.length; i += 2000) for (const id of await bulk(docsAt(seed.slice(i, i + 2000), 4 * 60_000 - i * 10, 90_000))) expected.add(id);
    expect(expected.size).toBe(10_200);

    const config = { host: '127.0.0.1', port: Number(new URL(url).port), scheme: 'http', indices: [index], max_results_per_query: 1000 };
    const first = await startSource(plugin, config);
    const got: SourceEvent[] = [];

    // An indexer running concurrently with the polls: fresh documents and late ones (20 s old).
    let rounds = 0;
    let indexing = Promise.resolve();
    const timer = setInterval(() => {
      if (rounds >= 12) return;
      const r = rounds++;
      const batch = [...docsAt(records.slice(r * 10, r * 10 + 10), 20_000, 18_000), ...docsAt(records.slice(2000 + r * 10, 2000 + r * 10 + 10), 500, 0)];
      indexing = indexing.then(async () => {
        for (const id of await bulk(batch)) expected.add(id);
      });
    }, 40);

    let cp: unknown;
    for (let i = 0; i < 4; i++) {
      const res = await pollOnce(first, cp as never, 3000);
      got.push(...res.events);
      cp = res.checkpoint;
    }
    expect(first.describe!()).toMatchObject({ backend: 'opensearch', version: expect.stringMatching(/^2\.19\./) });
    await first.stop?.();

    const second = await startSource(plugin, config);
    while (rounds < 12) {
      const res = await pollOnce(second, cp as never, 3000);
      got.push(...res.events);
      cp = res.checkpoint;
      await new Promise((r) => setTimeout(r, 30));
    }
    clearInterval(timer);
    await indexing;
    await drain(second, cp as never, 3000, got);
    await second.stop?.();

    const gotIds = ids(got);
    expect(duplicates(gotIds)).toEqual([]);
    expect(expected.size).toBe(10_200 + 12 * 20);
    expect(new Set(gotIds)).toEqual(expected);
    const one = got.find((e) => e.event?.original === records[0]!.line);
    expect(one?.labels).toMatchObject({ log_store: 'opensearch', log_store_index: index });

    const pits = await os('GET', '/_search/point_in_time/_all');
    expect(pits.pits).toEqual([]);
  });

  it('polls a pattern that matches no index (OpenSearch refuses a PIT there) without failing', async () => {
    const source = await startSource(plugin, { host: '127.0.0.1', port: Number(new URL(url).port), scheme: 'http', indices: [`${index}-nomatch-*`] });
    const res = await pollOnce(source, undefined, 10);
    expect(res.events).toEqual([]);
    expect(res.hasMore).toBe(false);
  });

  it('the node itself refuses from + size past 10,000 (the limit the plugin stays under)', async () => {
    const res = await fetch(`${url}/${index}/_search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 9995, size: 10 }) });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('Result window is too large');
  });
});
