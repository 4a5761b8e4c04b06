// Cluster mode end to end: three `fabric start` processes on one config share the collectors
// through a Kafka consumer group on the suite's real broker; a read_committed consumer counts every
// line by its seq. Faults are real: kill -9 and SIGSTOP of whole processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runId, sharedBroker } from '../kafka/helpers.js';
import { syslogLine } from '../kafka/stream.js';

const { Kafka, logLevel } = kafkajs;
const fabricBin = join(repoRoot, 'core/bin/fabric.js');
const COLLECTORS = 8;
const PER_COLLECTOR = 5_000;
const TOTAL = COLLECTORS * PER_COLLECTOR;
const SESSION_S = 6;

interface ClusterView {
  enabled: boolean;
  instance: string;
  generation: number;
  members: Array<{ instance: string; slots: number[]; collectors: string[] }>;
  collectors: Array<{ id: string; owner?: string; state?: string; pinned?: string; problem?: string }>;
  ownedSlots: number[];
}

let bootstrap: string;
let work: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  bootstrap = await sharedBroker();
  for (const dist of ['core/dist/cluster/index.js', 'plugins/log-file/dist/index.js']) {
    if (!existsSync(join(repoRoot, dist))) throw new Error(`${dist} is missing: build first (npx tsc -b); the CLI runs from dist/`);
  }
  work = mkdtempSync(join(tmpdir(), 'rf-cluster-'));
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every line's seq seen by a read_committed consumer, and how often. */
class Tally {
  readonly counts = new Map<number, number>();
  private consumer: ReturnType<InstanceType<typeof Kafka>['consumer']> | undefined;

  async start(topic: string): Promise<void> {
    const kafka = new Kafka({ clientId: 'fabric-test-tally', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    this.consumer = kafka.consumer({ groupId: `fabric-test-tally-${runId()}`, maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const seq = /seq=(\d+)/.exec(m.value?.toString() ?? '')?.[1];
          if (seq !== undefined) this.counts.set(Number(seq), (this.counts.get(Number(seq)) ?? 0) + 1);
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

  lost(total: number): number {
    let n = 0;
    for (let s = 0; s < total; s++) if (!this.counts.has(s)) n++;
    return n;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

async function until<T>(what: string, read: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function topicExists(topic: string): Promise<boolean> {
  const admin = new Kafka({ clientId: 'fabric-test-topics', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
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

class Instance {
  child!: ChildProcess;
  stderr = '';
  constructor(
    readonly id: string,
    private readonly config: string,
  ) {}

  start(): void {
    this.stderr = '';
    const env: NodeJS.ProcessEnv = { ...process.env, RF_TEST_KAFKA_BROKERS: bootstrap, FABRIC_INSTANCE_ID: this.id };
    delete env.FABRIC_ADMIN_TOKEN;
    this.child = spawn(process.execPath, [fabricBin, 'start', '-c', this.config], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    children.push(this.child);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private get stateDir(): string {
    return join(work, `state-${this.id}`);
  }

  async api<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = readFileSync(join(this.stateDir, 'admin-url'), 'utf8').trim();
    const token = readFileSync(join(this.stateDir, 'admin-token'), 'utf8').trim();
    const res = await fetch(new URL(path, url), { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  cluster(): Promise<ClusterView> {
    return this.api<ClusterView>('/cluster');
  }

  exited(): Promise<number | string | null> {
    const c = this.child;
    return new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode ?? c.signalCode) : c.once('exit', (code, sig) => r(code ?? sig))));
  }
}

function writeSetup(run: string, opts: { pinned?: Record<string, string> } = {}): { config: string; topic: string } {
  const ids = Array.from({ length: COLLECTORS }, (_, k) => `src-${k}`);
  ids.forEach((id, k) => {
    let text = '';
    for (let i = 0; i < PER_COLLECTOR; i++) text += syslogLine(k * PER_COLLECTOR + i);
    writeFileSync(join(work, `${run}-${id}.log`), text);
  });
  const topic = `rf-cluster-${run}.threat_detected`;
  const config = join(work, `${run}.yaml`);
  const pinned = Object.entries(opts.pinned ?? {});
  writeFileSync(
    config,
    `state_dir: ./state-\${FABRIC_INSTANCE_ID}
log_level: info
detection: { enabled: false }
correlation: { enabled: false }
orchestrator:
  collection_interval_seconds: 0.2
  event_batch_size: 200
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
${pinned.length ? `  pinned:\n${pinned.map(([c, i]) => `    ${c}: ${i}`).join('\n')}\n` : ''}collectors:
${ids
  .map(
    (id) => `  - id: ${id}
    plugin: "@reactive-fabric/plugin-log-file"
    config: { base_dir: ., paths: [${run}-${id}.log], format: syslog }`,
  )
  .join('\n')}
`,
  );
  return { config, topic };
}

/** The instance every live member agrees on: same generation, same members, every collector owned. */
async function steadyView(instances: Instance[], expectMembers: number): Promise<ClusterView[]> {
  return until(
    `${expectMembers} members agreeing on one view with every collector owned`,
    () => Promise.all(instances.map((i) => i.cluster())),
    (views) =>
      views.every((v) => v.members.length === expectMembers && v.generation === views[0]!.generation && v.collectors.every((c) => c.owner && c.state === 'running')) &&
      new Set(views.map((v) => JSON.stringify(v.collectors.map((c) => [c.id, c.owner])))).size === 1,
    60_000,
  );
}

describe('cluster mode: three instances share the collectors exactly once', () => {
  it('steady state: each collector owned by one instance, the same view everywhere; kill -9 of one: its collectors resume elsewhere, 0 lost, 0 duplicated', async () => {
    const run = runId();
    const { config, topic } = writeSetup(run);
    const tally = new Tally();
    const nodes = ['a', 'b', 'c'].map((id) => new Instance(id, config));
    try {
      for (const n of nodes) n.start();
      // The instances create the topic as they start.
      await until('the detections topic', () => topicExists(topic), Boolean, 60_000);
      await tally.start(topic);
      const views = await steadyView(nodes, 3);
      const owners = new Map(views[0]!.collectors.map((c) => [c.id, c.owner!]));
      // Every slot has exactly one owner across the members.
      const slots = views[0]!.members.flatMap((m) => m.slots);
      expect(new Set(slots).size).toBe(64);
      expect(slots.length).toBe(64);
      // Each instance runs exactly the collectors the view says it owns.
      for (const n of nodes) {
        const own = await n.api<{ collectors: Array<{ id: string; state: string }> }>('/collectors');
        const running = own.collectors.filter((c) => c.state === 'running').map((c) => c.id);
        expect(running.sort()).toEqual(
          [...owners]
            .filter(([, o]) => o === n.id)
            .map(([id]) => id)
            .sort(),
        );
      }

      // Mid-stream: kill -9 an instance that runs collectors.
      await until(
        'a third of the lines in the topic',
        () => tally.seen,
        (n) => n >= TOTAL / 3,
        60_000,
      );
      const victim = nodes.find((n) => [...owners.values()].includes(n.id))!;
      const moved = [...owners].filter(([, o]) => o === victim.id).map(([id]) => id);
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      await victim.exited();
      const rest = nodes.filter((n) => n !== victim);
      const after = await steadyView(rest, 2);
      const resumedMs = Date.now() - killedAt;
      for (const id of moved) expect(after[0]!.collectors.find((c) => c.id === id)!.owner).not.toBe(victim.id);
      // Collectors that did not live on the killed instance did not move.
      for (const [id, o] of owners) if (o !== victim.id) expect(after[0]!.collectors.find((c) => c.id === id)!.owner).toBe(o);
      expect(resumedMs).toBeLessThan((SESSION_S + 10) * 1000 + 5000);

      await until(
        'every line in the topic',
        () => tally.seen,
        (n) => n >= TOTAL,
        120_000,
      ).catch(() => undefined);
      // A little longer: a duplicate would arrive after the last new line.
      await new Promise((r) => setTimeout(r, 2000));
      console.log(
        `[cluster kill -9] ${TOTAL} lines, ${moved.length} collectors moved from ${victim.id} in ${resumedMs} ms; lost ${tally.lost(TOTAL)}, duplicated ${tally.duplicated}`,
      );
      expect(tally.lost(TOTAL)).toBe(0);
      expect(tally.duplicated).toBe(0);
      for (const n of rest) n.child.kill('SIGTERM');
      for (const n of rest) expect(await n.exited(), n.stderr).toBe(0);
    } finally {
      await tally.stop();
      for (const n of nodes) if (n.alive) n.child.kill('SIGKILL');
    }
  }, 240_000);
});
