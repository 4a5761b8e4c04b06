#!/usr/bin/env node
// Correlation across a cluster (issue "Cluster mode, part two"): real `fabric start` processes on
// one broker, 6 log-file collectors, detection and the built-in correlation rules on. Each attacker
// fails 5 times, each failure read by a different collector, so in a cluster its brute force is
// correlated only through the re-keyed correlation topic.
//
// Runs, in this order, in one process and one run: (s) one instance without a `cluster:` section
// (the baseline: correlation in the pipeline), (c1) a cluster of 1 instance, (c3) a cluster of 3.
// 1. Throughput: ATTACKERS × 5 failure lines appended at once (one write per file); timed from the
//    append until a read_committed consumer has seen every brute-force alert. Detections/s = lines /
//    that time. Exactly one alert per attacker is checked.
// 2. Latency: PACED attackers, one every 100 ms: four failures, then 200 ms later the fifth; from
//    the fifth line's append to the alert's arrival at the consumer (committed, so acknowledged by
//    the broker). p50 / p99.
// 3. Changelog bytes per detection (cluster runs): fabric_cluster_correlation_changelog_bytes_total
//    over fabric_cluster_correlation_records_total{kind="detection"}, summed over the instances.
// Prints one line and writes bench/results/cluster-correlation.json. Exit 1 when an alert is missing or repeated.
// Options: --attackers N (default 2000), --paced N (default 200), --quick (400, 50).
// Broker: FABRIC_KAFKA_BROKERS=host:port, else FABRIC_KAFKA_INSTANCE=<name> (node scripts/kafka/broker.mjs
// start --name <name>), else .fabric-test/kafka.json (started if needed). Needs a build (npx tsc -b).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fabricBin = join(repoRoot, 'core/bin/fabric.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
};
const QUICK = process.argv.includes('--quick');
const ATTACKERS = Number(arg('attackers', QUICK ? 400 : 2000));
const PACED = Number(arg('paced', QUICK ? 50 : 200));
const COLLECTORS = 6;
const log = (msg) => console.error(`[bench correlation] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const dist of ['core/dist/cluster/index.js', 'core/dist/correlation/cluster/index.js', 'plugins/log-file/dist/index.js']) {
  if (!existsSync(join(repoRoot, dist))) throw new Error(`${dist} is missing: build first (node scripts/pnpm.mjs exec tsc -b)`);
}

function broker() {
  if (process.env.FABRIC_KAFKA_BROKERS) return { bootstrap: process.env.FABRIC_KAFKA_BROKERS.split(',')[0] };
  const name = process.env.FABRIC_KAFKA_INSTANCE;
  if (name) return JSON.parse(readFileSync(join(repoRoot, `.fabric-test/kafka-${name}.json`), 'utf8'));
  execFileSync(process.execPath, [join(repoRoot, 'scripts/kafka/broker.mjs'), 'start', '--no-kcat'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(readFileSync(join(repoRoot, '.fabric-test/kafka.json'), 'utf8'));
}
const { bootstrap } = broker();
const kafka = new Kafka({ clientId: 'fabric-bench-correlation', brokers: [bootstrap], logLevel: logLevel.NOTHING });
const work = mkdtempSync(join(tmpdir(), 'rf-bench-correlation-'));
const logDir = join(repoRoot, 'bench/results/cluster-correlation-logs');
rmSync(logDir, { recursive: true, force: true });
mkdirSync(logDir, { recursive: true });
const runBase = Date.now().toString(36);

function stamp(at) {
  return `${at.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(at.getUTCDate()).padStart(2, ' ')} ${at.toISOString().slice(11, 19)}`;
}
/** Attacker k's address: the benchmarking range (RFC 2544), 198.18.0.0/15. */
const ipOf = (k) => `198.18.${k >> 8}.${k & 255}`;
let pid = 1000;
const failure = (k, j) => `${stamp(new Date())} honeypot sshd[${pid++}]: Failed password for root from ${ipOf(k)} port ${20000 + ((k * 5 + j) % 40000)} ssh2\n`;
/** The collector that reads attacker k's j-th failure: five different ones. */
const collectorOf = (k, j) => (k + j) % COLLECTORS;
const quantile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : undefined);

class Instance {
  constructor(id, dir, config) {
    Object.assign(this, { id, dir, config });
  }
  start() {
    const fd = openSync(join(logDir, `${this.dir.split('/').pop()}-${this.id}.log`), 'w');
    this.child = spawn(process.execPath, [fabricBin, 'start', '-c', this.config], {
      cwd: this.dir,
      env: { ...process.env, FABRIC_INSTANCE_ID: this.id },
      stdio: ['ignore', 'ignore', fd],
    });
    closeSync(fd);
    this.exit = new Promise((r) => this.child.once('exit', r));
  }
  async fetch(path) {
    const state = join(this.dir, `state-${this.id}`);
    const url = readFileSync(join(state, 'admin-url'), 'utf8').trim();
    const token = readFileSync(join(state, 'admin-token'), 'utf8').trim();
    const res = await fetch(new URL(path, url), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return res;
  }
  async metric(name, labels = '') {
    let n = 0;
    for (const line of (await (await this.fetch('/metrics')).text()).split('\n'))
      if (line.startsWith(`${name}${labels} `) || (!labels && line.startsWith(`${name}{`))) n += Number(line.slice(line.lastIndexOf(' ') + 1));
    return n;
  }
  async stop() {
    this.child.kill('SIGTERM');
    await this.exit;
  }
}

async function until(what, read, ok, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 500)}`);
    await sleep(100);
  }
}

/** Brute-force alerts by address, with the wall time each arrived at a read_committed consumer. */
async function alertsOf(topic) {
  const seen = new Map();
  const consumer = kafka.consumer({ groupId: `bench-correlation-${topic}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const at = Date.now();
      const e = JSON.parse(message.value.toString());
      if (e?.fabric?.alert_type !== 'correlation' || e.fabric.rule?.name !== 'rf_brute_force') return;
      const list = seen.get(e.source?.ip) ?? [];
      list.push(at);
      seen.set(e.source?.ip, list);
    },
  });
  return { seen, stop: () => consumer.disconnect() };
}

async function measure(label, instances) {
  const dir = join(work, label);
  mkdirSync(dir, { recursive: true });
  const topic = `rf-bench-corr-${runBase}-${label}.threat_detected`;
  const files = Array.from({ length: COLLECTORS }, (_, c) => join(dir, `auth-${c}.log`));
  for (const f of files) writeFileSync(f, '');
  const config = join(dir, 'fabric.yaml');
  writeFileSync(
    config,
    `state_dir: ./state-\${FABRIC_INSTANCE_ID}
log_level: warn
orchestrator: { collection_interval_seconds: 0.2, event_batch_size: 500 }
admin: { enabled: true, port: 0 }
sink:
  type: kafka
  brokers: ["${bootstrap}"]
  topics: { detections: ${topic}, status: rf-bench-corr-${runBase}-${label}.status, dead_letter: rf-bench-corr-${runBase}-${label}.dead_letter }
${instances > 0 ? `cluster: { group: bench-corr-${runBase}-${label}, session_timeout_seconds: 6, heartbeat_interval_seconds: 0.5 }\n` : ''}collectors:
${files.map((f, c) => `  - { id: auth-${c}, plugin: "@reactive-fabric/plugin-log-file", config: { base_dir: ., paths: [auth-${c}.log], format: syslog, syslog_timezone: UTC } }`).join('\n')}
`,
  );
  const procs = Array.from({ length: Math.max(1, instances) }, (_, i) => new Instance(`n${i}`, dir, config));
  for (const p of procs) p.start();
  await until(
    `${label}: every collector running`,
    async () => {
      const states = [];
      for (const p of procs) for (const c of (await (await p.fetch('/collectors')).json()).collectors ?? []) if (c.state === 'running') states.push(c.id);
      if (instances > 0) {
        const view = await (await procs[0].fetch('/cluster')).json();
        if (view.members.length !== instances) return [];
      }
      return states;
    },
    (s) => new Set(s).size === COLLECTORS,
    120_000,
  );
  const alerts = await alertsOf(topic);
  await sleep(2000);

  // 1. Throughput.
  const byFile = files.map(() => '');
  for (let k = 0; k < ATTACKERS; k++) for (let j = 0; j < 5; j++) byFile[collectorOf(k, j)] += failure(k, j);
  const t0 = performance.now();
  files.forEach((f, c) => appendFileSync(f, byFile[c]));
  await until(
    `${label}: ${ATTACKERS} brute-force alerts`,
    () => alerts.seen.size,
    (n) => n >= ATTACKERS,
    600_000,
  );
  const seconds = (performance.now() - t0) / 1000;

  // 2. Latency, paced.
  const latencies = [];
  const pending = [];
  for (let i = 0; i < PACED; i++) {
    const k = ATTACKERS + i;
    for (let j = 0; j < 4; j++) appendFileSync(files[collectorOf(k, j)], failure(k, j));
    pending.push(
      (async () => {
        await sleep(200);
        appendFileSync(files[collectorOf(k, 4)], failure(k, 4));
        const fifth = Date.now();
        const at = await until(
          `${label}: alert of ${ipOf(k)}`,
          () => alerts.seen.get(ipOf(k))?.[0],
          (v) => v !== undefined,
          120_000,
        );
        latencies.push(at - fifth);
      })(),
    );
    await sleep(100);
  }
  await Promise.all(pending);
  await sleep(3000);
  const repeated = [...alerts.seen.values()].filter((l) => l.length > 1).length;
  const missing = ATTACKERS + PACED - alerts.seen.size;
  let changelogBytes = 0;
  let correlated = 0;
  if (instances > 0)
    for (const p of procs) {
      changelogBytes += await p.metric('fabric_cluster_correlation_changelog_bytes_total');
      correlated += await p.metric('fabric_cluster_correlation_records_total', '{kind="detection"}');
    }
  await alerts.stop();
  for (const p of procs) await p.stop();
  latencies.sort((a, b) => a - b);
  const r = {
    label,
    instances,
    detections: ATTACKERS * 5,
    seconds: Math.round(seconds * 100) / 100,
    detectionsPerSecond: Math.round((ATTACKERS * 5) / seconds),
    latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1), n: latencies.length },
    ...(instances > 0 ? { changelogBytesPerDetection: correlated ? Math.round(changelogBytes / correlated) : undefined, correlated } : {}),
    missing,
    repeated,
  };
  log(JSON.stringify(r));
  return r;
}

const startedAt = new Date();
const load = loadavg()[0];
const runs = [];
for (const [label, n] of [
  ['single', 0],
  ['cluster1', 1],
  ['cluster3', 3],
])
  runs.push(await measure(label, n));
const [s, c1, c3] = runs;
const result = {
  bench: 'cluster-correlation',
  startedAt: startedAt.toISOString(),
  machine: { cpus: cpus().length, load1: Math.round(load * 10) / 10 },
  attackers: ATTACKERS,
  paced: PACED,
  runs,
  ratios: {
    cluster1VsSingle: Math.round((c1.detectionsPerSecond / s.detectionsPerSecond) * 100) / 100,
    cluster3VsCluster1: Math.round((c3.detectionsPerSecond / c1.detectionsPerSecond) * 100) / 100,
  },
};
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench/results/cluster-correlation.json'), `${JSON.stringify(result, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
const bad = runs.filter((r) => r.missing || r.repeated);
console.log(
  `cluster correlation: single ${s.detectionsPerSecond} det/s, cluster(1) ${c1.detectionsPerSecond} (${result.ratios.cluster1VsSingle} of single), cluster(3) ${c3.detectionsPerSecond} (${result.ratios.cluster3VsCluster1} of cluster(1)); ` +
    `alert latency p50/p99 ms single ${s.latencyMs.p50}/${s.latencyMs.p99}, cluster(1) ${c1.latencyMs.p50}/${c1.latencyMs.p99}, cluster(3) ${c3.latencyMs.p50}/${c3.latencyMs.p99}; ` +
    `changelog bytes/detection ${c1.changelogBytesPerDetection}/${c3.changelogBytesPerDetection}; missing ${runs.reduce((n, r) => n + r.missing, 0)}, repeated ${runs.reduce((n, r) => n + r.repeated, 0)}`,
);
process.exit(bad.length ? 1 : 0);
