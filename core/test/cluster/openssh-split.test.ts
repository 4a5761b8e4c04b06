// loghub OpenSSH_2k split line by line into two indices on the real OpenSearch node, each pulled by
// a collector pinned to a different instance of a three-instance cluster: nearly every attacker's
// failed logins are read half on one instance, half on the other. The brute-force alerts must name
// the same addresses as the single-process run (core/test/correlation/openssh.test.ts), both
// computed from the loghub labelling (loghub-openssh.ts), each window fired once.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasets, expectedBruteForce, FAILED_AUTH_ADDRESS_SLOT, IPV4, parseStructuredCsv, syslogTime, templateValue } from '../correlation/loghub-openssh.js';
import { runId } from '../kafka/helpers.js';
import { OPENSEARCH_URL, openSearchUp, startCluster, TopicEvents, until, useClusterHarness, writeClusterConfig } from './harness.js';

useClusterHarness(['core/dist/cluster/index.js', 'plugins/log-elasticsearch/dist/index.js']);

const INSTANCES = ['node-a', 'node-b', 'node-c'] as const;

async function os(method: string, url: string, body?: string, ndjson = false): Promise<Record<string, unknown>> {
  const res = await fetch(`${OPENSEARCH_URL}${url}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(60_000),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300 || json.errors === true) throw new Error(`OpenSearch ${method} ${url} → ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

describe('OpenSSH_2k over two OpenSearch indices, pulled on two instances (real broker and node)', () => {
  const run = runId();
  const indices = [`rf-cluster-${run}-openssh-a`, `rf-cluster-${run}-openssh-b`];
  const topic = new TopicEvents();

  beforeAll(async () => {
    await openSearchUp();
    const raw = (await readFile(path.join(datasets, 'OpenSSH_2k.log'), 'utf8')).split(/\r?\n/).filter((l) => l.length > 0);
    expect(raw).toHaveLength(2000);
    const times = raw.map((line) => {
      const m = /^(\w{3}) +(\d+) (\d\d:\d\d:\d\d) /.exec(line)!;
      return syslogTime(m[1]!, m[2]!, m[3]!);
    });
    // Pulled by ingest time, which follows the log's own order and ends two minutes ago: the
    // collectors read the hours of history in order, as a backfill; @timestamp stays the log's.
    const last = Math.max(...times);
    const now = Date.now();
    for (const index of indices) {
      await os(
        'PUT',
        `/${index}`,
        JSON.stringify({
          settings: { number_of_shards: 1, number_of_replicas: 0 },
          mappings: { properties: { '@timestamp': { type: 'date' }, event: { properties: { ingested: { type: 'date' } } }, message: { type: 'text' } } },
        }),
      );
    }
    let bulk = '';
    raw.forEach((line, i) => {
      const m = /^(\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\S+) ([^\s[:]+)\[(\d+)\]: (.*)$/.exec(line)!;
      const doc = {
        '@timestamp': new Date(times[i]!).toISOString(),
        message: m[7]!,
        host: { name: m[4]! },
        process: { name: m[5]!, pid: Number(m[6]) },
        event: { ingested: new Date(now - 120_000 - (last - times[i]!)).toISOString(), original: line },
      };
      bulk += `${JSON.stringify({ index: { _index: indices[i % 2], _id: `line-${i + 1}` } })}\n${JSON.stringify(doc)}\n`;
    });
    await os('POST', '/_bulk?refresh=true', bulk, true);

    const osUrl = new URL(OPENSEARCH_URL);
    const { config, topic: name } = writeClusterConfig(run, {
      pinned: { 'os-a': 'node-a', 'os-b': 'node-b' },
      collectors: indices
        .map(
          (index, k) => `  - id: os-${'ab'[k]}
    plugin: "@reactive-fabric/plugin-log-elasticsearch"
    interval_seconds: 0.5
    config: { host: "${osUrl.hostname}", port: ${osUrl.port || 9200}, scheme: http, flavour: opensearch, indices: [${index}], timestamp_field: event.ingested, query_window_minutes: 600, max_results_per_query: 200 }`,
        )
        .join('\n'),
      // Two collectors replaying hours of history each at its own pace: a generous lateness keeps
      // one collector running ahead from closing the windows the other still fills (one process
      // reading the same two indices would need it as much).
      extra: 'correlation: { allowed_lateness_seconds: 86400 }\n',
    });
    await startCluster(INSTANCES, config);
    await topic.start(name);
  }, 180_000);

  afterAll(async () => {
    await topic.stop();
    for (const index of indices) await fetch(`${OPENSEARCH_URL}/${index}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
  });

  it('fires brute force for the same addresses as one process, each window once', async () => {
    const labelled = parseStructuredCsv(await readFile(path.join(datasets, 'OpenSSH_2k.log_structured.csv'), 'utf8'));
    const { expected } = expectedBruteForce(labelled, 5, 5 * 60_000);
    expect(expected.size).toBeGreaterThanOrEqual(3);
    const bruteForce = () => topic.events.filter((e) => e?.fabric?.alert_type === 'correlation' && e.fabric.rule?.name === 'rf_brute_force');
    const firedFor = () =>
      new Set(
        bruteForce()
          .map((a) => a.source?.ip as string)
          .filter((ip) => IPV4.test(ip)),
      );
    // Every line read and published: the detections of both collectors.
    await until(
      'both collectors published their detections',
      () => new Set(topic.events.filter((e) => e?.fabric?.alert_type === 'detection').map((e) => e.fabric.collector)),
      (s) => s.has('os-a') && s.has('os-b'),
      90_000,
    );
    await until(
      'the brute-force addresses of the labelled log',
      () => [...firedFor()].sort(),
      (got) => got.join() === [...expected].sort().join(),
      90_000,
    );
    await new Promise((r) => setTimeout(r, 5000));
    expect([...firedFor()].sort()).toEqual([...expected].sort());
    // The split matters: most of these addresses failed in both indices, so on both instances.
    const indexesOf = new Map<string, Set<number>>();
    for (const row of labelled) {
      const slot = FAILED_AUTH_ADDRESS_SLOT[row.eventId];
      if (slot === undefined) continue;
      const address = templateValue(row.template, row.content, slot).trim();
      indexesOf.set(address, (indexesOf.get(address) ?? new Set()).add((row.lineId - 1) % 2));
    }
    expect([...expected].filter((ip) => indexesOf.get(ip)?.size === 2).length).toBeGreaterThanOrEqual(3);
    const ids = bruteForce().map((a) => a.event.id as string);
    expect(new Set(ids).size, 'each brute-force window fires once').toBe(ids.length);
  }, 200_000);
});
