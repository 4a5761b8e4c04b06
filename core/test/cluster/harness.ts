// What the cluster end-to-end tests share: `fabric start` processes on one config (Instance), a
// read_committed consumer that counts every line by its seq (Tally), the config and the data the
// collectors read (writeSetup, Feed), and the waits on what the instances say (until, steadyView).
// Call useClusterHarness() at the top of a test file: it finds the suite's broker, makes a work
// folder, and kills what is left of the instances at the end.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { deleteTopicsWith, repoRoot, runId, sharedBroker } from '../kafka/helpers.js';
import { syslogLine } from '../kafka/stream.js';

const { Kafka, logLevel } = kafkajs;
const fabricBin = join(repoRoot, 'core/bin/fabric.js');

export const COLLECTORS = 8;
export const PER_COLLECTOR = 5_000;
export const TOTAL = COLLECTORS * PER_COLLECTOR;
export const SESSION_S = 6;
/** The real OpenSearch node the suite starts (scripts/opensearch/node.mjs). */
export const OPENSEARCH_URL = process.env.OPENSEARCH_URL ?? 'http://127.0.0.1:19200';

export interface ClusterView {
  enabled: boolean;
  instance: string;
  generation: number;
  members: Array<{ instance: string; slots: number[]; collectors: string[] }>;
  collectors: Array<{ id: string; slot?: number; owner?: string; state?: string; stateFrom?: string; pinned?: string; problem?: string }>;
  ownedSlots: number[];
}

/** The suite's broker and this file's work folder, set by useClusterHarness()'s beforeAll. */
export const harness = { bootstrap: '', work: '' };
const children: ChildProcess[] = [];
/** Runs of this file: their topics are deleted at the end. */
const runs: string[] = [];

export function useClusterHarness(dists: string[] = ['core/dist/cluster/index.js', 'plugins/log-file/dist/index.js']): void {
  beforeAll(async () => {
    harness.bootstrap = await sharedBroker();
    for (const dist of dists) {
      if (!existsSync(join(repoRoot, dist))) throw new Error(`${dist} is missing: build first (npx tsc -b); the CLI runs from dist/`);
    }
    harness.work = mkdtempSync(join(tmpdir(), 'rf-cluster-'));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await deleteTopicsWith(
      harness.bootstrap,
      runs.flatMap((r) => [`fabric.test-${r}.`, `rf-cluster-${r}.`]),
    );
    // RF_CLUSTER_KEEP=1 keeps the configs, state folders and each instance's full stderr (<id>.log) for a post-mortem.
    if (harness.work && process.env.RF_CLUSTER_KEEP) console.log(`[cluster] work folder kept: ${harness.work}`);
    else if (harness.work) rmSync(harness.work, { recursive: true, force: true });
  });
}

/** Every line's seq seen by a read_committed consumer, and how often. */
export class Tally {
  readonly counts = new Map<number, number>();
  /** Where each copy of a seq seen more than once sits (`partition:offset`), for the failure message. */
  private readonly places = new Map<number, string[]>();
  private consumer: ReturnType<InstanceType<typeof Kafka>['consumer']> | undefined;

  async start(topic: string): Promise<void> {
    const kafka = new Kafka({ clientId: 'fabric-test-tally', brokers: [harness.bootstrap], logLevel: logLevel.NOTHING });
    this.consumer = kafka.consumer({ groupId: `fabric-test-tally-${runId()}`, maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const seq = /seq=(\d+)/.exec(m.value?.toString() ?? '')?.[1];
          if (seq === undefined) continue;
          const n = Number(seq);
          this.counts.set(n, (this.counts.get(n) ?? 0) + 1);
          const at = this.places.get(n) ?? [];
          if (at.length < 4) at.push(`${batch.partition}:${m.offset}`);
          this.places.set(n, at);
        }
      },
    });
  }

  get seen(): number {
    return this.counts.size;
  }

  get duplicated(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c - 1;
    return n;
  }

  /** Seqs 0 … total-1 not seen. */
  lost(total: number): number {
    let n = 0;
    for (let s = 0; s < total; s++) if (!this.counts.has(s)) n++;
    return n;
  }

  /** Of `seqs`, how many were not seen. */
  missing(seqs: Iterable<number>): number {
    let n = 0;
    for (const s of seqs) if (!this.counts.has(s)) n++;
    return n;
  }

  /** Of `seqs`, how many were seen more than once (extra copies). */
  duplicatedOf(seqs: Iterable<number>): number {
    let n = 0;
    for (const s of seqs) n += Math.max(0, (this.counts.get(s) ?? 0) - 1);
    return n;
  }

  /** The seqs seen more than once, with where each copy sits: `seq@partition:offset,…`. */
  duplicates(limit = 20): string[] {
    const out: string[] = [];
    for (const [seq, c] of this.counts) if (c > 1 && out.length < limit) out.push(`${seq}@${this.places.get(seq)!.join(',')}`);
    return out;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

export async function until<T>(what: string, read: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      lastError = undefined;
      if (ok(last)) return last;
    } catch (err) {
      // not up yet (or gone: the error says so, and `last` is then older than it)
      lastError = err;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}${lastError ? `; the reads since then failed: ${String(lastError)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function topicExists(topic: string): Promise<boolean> {
  const admin = new Kafka({ clientId: 'fabric-test-topics', brokers: [harness.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]!.partitions.every((p) => p.leader >= 0);
  } catch {
    return false;
  } finally {
    await admin.disconnect();
  }
}

/** One `fabric start` process; FABRIC_INSTANCE_ID = id, its state in <work>/state-<id>. */
export class Instance {
  child!: ChildProcess;
  stderr = '';
  private log: WriteStream | undefined;
  constructor(
    readonly id: string,
    private readonly config: string,
  ) {}

  start(): void {
    this.stderr = '';
    const env: NodeJS.ProcessEnv = { ...process.env, RF_TEST_KAFKA_BROKERS: harness.bootstrap, FABRIC_INSTANCE_ID: this.id };
    delete env.FABRIC_ADMIN_TOKEN;
    this.child = spawn(process.execPath, [fabricBin, 'start', '-c', this.config], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.log ??= createWriteStream(join(harness.work, `${this.id}.log`), { flags: 'a' });
    this.log.write(`--- start ${new Date().toISOString()} pid ${this.child.pid}\n`);
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
      this.log?.write(d);
    });
    children.push(this.child);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private get stateDir(): string {
    return join(harness.work, `state-${this.id}`);
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    const url = readFileSync(join(this.stateDir, 'admin-url'), 'utf8').trim();
    const token = readFileSync(join(this.stateDir, 'admin-token'), 'utf8').trim();
    const res = await fetch(new URL(path, url), { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res;
  }

  async api<T>(path: string, init: RequestInit = {}): Promise<T> {
    return (await (await this.fetch(path, init)).json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.fetch(path, {})).text();
  }

  /** A counter or gauge of GET /metrics (summed over its label sets); 0 when absent. */
  async metric(name: string): Promise<number> {
    let sum = 0;
    for (const line of (await this.text('/metrics')).split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
      if (m?.[1] === name) sum += Number(m[2]);
    }
    return sum;
  }

  cluster(): Promise<ClusterView> {
    // An instance that exited says so (with its last words), instead of a refused connection.
    if (!this.alive) {
      const lastLine = this.stderr.trim().split('\n').at(-1)?.slice(0, 500);
      return Promise.reject(new Error(`instance ${this.id} exited (code ${this.child.exitCode}, signal ${this.child.signalCode}): ${lastLine}`));
    }
    return this.api<ClusterView>('/cluster');
  }

  exited(): Promise<number | string | null> {
    const c = this.child;
    return new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode ?? c.signalCode) : c.once('exit', (code, sig) => r(code ?? sig))));
  }
}

/** A source of numbered lines: a log file, or an OpenSearch index. Its seqs are base … base+written-1. */
export interface Feedable {
  id: string;
  base: number;
  written: number;
}

export interface Setup {
  run: string;
  config: string;
  topic: string;
  /** Log-file collectors (src-<k>), seq base k * span. */
  files: Array<Feedable & { path: string }>;
  /** OpenSearch collectors (os-<j>), one index each, seq base (COLLECTORS-or-collectors + j) * span. */
  indices: Array<Feedable & { index: string }>;
  /** Every seq written so far, of the collectors `ids` (default: all). */
  expected(ids?: string[]): number[];
}

export interface SetupOptions {
  pinned?: Record<string, string>;
  /** Log-file collectors (default COLLECTORS). */
  collectors?: number;
  /** Lines each file holds before the instances start (default PER_COLLECTOR). */
  prefill?: number;
  /** Seq distance between two collectors (default PER_COLLECTOR: seqs 0 … TOTAL-1 without gaps). */
  span?: number;
  /** OpenSearch collectors, each on an index of its own created now (empty); delete them with deleteIndices(). */
  opensearch?: number;
}

async function os(method: string, path: string, body?: unknown, ndjson = false): Promise<Record<string, unknown>> {
  const res = await fetch(`${OPENSEARCH_URL}${path}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body: ndjson ? (body as string) : JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`OpenSearch ${method} ${path} → ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

export async function openSearchUp(): Promise<void> {
  try {
    const res = await fetch(OPENSEARCH_URL, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`status ${res.status}`);
  } catch (err) {
    throw new Error(`No OpenSearch node answers at ${OPENSEARCH_URL} (${(err as Error).message}). Start it with: node scripts/opensearch/node.mjs start`);
  }
}

export async function deleteIndices(setup: Setup): Promise<void> {
  for (const i of setup.indices) await fetch(`${OPENSEARCH_URL}/${i.index}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
}

/** A document an OpenSearch collector turns into an event whose message (and event.original) carries `seq=`. */
function osDoc(seq: number): Record<string, unknown> {
  return {
    '@timestamp': new Date().toISOString(),
    message: syslogLine(seq).trimEnd(),
    host: { name: 'honeypot' },
    event: { dataset: 'honeypot.ssh' },
  };
}

export async function writeSetup(run: string, opts: SetupOptions = {}): Promise<Setup> {
  runs.push(run);
  const count = opts.collectors ?? COLLECTORS;
  const prefill = opts.prefill ?? PER_COLLECTOR;
  const span = opts.span ?? PER_COLLECTOR;
  const files = Array.from({ length: count }, (_, k) => ({ id: `src-${k}`, base: k * span, written: 0, path: join(harness.work, `${run}-src-${k}.log`) }));
  for (const f of files) {
    let text = '';
    for (let i = 0; i < prefill; i++) text += syslogLine(f.base + i);
    writeFileSync(f.path, text);
    f.written = prefill;
  }
  const indices = Array.from({ length: opts.opensearch ?? 0 }, (_, j) => ({ id: `os-${j}`, base: (count + j) * span, written: 0, index: `rf-cluster-${run}-os-${j}` }));
  for (const i of indices) {
    await os('PUT', `/${i.index}`, {
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: { properties: { '@timestamp': { type: 'date' }, message: { type: 'text' } } },
    });
  }
  const osPort = Number(new URL(OPENSEARCH_URL).port || 9200);
  const osHost = new URL(OPENSEARCH_URL).hostname;
  const { config, topic } = writeClusterConfig(run, {
    pinned: opts.pinned ?? {},
    head: 'detection: { enabled: false }\ncorrelation: { enabled: false }\n',
    orchestrator: '{ collection_interval_seconds: 0.2, event_batch_size: 200 }',
    collectors: [
      ...files.map(
        (f) => `  - id: ${f.id}
    plugin: "@reactive-fabric/plugin-log-file"
    config: { base_dir: ., paths: [${run}-${f.id}.log], format: syslog }`,
      ),
      ...indices.map(
        (i) => `  - id: ${i.id}
    plugin: "@reactive-fabric/plugin-log-elasticsearch"
    interval_seconds: 0.5
    config: { host: "${osHost}", port: ${osPort}, scheme: http, flavour: opensearch, indices: [${i.index}], max_results_per_query: 500 }`,
      ),
    ].join('\n'),
  });

  const all: Feedable[] = [...files, ...indices];
  return {
    run,
    config,
    topic,
    files,
    indices,
    expected: (ids) => all.filter((s) => !ids || ids.includes(s.id)).flatMap((s) => Array.from({ length: s.written }, (_, i) => s.base + i)),
  };
}

/**
 * New data while the cluster runs: every `tickMs`, `lines` lines appended to each file and `docs`
 * documents indexed (visible at once: refresh=true) into each index, stamped now. The rate is the
 * load, not a wait: tests wait on what the instances and the topic say.
 */
export class Feed {
  private timer: NodeJS.Timeout | undefined;
  private indexing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  ticks = 0;

  constructor(
    private readonly setup: Setup,
    private readonly o: { lines: number; docs: number; tickMs: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs);
  }

  private tick(): void {
    this.ticks++;
    for (const f of this.setup.files) {
      let text = '';
      for (let i = 0; i < this.o.lines; i++) text += syslogLine(f.base + f.written + i);
      appendFileSync(f.path, text);
      f.written += this.o.lines;
    }
    if (this.setup.indices.length === 0 || this.o.docs === 0) return;
    // One bulk at a time; a tick that comes while one runs is folded into the next.
    this.indexing = this.indexing.then(async () => {
      if (this.failure) return;
      try {
        const lines: string[] = [];
        const counts = this.setup.indices.map(() => this.o.docs);
        this.setup.indices.forEach((ix, j) => {
          for (let i = 0; i < counts[j]!; i++) lines.push(JSON.stringify({ index: { _index: ix.index } }), JSON.stringify(osDoc(ix.base + ix.written + i)));
        });
        const res = await os('POST', '/_bulk?refresh=true', `${lines.join('\n')}\n`, true);
        if (res.errors) throw new Error(`bulk had errors: ${JSON.stringify(res).slice(0, 300)}`);
        this.setup.indices.forEach((ix, j) => {
          ix.written += counts[j]!;
        });
      } catch (err) {
        this.failure = err as Error;
      }
    });
  }

  /** No more data; resolves once the last bulk is indexed. Throws if indexing failed. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.indexing;
    if (this.failure) throw this.failure;
  }
}

/** The instance every live member agrees on: same generation, same members, every collector owned. */
export async function steadyView(instances: Instance[], expectMembers: number, timeoutMs = 60_000): Promise<ClusterView[]> {
  return until(
    `${expectMembers} members agreeing on one view with every collector owned`,
    () => Promise.all(instances.map((i) => i.cluster())),
    (views) =>
      views.every((v) => v.members.length === expectMembers && v.generation === views[0]!.generation && v.collectors.every((c) => c.owner && c.state === 'running')) &&
      new Set(views.map((v) => JSON.stringify(v.collectors.map((c) => [c.id, c.owner])))).size === 1,
    timeoutMs,
  );
}

/**
 * Like steadyView, but "running" is what each owner's own GET /collectors says, not the state
 * published in the status topic (GET /cluster's `state`): the faults tests check that one on its
 * own (publishedStates), so a wrong published state is reported as such and not as a hang.
 */
export async function settledView(instances: Instance[], expectMembers: number, timeoutMs = 60_000, except: string[] = []): Promise<ClusterView[]> {
  const byId = new Map(instances.map((i) => [i.id, i]));
  return until(
    `${expectMembers} members agreeing on one view, every collector owned and running on its owner`,
    async () => {
      const views = await Promise.all(instances.map((i) => i.cluster()));
      const running = new Set<string>();
      for (const i of instances) {
        const own = await i.api<{ collectors: Array<{ id: string; state: string }> }>('/collectors');
        for (const c of own.collectors) if (c.state === 'running') running.add(`${c.id}@${i.id}`);
      }
      return { views, running: [...running] };
    },
    ({ views, running }) =>
      views.every(
        (v) =>
          v.members.length === expectMembers &&
          v.generation === views[0]!.generation &&
          v.collectors.every((c) => except.includes(c.id) || (c.owner && (!byId.has(c.owner) || running.includes(`${c.id}@${c.owner}`)))),
      ) && new Set(views.map((v) => JSON.stringify(v.collectors.map((c) => [c.id, c.owner])))).size === 1,
    timeoutMs,
  ).then((r) => r.views);
}

/**
 * Collectors whose state in GET /cluster (on any of `instances`) is not `running` as published by
 * their owner, after waiting up to `timeoutMs` for it; [] when every instance says so.
 */
export async function publishedStates(instances: Instance[], timeoutMs = 10_000): Promise<string[]> {
  const wrong = (views: ClusterView[]) =>
    views.flatMap((v) =>
      v.collectors
        .filter((c) => c.owner !== undefined && !(c.state === 'running' && c.stateFrom === c.owner))
        .map((c) => `${c.id} on ${v.instance}'s GET /cluster: owner ${c.owner}, state ${c.state} published by ${c.stateFrom}`),
    );
  const views = await until(
    'every collector shown running, as its owner published',
    () => Promise.all(instances.map((i) => i.cluster())),
    (vs) => wrong(vs).length === 0,
    timeoutMs,
  ).catch(() => Promise.all(instances.map((i) => i.cluster())));
  return wrong(views);
}

/** collector id → owner, from one view. */
export function ownersOf(view: ClusterView): Map<string, string | undefined> {
  return new Map(view.collectors.map((c) => [c.id, c.owner]));
}

/** A syslog timestamp (UTC) for `at`. */
export function syslogStamp(at: Date): string {
  const month = at.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${month} ${String(at.getUTCDate()).padStart(2, ' ')} ${at.toISOString().slice(11, 19)}`;
}

/** Every event of a topic, parsed, as a read_committed consumer sees them. */
export class TopicEvents {
  readonly events: Array<Record<string, any>> = [];
  private consumer: ReturnType<InstanceType<typeof Kafka>['consumer']> | undefined;

  async start(topic: string): Promise<void> {
    const kafka = new Kafka({ clientId: 'fabric-test-events', brokers: [harness.bootstrap], logLevel: logLevel.NOTHING });
    this.consumer = kafka.consumer({ groupId: `fabric-test-events-${runId()}`, maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        this.events.push(JSON.parse(message.value?.toString() ?? 'null') as Record<string, any>);
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

export interface SshSetup {
  run: string;
  config: string;
  topic: string;
  /** Instance id → the auth log its pinned collector (`ssh-<last letter>`) reads. */
  files: Map<string, string>;
  /** Append `n` failed logins from `ip` to the auth log read on `instance`, stamped now (one user each when `users`). */
  fail(instance: string, ip: string, n: number, users?: string[]): void;
  /** Append an accepted login from `ip`. */
  succeed(instance: string, ip: string): void;
}

/**
 * A cluster config with detection on (the defaults) and the given collectors (YAML list items) and
 * pins; `extra` is appended. Its topics are deleted when the file's tests end.
 */
export function writeClusterConfig(
  run: string,
  o: { pinned: Record<string, string>; collectors: string; extra?: string; head?: string; orchestrator?: string },
): { config: string; topic: string } {
  if (!runs.includes(run)) runs.push(run);
  const topic = `rf-cluster-${run}.threat_detected`;
  const config = join(harness.work, `${run}.yaml`);
  writeFileSync(
    config,
    `state_dir: ./state-\${FABRIC_INSTANCE_ID}
log_level: info
${o.head ?? ''}orchestrator: ${o.orchestrator ?? '{ collection_interval_seconds: 0.2 }'}
admin: { enabled: true, port: 0 }
supervisor: { shutdown_timeout_seconds: 5 }
sink:
  type: kafka
  brokers: ["\${RF_TEST_KAFKA_BROKERS}"]
  topics:
    detections: ${topic}
    status: rf-cluster-${run}.honeypot_status
    dead_letter: rf-cluster-${run}.dead_letter
cluster:
  group: test-${run}
  session_timeout_seconds: ${SESSION_S}
  heartbeat_interval_seconds: 0.5
${
  Object.keys(o.pinned).length
    ? `  pinned:\n${Object.entries(o.pinned)
        .map(([c, i]) => `    ${c}: ${i}`)
        .join('\n')}\n`
    : ''
}collectors:
${o.collectors}
${o.extra ?? ''}`,
  );
  return { config, topic };
}

/**
 * A cluster of `instances` with detection on and one log-file collector pinned to each (`ssh-a`
 * on node-a…), so a test decides which instance reads a line. `extra` is appended to the config.
 */
export function writeSshSetup(run: string, instances: readonly string[], extra = ''): SshSetup {
  const collectorOf = (id: string) => `ssh-${id.slice(-1)}`;
  const files = new Map<string, string>();
  for (const id of instances) {
    const f = join(harness.work, `${run}-${collectorOf(id)}.log`);
    writeFileSync(f, '');
    files.set(id, f);
  }
  const { config, topic } = writeClusterConfig(run, {
    pinned: Object.fromEntries(instances.map((id) => [collectorOf(id), id])),
    collectors: instances
      .map(
        (id) => `  - id: ${collectorOf(id)}
    plugin: "@reactive-fabric/plugin-log-file"
    config: { base_dir: ., paths: [${run}-${collectorOf(id)}.log], format: syslog, syslog_timezone: UTC }`,
      )
      .join('\n'),
    extra,
  });
  let pid = 100;
  return {
    run,
    config,
    topic,
    files,
    fail(instance, ip, n, users) {
      let text = '';
      for (let i = 0; i < n; i++) text += `${syslogStamp(new Date())} honeypot sshd[${pid++}]: Failed password for ${users?.[i] ?? 'root'} from ${ip} port ${40000 + pid} ssh2\n`;
      appendFileSync(files.get(instance)!, text);
    },
    succeed(instance, ip) {
      appendFileSync(files.get(instance)!, `${syslogStamp(new Date())} honeypot sshd[${pid++}]: Accepted password for root from ${ip} port ${40000 + pid} ssh2\n`);
    },
  };
}

/** One `fabric start` per id on `config`, once they agree on one view (killed at the file's end). */
export async function startCluster(ids: readonly string[], config: string, timeoutMs = 90_000): Promise<Instance[]> {
  const instances = ids.map((id) => new Instance(id, config));
  for (const i of instances) i.start();
  await steadyView(instances, ids.length, timeoutMs);
  return instances;
}
