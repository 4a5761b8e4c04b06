#!/usr/bin/env node
// Cluster-mode spike: what does one Kafka transaction per batch cost with kafkajs 2.2.4 on this broker?
// Exactly-once sources commit each batch's events and its checkpoint in one transaction, back to back.
// kafkajs retries CONCURRENT_TRANSACTIONS (the broker still writing the previous commit's markers)
// after retry.initialRetryTime, 300 ms by default — the figure to watch. Same process, same broker:
//   (a) baseline: an idempotent producer, one send of the batch per step (acks=all), no transaction;
//   (b) a transactional producer with kafkajs's default retry: begin, send the batch, commit;
//   (c) the same with retry.initialRetryTime 10 ms.
// Prints per-step latency p50/p99 and events/s for batches of 1 and of 500 events, the ratios (b)/(a)
// and (c)/(a), and writes bench/results/cluster-transactions.json.
// Options: --steps N (default 100). Broker: FABRIC_KAFKA_BROKERS, else .fabric-test/kafka.json
// (started with `node scripts/kafka/broker.mjs start` if needed).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const stepsArg = process.argv.indexOf('--steps');
const STEPS = stepsArg === -1 ? 100 : Number(process.argv[stepsArg + 1]);

function broker() {
  if (process.env.FABRIC_KAFKA_BROKERS) return { bootstrap: process.env.FABRIC_KAFKA_BROKERS, version: 'external' };
  execFileSync(process.execPath, [join(repoRoot, 'scripts/kafka/broker.mjs'), 'start', '--no-kcat'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(readFileSync(join(repoRoot, '.fabric-test/kafka.json'), 'utf8'));
}

const { bootstrap, version } = broker();
const run = Date.now().toString(36);
const value = JSON.stringify({ event: { kind: 'alert' }, message: 'x'.repeat(400) });

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function measure(name, batch, makeProducer, transactional) {
  const kafka = new Kafka({ clientId: `bench-${name}`, brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `rf-bench-txn-${run}-${name}-${batch}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = makeProducer(kafka, `${topic}-tx`);
  await producer.connect();
  const messages = Array.from({ length: batch }, (_, i) => ({ key: `k${i % 64}`, value }));
  const latencies = [];
  // Two warm-up steps: metadata, producer id, the coordinator lookup.
  for (let i = 0; i < STEPS + 2; i++) {
    const t = process.hrtime.bigint();
    if (transactional) {
      const txn = await producer.transaction();
      await txn.send({ topic, messages, acks: -1 });
      await txn.commit();
    } else {
      await producer.send({ topic, messages, acks: -1 });
    }
    if (i >= 2) latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await producer.disconnect();
  const total = latencies.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  return {
    name,
    batch,
    steps: STEPS,
    p50_ms: +quantile(latencies, 0.5).toFixed(2),
    p99_ms: +quantile(latencies, 0.99).toFixed(2),
    events_per_s: Math.round((STEPS * batch) / (total / 1000)),
  };
}

const idempotent = (kafka) => kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const txnDefault = (kafka, id) => kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
const txnFastRetry = (kafka, id) => kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1, retry: { initialRetryTime: 10, retries: 10 } });

const results = [];
for (const batch of [1, 500]) {
  const a = await measure('baseline-idempotent', batch, idempotent, false);
  const b = await measure('txn-default-retry', batch, txnDefault, true);
  const c = await measure('txn-retry-10ms', batch, txnFastRetry, true);
  for (const r of [a, b, c]) console.log(`  batch ${String(batch).padStart(3)}  ${r.name.padEnd(20)} p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  ${r.events_per_s} ev/s`);
  results.push({
    batch,
    baseline: a,
    txn_default_retry: b,
    txn_retry_10ms: c,
    ratio_default: +(b.events_per_s / a.events_per_s).toFixed(3),
    ratio_fast_retry: +(c.events_per_s / a.events_per_s).toFixed(3),
  });
}
const r500 = results.find((r) => r.batch === 500);
const r1 = results.find((r) => r.batch === 1);
console.log(
  `cluster-transactions: batch 500 txn/idempotent ${r500.ratio_default} (default retry), ${r500.ratio_fast_retry} (10 ms retry); batch 1 txn p50 ${r1.txn_default_retry.p50_ms} ms vs ${r1.baseline.p50_ms} ms (default), ${r1.txn_retry_10ms.p50_ms} ms (10 ms retry)`,
);
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench/results/cluster-transactions.json'), `${JSON.stringify({ kafka: version, kafkajs: '2.2.4', steps: STEPS, results }, null, 2)}\n`);
