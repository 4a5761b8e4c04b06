#!/usr/bin/env node
// Cluster-mode benchmark: real `fabric start` processes (node core/bin/fabric.js) on one broker and
// one config — 8 log-file collectors, detection and correlation off, publish: all — and a
// read_committed kafkajs consumer that counts every line by its seq=N.
//
// 1. Throughput, the same run for each size:
//    (s) baseline: one instance without a `cluster:` section (the plain Kafka sink, local checkpoints);
//    (c1, c2, c3) 1, 2, 3 instances with the `cluster:` section (slot transactions, Kafka checkpoints).
//    The cluster's internal topics are created first (--cold-topics: by the instances as they start) and
//    the instances start one after another (--together: at once), on empty log files (docs/cluster-bench.md
//    says why: product problems 1 and 2). Once they agree on one view with every collector running,
//    the bench appends EVENTS lines (EVENTS/8 per file, one write each) and times from that append
//    until the consumer has seen every line. 0 lost and 0 duplicated is checked 2 s after the last line.
//    Events/s, the ratios c1/s and cn/c1, and CPU µs per event: each instance's CPU time over the data
//    phase (utime+stime of /proc/<pid>/stat: all its threads) over the events it published over it
//    (fabric_events_published_total on its /metrics); also the broker's CPU per event (our own broker).
// 2. Rebalance time, with max(2, largest --instances) instances and a steady trickle of lines:
//    TRIALS × (join, leave by SIGTERM of the oldest member, join, kill -9 of the oldest member).
//    Each is timed from the spawn or the signal until every live instance's GET /cluster shows
//    the same generation, exactly the live members and the same owner (among them) for every
//    collector, and each collector runs on its owner and nowhere else (each instance's GET /collectors).
//    Polled every 100 ms. 2 s later the shared status view (state/stateFrom in GET /cluster) is checked too.
//    Kill includes the session timeout (the coordinator only then drops the member): also given
//    minus it. The trickle's lines are checked for 0 lost / 0 duplicated after the last trial.
// Prints a one-line summary and writes bench/results/cluster-run.json (bench/results is git-ignored),
// each instance's log in bench/results/cluster-run-logs/. Exit code 1 on a lost or duplicated line or a part that never settled.
// Options: --events N (default 200000), --trials T (default 5), --instances 1,2,3 (default),
// --trickle L lines/s during the rebalance trials (default 400), --quick (16000 events, 1 trial, 1,2),
// --together, --cold-topics.
// Broker: FABRIC_KAFKA_BROKERS=host:port, else FABRIC_KAFKA_INSTANCE=<name> (.fabric-test/kafka-<name>.json,
// from `node scripts/kafka/broker.mjs start --name <name>`), else .fabric-test/kafka.json (started if needed).
// Needs a build: the CLI runs from dist/.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { clusterNames } from '../../core/dist/cluster/config.js';
import { ensureClusterTopics } from '../../core/dist/cluster/topics.js';

const { Kafka, logLevel } = kafkajs;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fabricBin = join(repoRoot, 'core/bin/fabric.js');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
}
const QUICK = process.argv.includes('--quick');
const COLLECTORS = 8;
const EVENTS = Math.ceil(Number(arg('events', QUICK ? 16_000 : 200_000)) / COLLECTORS) * COLLECTORS;
const PER_COLLECTOR = EVENTS / COLLECTORS;
const TRIALS = Number(arg('trials', QUICK ? 1 : 5));
const SIZES = String(arg('instances', QUICK ? '1,2' : '1,2,3'))
  .split(',')
  .map(Number)
  .filter((n) => n >= 1);
const TRICKLE = Number(arg('trickle', 400));
// --cold-topics: let the first instance create the cluster's internal topics as it starts (see prepareTopics).
const COLD_TOPICS = process.argv.includes('--cold-topics');
// --together: start a run's instances at once instead of one after another.
const TOGETHER = process.argv.includes('--together');
const SESSION_S = 6;
const HEARTBEAT_S = 0.5;
const EVENT_BATCH = 500;
const POLL_MS = 100;
if (!Number.isInteger(EVENTS) || EVENTS < COLLECTORS || !(TRIALS >= 0) || SIZES.length === 0) {
  console.error('usage: run.mjs [--events N] [--trials T] [--instances 1,2,3] [--trickle L] [--quick]');
  process.exit(2);
}

for (const dist of ['core/dist/cluster/index.js', 'core/dist/cli/main.js', 'plugins/log-file/dist/index.js']) {
  if (!existsSync(join(repoRoot, dist))) throw new Error(`${dist} is missing: build first (node scripts/pnpm.mjs exec tsc -b); the CLI runs from dist/`);
}

function broker() {
  if (process.env.FABRIC_KAFKA_BROKERS) return { bootstrap: process.env.FABRIC_KAFKA_BROKERS.split(',')[0], version: 'external' };
  const name = process.env.FABRIC_KAFKA_INSTANCE;
  if (name) {
    const file = join(repoRoot, `.fabric-test/kafka-${name}.json`);
    if (!existsSync(file)) throw new Error(`${file} is missing: start it with node scripts/kafka/broker.mjs start --name ${name}`);
    return JSON.parse(readFileSync(file, 'utf8'));
  }
  execFileSync(process.execPath, [join(repoRoot, 'scripts/kafka/broker.mjs'), 'start', '--no-kcat'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(readFileSync(join(repoRoot, '.fabric-test/kafka.json'), 'utf8'));
}
const { bootstrap, version: brokerVersion, pid: brokerPid } = broker();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const runBase = Date.now().toString(36);
const work = mkdtempSync(join(tmpdir(), 'rf-bench-cluster-'));
const log = (msg) => console.error(`[bench cluster] ${msg}`);
const failures = [];
const logDir = join(repoRoot, 'bench/results/cluster-run-logs');
rmSync(logDir, { recursive: true, force: true });
mkdirSync(logDir, { recursive: true });

let clockTick = 100;
try {
  clockTick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // Linux's usual USER_HZ
}
/** CPU seconds (user + system, every thread) of a live process; undefined once it is gone. */
function cpuSeconds(pid) {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTick; // fields 14 and 15 (utime, stime)
  } catch {
    return undefined;
  }
}

function quantile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : undefined;
}
const r1 = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);
const r3 = (x) => (x === undefined ? undefined : Math.round(x * 1000) / 1000);

/** An sshd failure line; seq= makes every line identifiable in the topic (as core/test/kafka/stream.ts writes them). */
function syslogLine(seq) {
  const ts = new Date(Date.UTC(2026, 10, 27, 8, 0, 0) + seq * 10);
  const stamp = `${ts.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(ts.getUTCDate()).padStart(2, ' ')} ${ts.toISOString().slice(11, 19)}`;
  return `${stamp} honeypot sshd[${1000 + (seq % 5000)}]: Failed password for root from 198.51.100.${(seq % 250) + 1} port ${20000 + (seq % 40000)} ssh2 seq=${seq}\n`;
}

const kafka = new Kafka({ clientId: 'fabric-bench-cluster', brokers: [bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();

async function topicReady(topic) {
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0].partitions.length > 0 && meta.topics[0].partitions.every((p) => p.leader >= 0);
  } catch {
    return false;
  }
}

async function until(what, read, ok, timeoutMs, everyMs = POLL_MS) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 1500)}`);
    await sleep(everyMs);
  }
}

/** Every line's seq seen by a read_committed consumer, how often, and when the first one came. */
class Tally {
  counts = new Map();
  firstAt;
  waiters = [];

  async start(topic) {
    this.consumer = kafka.consumer({ groupId: `fabric-bench-tally-${runBase}-${topic}`, maxWaitTimeInMs: 100, maxBytes: 50 * 1024 * 1024 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const seq = /seq=(\d+)/.exec(m.value?.toString() ?? '')?.[1];
          if (seq === undefined) continue;
          this.firstAt ??= performance.now();
          this.counts.set(Number(seq), (this.counts.get(Number(seq)) ?? 0) + 1);
        }
        const now = performance.now();
        for (const w of this.waiters.filter((x) => this.counts.size >= x.n)) w.resolve(now);
        this.waiters = this.waiters.filter((x) => this.counts.size < x.n);
      },
    });
  }

  /** Resolves with the time the n-th distinct line arrived. */
  seenAll(n, timeoutMs) {
    if (this.counts.size >= n) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const w = { n, resolve };
      this.waiters.push(w);
      setTimeout(() => reject(new Error(`the consumer saw ${this.counts.size} of ${n} lines after ${timeoutMs} ms`)), timeoutMs).unref();
    });
  }

  check(from, to) {
    let lost = 0;
    let duplicated = 0;
    for (let s = from; s < to; s++) {
      const c = this.counts.get(s) ?? 0;
      if (c === 0) lost++;
      else duplicated += c - 1;
    }
    return { lost, duplicated };
  }

  async stop() {
    await this.consumer?.disconnect().catch(() => undefined);
  }
}

const live = new Set();

class Instance {
  constructor(id, dir, config) {
    this.id = id;
    this.dir = dir;
    this.config = config;
  }

  start() {
    const env = { ...process.env, FABRIC_INSTANCE_ID: this.id };
    delete env.FABRIC_ADMIN_TOKEN;
    // Each instance's log (pino JSON on stderr) is kept in bench/results/cluster-run-logs/ for a look afterwards.
    this.logFile = join(logDir, `${this.dir.split('/').pop()}-${this.id}.log`);
    const fd = openSync(this.logFile, 'w');
    this.spawnedAt = performance.now();
    this.spawnedWall = Date.now();
    this.child = spawn(process.execPath, [fabricBin, 'start', '-c', this.config], { cwd: this.dir, env, stdio: ['ignore', 'ignore', fd] });
    closeSync(fd);
    this.exit = new Promise((r) => this.child.once('exit', (code, sig) => r(code ?? sig)));
    live.add(this);
    this.exit.then(() => live.delete(this));
  }

  /** ms from the spawn to the first log line whose msg starts with `msg` (the log's own clock). */
  logged(msg) {
    try {
      for (const line of readFileSync(this.logFile, 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        const d = JSON.parse(line);
        if (typeof d.msg === 'string' && d.msg.startsWith(msg)) return Date.parse(d.time) - this.spawnedWall;
      }
    } catch {
      // not written yet
    }
    return undefined;
  }

  /** The last `n` characters of its log. */
  tail(n = 2000) {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-n);
    } catch {
      return '';
    }
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stateDir() {
    return join(this.dir, `state-${this.id}`);
  }

  async fetch(path) {
    this.url ??= readFileSync(join(this.stateDir, 'admin-url'), 'utf8').trim();
    this.token ??= readFileSync(join(this.stateDir, 'admin-token'), 'utf8').trim();
    const res = await fetch(new URL(path, this.url), { headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`${this.id} ${path}: ${res.status} ${await res.text()}`);
    return res;
  }

  async api(path) {
    return (await this.fetch(path)).json();
  }

  /** What this instance's /metrics says now, and its CPU time from /proc. */
  async sample() {
    const text = await (await this.fetch('/metrics')).text();
    const sum = (name) => {
      let n = 0;
      for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
      return n;
    };
    return {
      cpu: cpuSeconds(this.child.pid) ?? sum('process_cpu_seconds_total'),
      published: sum('fabric_events_published_total'),
      rebalanceSum: sum('fabric_cluster_rebalance_seconds_sum'),
      rebalanceCount: sum('fabric_cluster_rebalance_seconds_count'),
      transactions: sum('fabric_cluster_transactions_total'),
    };
  }

  async stop(signal = 'SIGTERM') {
    if (this.alive) this.child.kill(signal);
    return this.exit;
  }
}

function writeSetup(name, clustered) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const ids = Array.from({ length: COLLECTORS }, (_, k) => `src-${k}`);
  for (const id of ids) writeFileSync(join(dir, `${id}.log`), '');
  const topic = `rf-bench-cluster-${runBase}-${name}.threat_detected`;
  const config = join(dir, 'fabric.yaml');
  writeFileSync(
    config,
    `state_dir: ./state-\${FABRIC_INSTANCE_ID}
log_level: info
detection: { enabled: false }
correlation: { enabled: false }
pipeline: { publish: all }
orchestrator:
  collection_interval_seconds: 0.2
  event_batch_size: ${EVENT_BATCH}
admin: { enabled: true, port: 0 }
supervisor: { shutdown_timeout_seconds: 5 }
sink:
  type: kafka
  brokers: ["${bootstrap}"]
  topics:
    detections: ${topic}
    status: rf-bench-cluster-${runBase}-${name}.honeypot_status
    dead_letter: rf-bench-cluster-${runBase}-${name}.dead_letter
${
  clustered
    ? `cluster:
  group: bench-${runBase}-${name}
  session_timeout_seconds: ${SESSION_S}
  heartbeat_interval_seconds: ${HEARTBEAT_S}
`
    : ''
}collectors:
${ids.map((id) => `  - id: ${id}\n    plugin: "@reactive-fabric/plugin-log-file"\n    config: { base_dir: ., paths: [${id}.log], format: syslog, syslog_timezone: UTC }`).join('\n')}
`,
  );
  return { dir, config, topic, files: ids.map((id) => join(dir, `${id}.log`)) };
}

/**
 * Settled: every live instance answers GET /cluster with the same generation, exactly `members`
 * and the same owner for each collector (an owner among the members), and each collector runs on
 * its owner and nowhere else, as the instances' own GET /collectors say. The shared status view
 * (state/stateFrom in GET /cluster) is not required: a stopping instance can leave a wrong status in
 * it (see staleStatuses), and the collector runs all the same.
 */
function settled(views, locals, members) {
  const want = [...members].sort().join(',');
  if (
    !views.every(
      (v) =>
        v.generation === views[0].generation &&
        v.members
          .map((m) => m.instance)
          .sort()
          .join(',') === want,
    )
  )
    return false;
  if (new Set(views.map((v) => JSON.stringify(v.collectors.map((c) => [c.id, c.owner])))).size !== 1) return false;
  const runningOn = new Map();
  for (const l of locals) for (const c of l.collectors) if (c.state === 'running') runningOn.set(c.id, [...(runningOn.get(c.id) ?? []), l.instance]);
  return views[0].collectors.every((c) => c.owner && members.has(c.owner) && (runningOn.get(c.id) ?? []).join() === c.owner);
}

/** Collectors GET /cluster shows other than running as reported by their owner (the shared status topic's view). */
function staleStatuses(view) {
  return view.collectors.filter((c) => !(c.state === 'running' && c.stateFrom === c.owner)).map((c) => ({ id: c.id, owner: c.owner, state: c.state, stateFrom: c.stateFrom }));
}

async function views(instances) {
  return Promise.all(
    instances.map(async (i) => {
      const [view, local] = await Promise.all([i.api('/cluster'), i.api('/collectors')]);
      return { view, local: { instance: i.id, collectors: local.collectors } };
    }),
  ).catch(() => undefined);
}

/** Polls the instances until they settle on `members`; the times (ms after `t0`) the member set and the whole view were first right. */
async function watchRebalance(instances, members, t0, timeoutMs) {
  const want = [...members].sort().join(',');
  let membersMs;
  const end = t0 + timeoutMs;
  for (;;) {
    const got = await views(instances);
    const now = performance.now();
    if (got) {
      const vs = got.map((g) => g.view);
      if (
        membersMs === undefined &&
        vs.every(
          (v) =>
            v.members
              .map((m) => m.instance)
              .sort()
              .join(',') === want,
        )
      )
        membersMs = now - t0;
      if (
        settled(
          vs,
          got.map((g) => g.local),
          members,
        )
      )
        return { membersMs: membersMs ?? now - t0, settledMs: now - t0, generation: vs[0].generation, owners: vs[0].collectors.map((c) => [c.id, c.owner]) };
    }
    if (now > end) throw new Error(`no settled view of ${want} after ${timeoutMs} ms; last: ${JSON.stringify(got).slice(0, 4000)}`);
    await sleep(POLL_MS);
  }
}

async function stopAll(instances) {
  const codes = await Promise.all(instances.map((i) => i.stop('SIGTERM')));
  return Object.fromEntries(instances.map((i, k) => [i.id, codes[k]]));
}

/**
 * The cluster's internal topics (64 partitions each), created as fabric creates them and waited on
 * until every partition answers ListOffsets. Without this, the first instances join while the
 * broker is still making the new partitions' leaders: on this loaded 2-core machine that made the
 * group rebalance many times in its first second, assignments failed with NOT_LEADER_OR_FOLLOWER,
 * and collectors were left owned but never started (see docs/cluster-bench.md). --cold-topics skips it.
 */
async function prepareTopics(group) {
  if (COLD_TOPICS) return undefined;
  const t0 = performance.now();
  const names = clusterNames({ group });
  await ensureClusterTopics(admin, names, 1);
  await until(
    'every partition of the cluster topics to answer ListOffsets',
    async () => {
      for (const t of [names.slotsTopic, names.checkpointsTopic]) await admin.fetchTopicOffsets(t);
      return true;
    },
    Boolean,
    60_000,
    250,
  );
  return Math.round(performance.now() - t0);
}

/** Starts the instances (one after another, each once the cluster settled with it, unless --together); the ms it took. */
async function startCluster(instances, setup, tally, clustered) {
  const t0 = performance.now();
  const groups = TOGETHER || !clustered ? [instances] : instances.map((_, k) => instances.slice(0, k + 1));
  let tallyStarted = false;
  for (const upTo of groups) {
    for (const i of upTo) if (!i.child) i.start();
    if (!tallyStarted) {
      await until('the events topic', () => topicReady(setup.topic), Boolean, 60_000, 250);
      await tally.start(setup.topic);
      tallyStarted = true;
    }
    if (clustered) {
      await watchRebalance(upTo, new Set(upTo.map((i) => i.id)), t0, 90_000);
    } else {
      await until(
        'every collector running',
        () => upTo[0].api('/collectors'),
        (r) => r.collectors.length === COLLECTORS && r.collectors.every((c) => c.state === 'running'),
        60_000,
      );
    }
  }
  return performance.now() - t0;
}

// ---------- 1. throughput ----------
async function throughputRun(label, n, clustered) {
  const setup = writeSetup(label, clustered);
  const perFile = setup.files.map((_, k) => {
    let text = '';
    for (let i = 0; i < PER_COLLECTOR; i++) text += syslogLine(k * PER_COLLECTOR + i);
    return text;
  });
  const instances = Array.from({ length: n }, (_, k) => new Instance(`${label}-${String.fromCharCode(97 + k)}`, setup.dir, setup.config));
  const tally = new Tally();
  try {
    const topicsMs = clustered ? await prepareTopics(`bench-${runBase}-${label}`) : undefined;
    const startupMs = await startCluster(instances, setup, tally, clustered);
    const before = await Promise.all(instances.map((i) => i.sample()));
    const brokerBefore = cpuSeconds(brokerPid);
    const selfBefore = process.cpuUsage();
    const tAppend = performance.now();
    for (const [k, f] of setup.files.entries()) appendFileSync(f, perFile[k]);
    const tDone = await tally.seenAll(EVENTS, Math.max(180_000, EVENTS * 5));
    const after = await Promise.all(instances.map((i) => i.sample()));
    const brokerCpu = brokerBefore === undefined ? undefined : cpuSeconds(brokerPid) - brokerBefore;
    const self = process.cpuUsage(selfBefore);
    // A duplicate would come after the last new line.
    await sleep(2000);
    const { lost, duplicated } = tally.check(0, EVENTS);
    const seconds = (tDone - tAppend) / 1000;
    const perInstance = instances.map((inst, k) => {
      const cpu = after[k].cpu - before[k].cpu;
      const published = after[k].published - before[k].published;
      return {
        instance: inst.id,
        published,
        cpu_seconds: r3(cpu),
        cpu_us_per_event: published > 0 ? r1((cpu * 1e6) / published) : undefined,
        cpu_share_of_one_core: r3(cpu / seconds),
        transactions: clustered ? after[k].transactions - before[k].transactions : undefined,
      };
    });
    const totalCpu = perInstance.reduce((s, p) => s + p.cpu_seconds, 0);
    const result = {
      label,
      instances: n,
      clustered,
      events: EVENTS,
      internal_topics_ready_ms: topicsMs,
      startup_to_steady_ms: Math.round(startupMs),
      started: TOGETHER ? 'together' : 'one after another',
      seconds: r3(seconds),
      events_per_s: Math.round(EVENTS / seconds),
      first_seen_after_append_ms: Math.round(tally.firstAt - tAppend),
      events_per_s_from_first_seen: Math.round(EVENTS / ((tDone - tally.firstAt) / 1000)),
      lost,
      duplicated,
      published_total: perInstance.reduce((s, p) => s + p.published, 0),
      per_instance: perInstance,
      cpu_us_per_event_all_instances: r1((totalCpu * 1e6) / EVENTS),
      broker_cpu_us_per_event: brokerCpu === undefined ? undefined : r1((brokerCpu * 1e6) / EVENTS),
      bench_consumer_cpu_us_per_event: r1((self.user + self.system) / EVENTS),
      load_average_at_end: loadavg().map((x) => +x.toFixed(1)),
    };
    result.exit_codes = await stopAll(instances);
    log(
      `${label}: ${n} instance(s)${clustered ? ', cluster' : ', no cluster: section'}: ${result.events_per_s} ev/s (${EVENTS} lines in ${result.seconds} s from the append; ${result.events_per_s_from_first_seen} ev/s from the first line seen), lost ${lost}, duplicated ${duplicated}; ` +
        `CPU µs/event ${perInstance.map((p) => `${p.instance} ${p.cpu_us_per_event} (${p.published} ev, ${Math.round(p.cpu_share_of_one_core * 100)}% of a core)`).join(', ')}; all instances ${result.cpu_us_per_event_all_instances}, broker ${result.broker_cpu_us_per_event}; start-up to steady ${result.startup_to_steady_ms} ms; exit ${JSON.stringify(result.exit_codes)}`,
    );
    return result;
  } catch (err) {
    for (const i of instances) if (i.alive) log(`${i.id} stderr tail: ${i.tail()}`);
    throw err;
  } finally {
    await tally.stop();
    for (const i of instances) if (i.alive) i.child.kill('SIGKILL');
  }
}

// ---------- 2. rebalance ----------
async function rebalanceTrials(size) {
  const setup = writeSetup('rebalance', true);
  let seq = 0;
  let file = 0;
  // The honeypots keep logging: TRICKLE lines/s over the 8 files, every 50 ms.
  const perTick = Math.max(1, Math.round(TRICKLE / 20));
  const trickle = setInterval(() => {
    for (let i = 0; i < perTick; i++) appendFileSync(setup.files[file++ % COLLECTORS], syslogLine(seq++));
  }, 50);
  const tally = new Tally();
  const members = [];
  let next = 0;
  const newInstance = () => new Instance(`m${next++}`, setup.dir, setup.config);
  const samples = { join: [], leave: [], kill: [] };
  const applied = { join: { sum: 0, count: 0 }, leave: { sum: 0, count: 0 }, kill: { sum: 0, count: 0 } };
  async function timed(kind, act, expected, involved) {
    const before = await Promise.all(involved.map((i) => i.sample().catch(() => undefined)));
    const t0 = performance.now();
    act();
    const r = await watchRebalance(expected, new Set(expected.map((i) => i.id)), t0, 60_000);
    const after = await Promise.all(involved.map((i) => (i.alive ? i.sample().catch(() => undefined) : undefined)));
    involved.forEach((_, k) => {
      if (!before[k] || !after[k]) return;
      applied[kind].sum += after[k].rebalanceSum - before[k].rebalanceSum;
      applied[kind].count += after[k].rebalanceCount - before[k].rebalanceCount;
    });
    // 2 s on, the shared status view should show every collector running on its owner.
    await sleep(2000);
    const stale = staleStatuses(await expected[0].api('/cluster'));
    const moved = r.owners.filter(([id, o]) => prevOwners.get(id) !== o).length;
    prevOwners = new Map(r.owners);
    const sample = { ms: Math.round(r.settledMs), members_ms: Math.round(r.membersMs), generation: r.generation, collectors_moved: moved, stale_statuses_2s_later: stale };
    if (kind === 'join') {
      // The new process's own log: when its admin API listened (Node start-up, config, plugins, sink) and when it first joined the group.
      const joining = expected[expected.length - 1];
      sample.admin_api_up_ms = joining.logged('admin API listening');
      sample.group_joined_ms = joining.logged('cluster membership: joined');
    }
    samples[kind].push(sample);
    log(
      `  ${kind.padEnd(5)} -> ${expected.length} members: settled in ${sample.ms} ms (member set right after ${sample.members_ms} ms${kind === 'join' ? `; the new process listened after ${sample.admin_api_up_ms} ms, joined the group after ${sample.group_joined_ms} ms` : ''}), ${moved} collector(s) moved, generation ${r.generation}${stale.length ? `; 2 s later GET /cluster still shows ${stale.map((c) => `${c.id} ${c.state} from ${c.stateFrom} (runs on ${c.owner})`).join(', ')}` : ''}`,
    );
  }
  let prevOwners = new Map();
  try {
    await prepareTopics(`bench-${runBase}-rebalance`);
    for (let k = 0; k < size - 1; k++) members.push(newInstance());
    await startCluster(members, setup, tally, true);
    prevOwners = new Map((await watchRebalance(members, new Set(members.map((m) => m.id)), performance.now(), 30_000)).owners);
    let stuck;
    try {
      for (let t = 0; t < TRIALS; t++) {
        for (const kind of ['leave', 'kill']) {
          const joining = newInstance();
          const grown = [...members, joining];
          await timed('join', () => joining.start(), grown, grown);
          members.push(joining);
          const victim = members.shift(); // the oldest member: each leaves in turn
          await timed(kind, () => victim.child.kill(kind === 'kill' ? 'SIGKILL' : 'SIGTERM'), members, members);
          const code = await victim.exit;
          if (kind === 'leave' && code !== 0) log(`  ${victim.id} exited with ${code} after SIGTERM: ${victim.tail(1500)}`);
        }
      }
    } catch (err) {
      // A rebalance that never settles: the cluster is left as it is, the trials stop here.
      stuck = err instanceof Error ? err.message : String(err);
      log(`  rebalance did not settle; trials stopped: ${stuck.slice(0, 3000)}`);
      failures.push({ label: 'rebalance', error: stuck });
    }
    clearInterval(trickle);
    const total = seq;
    await tally.seenAll(total, stuck ? 15_000 : 120_000).catch((err) => log(err.message));
    await sleep(2000);
    const { lost, duplicated } = tally.check(0, total);
    const exit = await stopAll(members);
    return {
      samples,
      applied,
      stuck,
      trickle: {
        lines: total,
        lines_per_s: TRICKLE,
        lost,
        duplicated,
        ...(stuck ? { note: 'a rebalance never settled: lines of collectors left owned but not running count as lost here' } : {}),
      },
      exit_codes: exit,
    };
  } catch (err) {
    for (const i of live) log(`${i.id} stderr tail: ${i.tail()}`);
    throw err;
  } finally {
    clearInterval(trickle);
    await tally.stop();
    for (const i of [...live]) if (i.alive) i.child.kill('SIGKILL');
  }
}

function stats(list, minus = 0, key = 'ms') {
  const all = list
    .map((s) => s[key])
    .filter((x) => x !== undefined)
    .map((x) => x - minus);
  const ms = [...all].sort((a, b) => a - b);
  return { n: ms.length, p50_ms: quantile(ms, 0.5), max_ms: ms.length ? ms[ms.length - 1] : undefined, all_ms: all };
}

const definitions = {
  throughput:
    'Instances started on empty log files and settled (every collector running); then EVENTS lines appended (one write per file); events/s = EVENTS / (time the read_committed consumer had seen every distinct line - time of the append). lost/duplicated counted by seq 2 s after the last line.',
  cpu_us_per_event:
    "Per instance: its CPU time (utime+stime of /proc/<pid>/stat, every thread) over the data phase / the events it published over it (fabric_events_published_total). 'all instances': the sum of their CPU / EVENTS. Broker: the broker JVM's CPU over the same phase / EVENTS.",
  join: "From spawning the new `fabric start` process (so including Node start-up, config load, Kafka connections) until every live instance answers GET /cluster with the same generation, exactly the live members and the same owner (one of them) for every collector, and every collector is running on its owner and on no other instance (each instance's GET /collectors). Polled every 100 ms.",
  leave: 'From SIGTERM to the oldest member until the survivors settle as above (the leaver commits, stops its slots and leaves the group).',
  kill: `From SIGKILL to the oldest member until the survivors settle as above; includes the session timeout (${SESSION_S} s, heartbeat ${HEARTBEAT_S} s) the coordinator waits before dropping the member, also reported minus it.`,
  members_ms: 'Within a sample: when every live instance first listed exactly the right members (the group generation changed), before the slots were handed over.',
  stale_statuses_2s_later:
    'Collectors that GET /cluster (the shared status topic) still showed other than running-as-reported-by-their-owner 2 s after the rebalance settled: a wrong status view, not a stopped collector.',
};

const started = new Date();
log(
  `Kafka ${brokerVersion} at ${bootstrap}; ${EVENTS} lines (${COLLECTORS} log-file collectors × ${PER_COLLECTOR}), event_batch_size ${EVENT_BATCH}, detection and correlation off, publish all; sizes ${SIZES.join(',')}; ${TRIALS} rebalance trial(s); ${clockTick} ticks/s; load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
for (const [k, v] of Object.entries(definitions)) log(`definition ${k}: ${v}`);

/** A part that fails (an instance never settles, a line never arrives) is reported and the others still run. */
async function attempt(label, fn) {
  try {
    return await fn();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log(`${label} FAILED: ${error.slice(0, 4000)}`);
    failures.push({ label, error });
    return undefined;
  }
}

let exitCode = 0;
try {
  const single = await attempt('single', () => throughputRun('single', 1, false));
  const cluster = [];
  for (const n of SIZES) {
    const r = await attempt(`c${n}`, () => throughputRun(`c${n}`, n, true));
    if (r) cluster.push(r);
  }
  const c1 = cluster.find((c) => c.instances === 1);
  const size = Math.max(2, ...SIZES);
  let rebalance;
  if (TRIALS > 0) {
    log(`rebalance: ${size} instances, ${TRIALS} trial(s) of join, leave (SIGTERM), join, kill -9; trickle ${TRICKLE} lines/s`);
    const r = await attempt('rebalance', () => rebalanceTrials(size));
    if (r)
      rebalance = {
        cluster_size: size,
        trials: TRIALS,
        session_timeout_seconds: SESSION_S,
        heartbeat_interval_seconds: HEARTBEAT_S,
        poll_ms: POLL_MS,
        join: stats(r.samples.join),
        leave: stats(r.samples.leave),
        kill: stats(r.samples.kill),
        kill_minus_session_timeout: stats(r.samples.kill, SESSION_S * 1000),
        // Where the time goes: until every instance listed the right members (join: includes the new
        // process's start-up; kill: the session timeout), and the rest (taking the slots, starting the collectors).
        members_right: { join: stats(r.samples.join, 0, 'members_ms'), leave: stats(r.samples.leave, 0, 'members_ms'), kill: stats(r.samples.kill, 0, 'members_ms') },
        after_members_right: Object.fromEntries(['join', 'leave', 'kill'].map((k) => [k, stats(r.samples[k].map((x) => ({ ms: x.ms - x.members_ms })))])),
        join_process_admin_api_up: stats(r.samples.join, 0, 'admin_api_up_ms'),
        join_process_group_joined: stats(r.samples.join, 0, 'group_joined_ms'),
        samples: r.samples,
        instance_apply_seconds_mean: Object.fromEntries(Object.entries(r.applied).map(([k, v]) => [k, v.count ? r3(v.sum / v.count) : undefined])),
        samples_with_stale_statuses: ['join', 'leave', 'kill'].flatMap((k) => r.samples[k].filter((x) => x.stale_statuses_2s_later.length).map((x) => ({ kind: k, ...x }))),
        stuck: r.stuck,
        trickle: r.trickle,
        exit_codes: r.exit_codes,
      };
  }
  const ratio = (a, b) => (a && b ? r3(a.events_per_s / b.events_per_s) : undefined);
  const result = {
    benchmark: 'cluster-run',
    date: started.toISOString(),
    machine: { cores: cpus().length, load_average_at_end: loadavg().map((x) => +x.toFixed(1)), node: process.version },
    broker: { version: brokerVersion, bootstrap, nodes: 1 },
    client: 'kafkajs 2.2.4',
    settings: { events: EVENTS, collectors: COLLECTORS, event_batch_size: EVENT_BATCH, detection: false, correlation: false, publish: 'all', sizes: SIZES },
    definitions,
    throughput: {
      single,
      cluster,
      ratio_cluster1_single: ratio(c1, single),
      ratio_clustern_cluster1: Object.fromEntries(cluster.map((c) => [c.instances, ratio(c, c1)])),
    },
    rebalance,
    failures,
  };
  mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
  writeFileSync(join(repoRoot, 'bench/results/cluster-run.json'), `${JSON.stringify(result, null, 2)}\n`);
  const all = [single, ...cluster].filter(Boolean);
  const bad = all.filter((r) => r.lost || r.duplicated);
  if (rebalance && (rebalance.trickle.lost || rebalance.trickle.duplicated)) bad.push(rebalance.trickle);
  if (bad.length || failures.length) exitCode = 1;
  const rb = rebalance
    ? `; rebalance (${size} instances, ${TRIALS} trials) p50/max join ${rebalance.join.p50_ms}/${rebalance.join.max_ms} ms, leave ${rebalance.leave.p50_ms}/${rebalance.leave.max_ms} ms, kill -9 ${rebalance.kill.p50_ms}/${rebalance.kill.max_ms} ms (${rebalance.kill_minus_session_timeout.p50_ms}/${rebalance.kill_minus_session_timeout.max_ms} ms past the ${SESSION_S} s session timeout); trickle lost ${rebalance.trickle.lost} duplicated ${rebalance.trickle.duplicated}`
    : '';
  console.log(
    `cluster-run: ${EVENTS} lines, single ${single?.events_per_s ?? 'failed'} ev/s, cluster ${cluster.map((c) => `${c.instances}: ${c.events_per_s}`).join(', ') || 'failed'} ev/s; cluster(1)/single ${result.throughput.ratio_cluster1_single}` +
      cluster
        .filter((c) => c !== c1)
        .map((c) => `, cluster(${c.instances})/cluster(1) ${result.throughput.ratio_clustern_cluster1[c.instances]}`)
        .join('') +
      `; lost/duplicated ${all.map((r) => `${r.label} ${r.lost}/${r.duplicated}`).join(', ')}` +
      `; CPU µs/event (all instances) ${all.map((r) => `${r.label} ${r.cpu_us_per_event_all_instances}`).join(', ')}; broker ${all.map((r) => r.broker_cpu_us_per_event).join('/')}${rb}` +
      (failures.length ? `; FAILED: ${failures.map((f) => f.label).join(', ')} (see above and bench/results/cluster-run-logs/)` : ''),
  );
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await admin.disconnect().catch(() => undefined);
  for (const i of [...live]) if (i.alive) i.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
