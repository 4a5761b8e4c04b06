#!/usr/bin/env node
// Kafka delivery benchmark. One process, one broker, same payloads and batch settings:
//   (a) baseline: a bare kafkajs producer sending pre-built messages as fast as it can;
//   (b) Reactive Fabric: the Kafka sink (serialising, keying, bounded buffer, ack tracking) fed in
//       pipeline-sized batches, until every write() resolved on the broker's acknowledgement.
// Then p50/p99 latency from write() to acknowledgement at a paced 10,000 events/s, for both.
// Writes bench/results/kafka.json. Options: --events N (throughput run, default 200000),
// --latency-seconds S (default 10), --rounds R (default 2).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { createKafkaSink, resolveKafkaSinkConfig, EVENT_SCHEMA_VERSION } from '@reactive-fabric/core/runtime';

const { Kafka, logLevel, CompressionTypes, Partitioners } = kafkajs;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The sink's context takes core's own logger and metrics libraries (one prom-client instance).
const coreRequire = createRequire(join(repoRoot, 'core/package.json'));
const pino = coreRequire('pino');
const { Registry } = coreRequire('prom-client');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}
const EVENTS = arg('events', 200_000);
const LATENCY_SECONDS = arg('latency-seconds', 10);
const ROUNDS = arg('rounds', 2);
const RATE = 10_000;
const PIPELINE_BATCH = 100; // orchestrator.event_batch_size default
const PIPELINE_OUTSTANDING = 200; // pipeline.max_buffered_events 20,000 / 100 per batch

// The broker script is idempotent: reuses a running broker or starts one.
execFileSync(process.execPath, [join(repoRoot, 'scripts/kafka/broker.mjs'), 'start', '--no-kcat'], { stdio: ['ignore', 'ignore', 'inherit'] });
const { bootstrap, version: brokerVersion } = JSON.parse(readFileSync(join(repoRoot, '.fabric-test/kafka.json'), 'utf8'));

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const sinkConfig = (topic) =>
  resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], client_id: 'fabric-bench', topics: { detections: topic, status: `${topic}.status` } });
const settings = sinkConfig('x');

function detection(i) {
  const ip = `198.51.100.${(i % 250) + 1}`;
  return {
    '@timestamp': new Date(Date.UTC(2026, 10, 27) + i).toISOString(),
    message: `Failed password for root from ${ip} port 22 ssh2`,
    event: { id: `${run}-${i}`, kind: 'signal', category: ['authentication'], type: ['start'], outcome: 'failure', severity: 73, dataset: 'honeypot.ssh' },
    source: { ip, port: 40000 + (i % 20000) },
    user: { name: 'root' },
    rule: { id: 'rf_failed_authentication', name: 'rf_failed_authentication', description: 'Failed authentication', level: 'high' },
    threat: { framework: 'MITRE ATT&CK', technique: { id: ['T1110'] }, tactic: { name: ['credential-access'] } },
    fabric: {
      collector: `ssh-honeypot-${i % 3}`,
      plugin: '@reactive-fabric/plugin-log-file',
      fingerprint: createHash('sha1').update(`${ip}|rf_failed_authentication`).digest('hex'),
      priority: 'high',
      schema_version: EVENT_SCHEMA_VERSION,
      matches: [{ id: 'rf_failed_authentication', name: 'rf_failed_authentication', title: 'Failed authentication', level: 'high', techniques: ['T1110'], tactics: ['credential-access'] }],
    },
  };
}

/** What the sink would send, built up front: the baseline pays for no serialisation. */
function prebuilt(events) {
  return events.map((e) => ({
    key: e.fabric.fingerprint,
    value: JSON.stringify(e),
    headers: { 'fabric-event-type': e.event.kind, 'fabric-severity': e.fabric.priority, 'fabric-collector': e.fabric.collector, 'fabric-schema-version': e.fabric.schema_version },
  }));
}

const kafka = new Kafka({ clientId: 'fabric-bench-baseline', brokers: [bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
async function topic(name) {
  await admin.createTopics({ topics: [{ topic: name, numPartitions: settings.create_topics.partitions, replicationFactor: 1 }], waitForLeaders: true });
  return name;
}

async function baselineProducer() {
  // Same settings as the sink: idempotent, acks=-1, gzip, one request in flight, same batch size.
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await p.connect();
  return p;
}
const compression = settings.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;

async function baselineThroughput(messages, t) {
  const p = await baselineProducer();
  const start = performance.now();
  for (let i = 0; i < messages.length; i += settings.batch.max_events) {
    await p.send({ topic: t, messages: messages.slice(i, i + settings.batch.max_events), acks: -1, compression });
  }
  const seconds = (performance.now() - start) / 1000;
  await p.disconnect();
  return messages.length / seconds;
}

function newSink(t) {
  return createKafkaSink(sinkConfig(t), { logger: pino({ level: 'warn' }), metrics: new Registry(), stateDir: '/tmp', env: process.env });
}

async function sinkThroughput(events, t) {
  const sink = newSink(t);
  await sink.start();
  const start = performance.now();
  const outstanding = new Set();
  for (let i = 0; i < events.length; i += PIPELINE_BATCH) {
    while (outstanding.size >= PIPELINE_OUTSTANDING) await Promise.race(outstanding);
    const w = sink.write(events.slice(i, i + PIPELINE_BATCH)).then(() => outstanding.delete(w));
    outstanding.add(w);
  }
  await Promise.all(outstanding);
  const seconds = (performance.now() - start) / 1000;
  await sink.close(10_000);
  return events.length / seconds;
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Paced at RATE events/s in batches of PIPELINE_BATCH; latency per event from handing it over to
 * its acknowledgement. `send(batch)` returns a promise that resolves on acknowledgement.
 */
async function pacedLatency(send, total) {
  const latencies = new Float64Array(total);
  const intervalMs = (PIPELINE_BATCH / RATE) * 1000;
  const start = performance.now();
  const pending = [];
  let sent = 0;
  let batchNo = 0;
  while (sent < total) {
    const due = start + batchNo * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const from = sent;
    const n = Math.min(PIPELINE_BATCH, total - sent);
    const t0 = performance.now();
    pending.push(send(from, n).then(() => {
      const dt = performance.now() - t0;
      for (let i = from; i < from + n; i++) latencies[i] = dt;
    }));
    sent += n;
    batchNo++;
  }
  await Promise.all(pending);
  const achieved = total / ((performance.now() - start) / 1000);
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return { events: total, achieved_rate: Math.round(achieved), p50_ms: +percentile(sorted, 0.5).toFixed(2), p99_ms: +percentile(sorted, 0.99).toFixed(2), max_ms: +sorted[sorted.length - 1].toFixed(2) };
}

async function baselineLatency(messages, t) {
  // A bare producer has no batching of its own across calls: each paced batch is one send().
  const p = await baselineProducer();
  const r = await pacedLatency((from, n) => p.send({ topic: t, messages: messages.slice(from, from + n), acks: -1, compression }), messages.length);
  await p.disconnect();
  return r;
}

async function sinkLatency(events, t) {
  const sink = newSink(t);
  await sink.start();
  const r = await pacedLatency((from, n) => sink.write(events.slice(from, from + n)), events.length);
  await sink.close(10_000);
  return r;
}

const events = Array.from({ length: EVENTS }, (_, i) => detection(i));
const messages = prebuilt(events);
console.error(`[bench kafka] Kafka ${brokerVersion} at ${bootstrap}; ${EVENTS} events/run, ~${Math.round(messages.reduce((n, m) => n + m.value.length, 0) / EVENTS)} bytes each, batch.max_events=${settings.batch.max_events}, compression=${settings.compression}`);

// Warm-up: JIT, connections, topic leadership.
await baselineThroughput(messages.slice(0, 5000), await topic(`rf-bench-${run}.warm-a`));
await sinkThroughput(events.slice(0, 5000), await topic(`rf-bench-${run}.warm-b`));

const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const a = await baselineThroughput(messages, await topic(`rf-bench-${run}.a${r}`));
  const b = await sinkThroughput(events, await topic(`rf-bench-${run}.b${r}`));
  rounds.push({ baseline_events_per_s: Math.round(a), fabric_events_per_s: Math.round(b), ratio: +(b / a).toFixed(3) });
  console.error(`[bench kafka] round ${r + 1}: (a) bare kafkajs ${Math.round(a)} ev/s, (b) fabric sink ${Math.round(b)} ev/s, ratio ${(b / a).toFixed(3)}`);
}
const mean = (k) => Math.round(rounds.reduce((n, x) => n + x[k], 0) / rounds.length);

const latencyEvents = RATE * LATENCY_SECONDS;
const latA = await baselineLatency(prebuilt(events.slice(0, latencyEvents).length === latencyEvents ? events.slice(0, latencyEvents) : Array.from({ length: latencyEvents }, (_, i) => detection(i))), await topic(`rf-bench-${run}.lat-a`));
const latB = await sinkLatency(events.length >= latencyEvents ? events.slice(0, latencyEvents) : Array.from({ length: latencyEvents }, (_, i) => detection(i)), await topic(`rf-bench-${run}.lat-b`));
await admin.disconnect();

const result = {
  benchmark: 'kafka',
  date: new Date().toISOString(),
  broker: { version: brokerVersion, bootstrap, nodes: 1 },
  client: 'kafkajs 2.2.4',
  settings: { events_per_run: EVENTS, rounds: ROUNDS, batch_max_events: settings.batch.max_events, linger_ms: settings.batch.linger_ms, compression: settings.compression, acks: -1, idempotent: true, partitions: settings.create_topics.partitions, pipeline_batch: PIPELINE_BATCH },
  path_b: 'KafkaSink.write() in pipeline-sized batches (the orchestrator pipeline is not wired in yet)',
  throughput: {
    baseline_events_per_s: mean('baseline_events_per_s'),
    fabric_events_per_s: mean('fabric_events_per_s'),
    ratio: +(mean('fabric_events_per_s') / mean('baseline_events_per_s')).toFixed(3),
    target_ratio: 0.8,
    rounds,
  },
  latency_at_10k_per_s: { baseline: latA, fabric: latB, target_p99_ms: 250 },
};
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench/results/kafka.json'), JSON.stringify(result, null, 2) + '\n');
console.log(
  `kafka: (a) bare kafkajs ${result.throughput.baseline_events_per_s} ev/s, (b) fabric ${result.throughput.fabric_events_per_s} ev/s, ratio ${result.throughput.ratio} (target >= 0.8); ` +
    `at 10k ev/s fabric p50 ${latB.p50_ms} ms p99 ${latB.p99_ms} ms (target < 250), bare kafkajs p50 ${latA.p50_ms} ms p99 ${latA.p99_ms} ms`,
);
