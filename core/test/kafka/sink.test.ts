import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createKafkaSink, KAFKA_HEADERS, KafkaSinkClosedError, resolveKafkaSinkConfig } from '../../src/sinks/kafka/index.js';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import type { Sink } from '../../src/sinks/sink.js';
import {
  brokerInfo,
  collectorStatus,
  consumeAll,
  detection,
  eventSchema,
  pollUntil,
  runId,
  schemaErrors,
  sharedBroker,
  sinkContext,
  statusSchema,
  topicOffsets,
  type BrokerInfo,
} from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const exec = promisify(execFile);

let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBroker();
});

function topicsFor(run: string) {
  return { detections: `rf-test-${run}.threat_detected`, status: `rf-test-${run}.honeypot_status` };
}

async function admin() {
  const a = new Kafka({ clientId: 'fabric-test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await a.connect();
  return a;
}

describe('Kafka sink against a real broker', () => {
  const run = runId();
  const topics = topicsFor(run);
  const events: FabricEvent[] = Array.from({ length: 300 }, (_, i) => detection(run, i, { fingerprints: 25 }));
  const statuses = [
    collectorStatus('ssh-honeypot-0', 'running', 'starting'),
    collectorStatus('ssh-honeypot-1', 'degraded', 'running'),
    collectorStatus('ssh-honeypot-0', 'failed', 'degraded'),
  ];
  let ctx: ReturnType<typeof sinkContext>;

  beforeAll(async () => {
    ctx = sinkContext();
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], topics, create_topics: { partitions: 3 } }), ctx);
    await sink.start();
    // Several writes in flight at once, as the pipeline issues them.
    await Promise.all([sink.write(events.slice(0, 100)), sink.write(events.slice(100, 250)), sink.write(events.slice(250)), ...statuses.map((s) => sink.writeStatus(s))]);
    expect(sink.health()).toEqual({ state: 'ok', pending: 0 });
    await sink.close(5000);
  });

  it('creates both topics with the configured partitions', async () => {
    const a = await admin();
    const meta = await a.fetchTopicMetadata({ topics: [topics.detections, topics.status] });
    await a.disconnect();
    expect(meta.topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual(
      [
        [topics.status, 3],
        [topics.detections, 3],
      ].sort(),
    );
  });

  it('publishes every detection once, keyed by fingerprint, with headers and a schema-valid value (kafkajs consumer)', async () => {
    const records = await consumeAll(bootstrap, topics.detections);
    expect(records).toHaveLength(events.length);
    const byId = new Map<string, (typeof records)[number]>();
    const partitionOfKey = new Map<string, number>();
    for (const r of records) {
      const value = JSON.parse(r.value) as FabricEvent;
      expect(schemaErrors(eventSchema, value)).toEqual([]);
      byId.set(value.event.id, r);
      expect(r.key).toBe(value.fabric.fingerprint);
      expect(r.headers).toEqual({
        [KAFKA_HEADERS.eventType]: 'alert',
        [KAFKA_HEADERS.severity]: value.fabric.priority,
        [KAFKA_HEADERS.collector]: value.fabric.collector,
        [KAFKA_HEADERS.schemaVersion]: '2.0.0',
      });
      // Stable partitioning: every record of one fingerprint sits on one partition.
      const seen = partitionOfKey.get(r.key!);
      if (seen !== undefined) expect(r.partition).toBe(seen);
      partitionOfKey.set(r.key!, r.partition);
    }
    expect([...byId.keys()].sort()).toEqual(events.map((e) => e.event.id).sort());
    expect(partitionOfKey.size).toBe(25);
    expect(new Set(records.map((r) => r.partition)).size).toBeGreaterThan(1);
    // The value is the event unchanged.
    expect(JSON.parse(byId.get(events[7]!.event.id)!.value)).toEqual(events[7]);
  });

  it('publishes collector status changes to the status topic, keyed by collector id', async () => {
    const records = await consumeAll(bootstrap, topics.status);
    expect(records).toHaveLength(3);
    for (const r of records) {
      const value = JSON.parse(r.value) as Record<string, unknown>;
      expect(schemaErrors(statusSchema, value)).toEqual([]);
      expect(r.key).toBe(value.collector);
      expect(r.headers[KAFKA_HEADERS.eventType]).toBe('collector_status');
    }
    const failed = records.map((r) => JSON.parse(r.value) as Record<string, unknown>).find((v) => v.state === 'failed');
    expect(failed).toMatchObject({ collector: 'ssh-honeypot-0', previous: 'degraded' });
    expect(records.find((r) => r.headers[KAFKA_HEADERS.collector] === 'ssh-honeypot-0' && JSON.parse(r.value).state === 'failed')!.headers[KAFKA_HEADERS.severity]).toBe('high');
  });

  it('reads back the same records with kcat, an independent client', async () => {
    const kcat = await exec('kcat', ['-V']).catch(() => undefined);
    if (!kcat) throw new Error('kcat is not installed: run `node scripts/kafka/broker.mjs kcat` (apt-get install -y kcat)');
    const { stdout } = await exec('kcat', ['-C', '-b', bootstrap, '-t', topics.detections, '-o', 'beginning', '-e', '-q', '-J'], { maxBuffer: 64 * 1024 * 1024 });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; payload: string; partition: number; headers?: string[] });
    expect(lines).toHaveLength(events.length);
    const ids = new Set<string>();
    for (const l of lines) {
      const value = JSON.parse(l.payload) as FabricEvent;
      expect(schemaErrors(eventSchema, value)).toEqual([]);
      expect(l.key).toBe(value.fabric.fingerprint);
      // kcat -J lists headers as a flat [name, value, name, value, ...] array.
      const h = Object.fromEntries((l.headers ?? []).flatMap((x, i, all) => (i % 2 === 0 ? [[x, all[i + 1]]] : [])));
      expect(h).toEqual({
        [KAFKA_HEADERS.eventType]: 'alert',
        [KAFKA_HEADERS.severity]: value.fabric.priority,
        [KAFKA_HEADERS.collector]: value.fabric.collector,
        [KAFKA_HEADERS.schemaVersion]: '2.0.0',
      });
      ids.add(value.event.id);
    }
    expect(ids.size).toBe(events.length);
  });

  it('exposes acknowledgements in its metrics', async () => {
    const text = await ctx.registry.metrics();
    expect(text).toContain(`fabric_kafka_sink_acked_events_total{topic="${topics.detections}"} 300`);
    expect(text).toContain(`fabric_kafka_sink_acked_events_total{topic="${topics.status}"} 3`);
    expect(text).toContain('fabric_kafka_sink_pending_events 0');
  });
});

describe('Kafka sink producer thread', () => {
  type ThreadView = { session: { worker?: { postMessage: (m: { op: string }, t?: unknown) => void; terminate: () => Promise<number> } } };
  const threadOf = (sink: Sink) => (sink as unknown as ThreadView).session.worker;

  it('loses nothing when the thread dies under a request: a new thread delivers it, and close ends the thread', async () => {
    const run = runId();
    const topics = topicsFor(run);
    const ctx = sinkContext();
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], topics, retry: { initial_backoff_ms: 20, max_backoff_ms: 100 } }), ctx);
    await sink.start();
    const events = Array.from({ length: 1200 }, (_, i) => detection(run, i, { fingerprints: 40 }));
    await sink.write(events.slice(0, 200));
    const first = threadOf(sink)!;
    // The thread ends right after it was handed a request: that request is owed and must come back as a failure.
    const post = first.postMessage.bind(first);
    first.postMessage = (m, t) => {
      post(m, t);
      if (m.op === 'send') void first.terminate();
    };
    await Promise.all([sink.write(events.slice(200, 700)), sink.write(events.slice(700))]);
    const second = threadOf(sink);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(sink.health()).toEqual({ state: 'ok', pending: 0 });
    expect(await ctx.registry.metrics()).toMatch(/fabric_kafka_sink_errors_total\{code="PRODUCER_THREAD_EXITED"\} [1-9]/);
    expect(ctx.logs.text()).toContain('Kafka delivery resumed');
    await sink.close(5000);
    expect(threadOf(sink)).toBeUndefined();
    const ids = new Set((await consumeAll(bootstrap, topics.detections)).map((r) => (JSON.parse(r.value) as FabricEvent).event.id));
    expect(ids.size).toBe(events.length);
  });
});

describe('Kafka sink configuration', () => {
  it('uses the documented topic names, gzip and bounded buffering by default', () => {
    const c = resolveKafkaSinkConfig({ type: 'kafka', brokers: ['127.0.0.1:29092'] });
    expect(c.topics).toEqual({ detections: 'reactive_fabric.threat_detected', status: 'reactive_fabric.honeypot_status', dead_letter: 'reactive_fabric.dead_letter' });
    expect(c.compression).toBe('gzip');
    expect(c.max_buffered_events).toBeGreaterThan(0);
    expect(c.create_topics).toEqual({ enabled: true, partitions: 3, replication_factor: 1 });
  });

  it('names the field and the fix for bad values, and withholds secrets', () => {
    let message = '';
    try {
      resolveKafkaSinkConfig({ type: 'kafka', brokers: ['kafka-without-port'], compression: 'lz4', sasl: { mechanism: 'plain', username: 'svc', password: 12345678 } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('sink/brokers/0');
    expect(message).toContain('kafka-without-port');
    expect(message).toContain('sink/compression');
    expect(message).toContain('sink/sasl/password');
    expect(message).not.toContain('12345678');
  });

  it('publishes to reactive_fabric.threat_detected and reactive_fabric.honeypot_status when topics are not configured', async () => {
    bootstrap ??= await sharedBroker();
    const run = runId();
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap] }), sinkContext());
    await sink.start();
    const a = await admin();
    const before = await topicOffsets(a, 'reactive_fabric.threat_detected');
    await sink.write([detection(run, 1)]);
    await sink.writeStatus(collectorStatus('default-topic-check', 'running', 'starting'));
    await sink.close(5000);
    const after = await topicOffsets(a, 'reactive_fabric.threat_detected');
    expect(await a.listTopics()).toEqual(expect.arrayContaining(['reactive_fabric.threat_detected', 'reactive_fabric.honeypot_status']));
    await a.disconnect();
    const sum = (o: Array<{ high: string }>) => o.reduce((n, p) => n + Number(p.high), 0);
    expect(sum(after) - sum(before)).toBe(1);
  });
});

describe('Kafka sink refusals and failures', () => {
  it('refuses to start when topics are missing and creating them is disabled', async () => {
    const run = runId();
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], topics: topicsFor(run), create_topics: { enabled: false } }), sinkContext());
    await expect(sink.start()).rejects.toThrow(/rf-test-.*threat_detected.*do not exist.*create_topics\.enabled: true/s);
    await sink.close(100);
    const a = await admin();
    expect(await a.listTopics()).not.toContain(topicsFor(run).detections);
    await a.disconnect();
  });

  it('explains a replication factor the cluster cannot satisfy', async () => {
    const sink = createKafkaSink(
      resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], topics: topicsFor(runId()), create_topics: { replication_factor: 3 } }),
      sinkContext(),
    );
    await expect(sink.start()).rejects.toThrow(/replication_factor 3 is more than the brokers.*lower it/);
    await sink.close(100);
  });

  it('keeps the SASL password out of errors and logs when authentication cannot succeed', async () => {
    const password = 'S3cr3t-hunter2-kafka';
    const ctx = sinkContext();
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], sasl: { mechanism: 'scram-sha-512', username: 'fabric', password } }), ctx);
    const err = await sink.start().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    // The test broker's listener is PLAINTEXT: the SASL handshake is refused, a config problem not an outage.
    expect(err!.message).toMatch(/Kafka sink cannot start.*ILLEGAL_SASL_STATE.*sink\.sasl/);
    await sink.close(100);
    expect(err!.message + JSON.stringify(sink.health())).not.toContain(password);
    expect(ctx.logs.lines.length).toBeGreaterThan(0);
    expect(ctx.logs.text()).not.toContain(password);
  });

  it('flushes accepted events on close and refuses writes afterwards', async () => {
    const run = runId();
    const topics = topicsFor(run);
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], topics, compression: 'none', batch: { max_events: 500 } }), sinkContext());
    await sink.start();
    const events = Array.from({ length: 5000 }, (_, i) => detection(run, i));
    const writes = [0, 1, 2, 3, 4].map((k) => sink.write(events.slice(k * 1000, (k + 1) * 1000)));
    await sink.close(20_000);
    await Promise.all(writes);
    await expect(sink.write([detection(run, 9999)])).rejects.toBeInstanceOf(KafkaSinkClosedError);
    const records = await consumeAll(bootstrap, topics.detections);
    expect(new Set(records.map((r) => (JSON.parse(r.value) as FabricEvent).event.id)).size).toBe(5000);
  });
});

describe('Kafka sink without a reachable broker', () => {
  it('buffers up to max_buffered_events, makes further writes wait, reports degraded then down, and rejects on close', async () => {
    const ctx = sinkContext();
    const config = resolveKafkaSinkConfig({
      type: 'kafka',
      // Nothing listens on port 1: every connection is refused at once.
      brokers: ['127.0.0.1:1'],
      max_buffered_events: 100,
      retry: { initial_backoff_ms: 50, max_backoff_ms: 200, connection_timeout_ms: 500, down_after_seconds: 1 },
    });
    const sink: Sink = createKafkaSink(config, ctx);
    await sink.start();
    const run = runId();
    const settled: string[] = [];
    const first = sink.write(Array.from({ length: 60 }, (_, i) => detection(run, i))).then(
      () => settled.push('first:ok'),
      (e: Error) => settled.push(`first:${e.name}`),
    );
    const second = sink.write(Array.from({ length: 60 }, (_, i) => detection(run, 100 + i))).then(
      () => settled.push('second:ok'),
      (e: Error) => settled.push(`second:${e.name}`),
    );
    // Once the first write's request has failed and been sent again, neither write may have settled.
    const retries = async () => Number(/^fabric_kafka_sink_retries_total (\d+)$/m.exec(await ctx.registry.metrics())?.[1] ?? 0);
    await pollUntil(retries, (n) => n >= 1, { what: 'a retried produce request', timeoutMs: 10_000, everyMs: 10 });
    expect(settled).toEqual([]);
    // The second write waits for room: only the first one's 60 events are held.
    expect(sink.health()).toMatchObject({ state: 'degraded', pending: 60 });
    expect(sink.health().reason).toMatch(/no acknowledgement from Kafka/);
    // down_after_seconds (1 s) without an acknowledgement.
    await pollUntil(
      () => sink.health(),
      (h) => h.state === 'down',
      { what: 'health down', timeoutMs: 10_000, everyMs: 20 },
    );
    expect(sink.health()).toMatchObject({ state: 'down', pending: 60 });
    expect(await ctx.registry.metrics()).toMatch(/fabric_kafka_sink_retries_total [1-9]/);
    await sink.close(200);
    await Promise.all([first, second]);
    expect(settled.sort()).toEqual(['first:KafkaSinkClosedError', 'second:KafkaSinkClosedError']);
    expect(ctx.logs.text()).toContain('Kafka sink closed with unacknowledged events');
  });
});

describe("Kafka sink with SASL against the broker's SASL_PLAINTEXT listener", () => {
  let sasl: NonNullable<BrokerInfo['sasl']>;
  beforeAll(async () => {
    const info = await brokerInfo();
    if (!info.sasl) {
      throw new Error('the test broker has no SASL listener (started by an older broker script): run `node scripts/kafka/broker.mjs stop && node scripts/kafka/broker.mjs start`');
    }
    sasl = info.sasl;
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`authenticates with ${mechanism} and delivers`, async () => {
      const run = runId();
      const topics = topicsFor(run);
      const ctx = sinkContext();
      const sink = createKafkaSink(
        resolveKafkaSinkConfig({ type: 'kafka', brokers: [sasl.bootstrap], topics, sasl: { mechanism, username: sasl.username, password: sasl.password } }),
        ctx,
      );
      await sink.start();
      await sink.write(Array.from({ length: 20 }, (_, i) => detection(run, i)));
      expect(sink.health().state).toBe('ok');
      await sink.close(5000);
      const records = await consumeAll(bootstrap, topics.detections);
      expect(records.map((r) => (JSON.parse(r.value) as FabricEvent).event.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `${run}-${i}`).sort());
      expect(ctx.logs.text()).not.toContain(sasl.password);
    });
  }

  it('refuses to start on a wrong password, naming the cause, without showing the password', async () => {
    const wrong = `not-${sasl.password}-wrong`;
    const ctx = sinkContext();
    const sink = createKafkaSink(
      resolveKafkaSinkConfig({
        type: 'kafka',
        brokers: [sasl.bootstrap],
        topics: topicsFor(runId()),
        sasl: { mechanism: 'scram-sha-256', username: sasl.username, password: wrong },
      }),
      ctx,
    );
    const err = await sink.start().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/Kafka sink cannot start.*SASL.*sink\.sasl/s);
    await sink.close(100);
    expect(err!.message).not.toContain(wrong);
    expect(ctx.logs.text()).not.toContain(wrong);
  });
});

describe("Kafka sink with TLS against the broker's mutual-TLS listener", () => {
  let tls: NonNullable<BrokerInfo['tls']>;
  beforeAll(async () => {
    const info = await brokerInfo();
    if (!info.tls) {
      throw new Error('the test broker has no TLS listener (started by an older broker script): run `node scripts/kafka/broker.mjs stop && node scripts/kafka/broker.mjs start`');
    }
    tls = info.tls;
  });

  it('connects with a CA given as PEM text and a client certificate and key given as paths relative to the config folder', async () => {
    const run = runId();
    const topics = topicsFor(run);
    const ctx = sinkContext({ configDir: dirname(tls.cert) });
    const sink = createKafkaSink(
      resolveKafkaSinkConfig({ type: 'kafka', brokers: [tls.bootstrap], topics, tls: { ca: readFileSync(tls.ca, 'utf8'), cert: basename(tls.cert), key: basename(tls.key) } }),
      ctx,
    );
    await sink.start();
    await sink.write(Array.from({ length: 20 }, (_, i) => detection(run, i)));
    await sink.close(5000);
    const records = await consumeAll(bootstrap, topics.detections);
    expect(records).toHaveLength(20);
    // The client key's PEM text must not leak into logs either.
    expect(ctx.logs.text()).not.toContain('PRIVATE KEY');
  });

  it('refuses to start, naming the TLS failure, when the broker wants a client certificate and none is configured', async () => {
    const sink = createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [tls.bootstrap], topics: topicsFor(runId()), tls: { ca: tls.ca } }), sinkContext());
    await expect(sink.start()).rejects.toThrow(/Kafka sink cannot start.*TLS_ERR_SSL.*sink\.tls/s);
    await sink.close(100);
  });

  it('refuses to start when the broker certificate is not signed by a trusted CA', async () => {
    const sink = createKafkaSink(
      resolveKafkaSinkConfig({ type: 'kafka', brokers: [tls.bootstrap], topics: topicsFor(runId()), tls: { cert: tls.cert, key: tls.key } }),
      sinkContext(),
    );
    await expect(sink.start()).rejects.toThrow(/Kafka sink cannot start.*TLS_UNABLE_TO_VERIFY_LEAF_SIGNATURE/s);
    await sink.close(100);
  });

  it('names the field and the file when a TLS file cannot be read', () => {
    expect(() =>
      createKafkaSink(resolveKafkaSinkConfig({ type: 'kafka', brokers: [tls.bootstrap], tls: { ca: 'no-such-ca.pem' } }), sinkContext({ configDir: '/nonexistent-dir' })),
    ).toThrow(/sink\.tls\.ca: cannot read "no-such-ca\.pem" \(ENOENT\)/);
  });
});
