import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import type { Admin, IHeaders, KafkaMessage } from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Value } from 'typebox/value';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { EVENT_SCHEMA_VERSION, RECORD_SCHEMA_VERSION, type CollectorStatusEvent, type SinkContext } from '../../src/sinks/sink.js';
import { ECS_VERSION } from '../../src/events/ecs.js';

const { Kafka, logLevel } = kafkajs;

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const brokerScript = join(repoRoot, 'scripts/kafka/broker.mjs');
const run = promisify(execFile);

export const eventSchema = JSON.parse(readFileSync(join(repoRoot, 'core/schemas/threat-detected.v2.json'), 'utf8')) as Record<string, unknown>;
export const statusSchema = JSON.parse(readFileSync(join(repoRoot, 'core/schemas/honeypot-status.v1.json'), 'utf8')) as Record<string, unknown>;

export function schemaErrors(schema: Record<string, unknown>, value: unknown): string[] {
  return [...Value.Errors(schema, value)].map((e) => `${e.instancePath || '/'} ${e.message}`);
}

export interface BrokerInfo {
  bootstrap: string;
  /** The SASL_PLAINTEXT listener and its test user (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). */
  sasl?: { bootstrap: string; username: string; password: string };
  /** The mutual-TLS listener and the PEM files of its test CA and client certificate. */
  tls?: { bootstrap: string; ca: string; cert: string; key: string };
}

/**
 * The shared test broker, as `node scripts/kafka/broker.mjs start` wrote it to .fabric-test/kafka.json
 * (FABRIC_KAFKA_INSTANCE=<name> picks kafka-<name>.json; FABRIC_KAFKA_BROKERS names a broker of your own).
 * Missing broker = failed test with the command to run, never a skip.
 */
export async function brokerInfo(): Promise<BrokerInfo> {
  const override = process.env.FABRIC_KAFKA_BROKERS;
  if (override) {
    if (!(await reachable(override))) throw new Error(`FABRIC_KAFKA_BROKERS=${override} does not answer: start that broker or unset the variable`);
    return { bootstrap: override };
  }
  const instance = process.env.FABRIC_KAFKA_INSTANCE;
  const file = join(repoRoot, '.fabric-test', instance ? `kafka-${instance}.json` : 'kafka.json');
  let info: BrokerInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as BrokerInfo;
  } catch {
    throw new Error(`No Kafka test broker: ${file} is missing. Run \`node scripts/kafka/broker.mjs start\` first (npm test does it for you).`);
  }
  if (!(await reachable(info.bootstrap))) {
    throw new Error(`The Kafka test broker at ${info.bootstrap} does not answer. Run \`node scripts/kafka/broker.mjs start\` first (npm test does it for you).`);
  }
  return info;
}

export async function sharedBroker(): Promise<string> {
  return (await brokerInfo()).bootstrap;
}

export async function reachable(bootstrap: string): Promise<boolean> {
  const admin = new Kafka({ clientId: 'fabric-test-probe', brokers: [bootstrap], connectionTimeout: 2000, retry: { retries: 0 }, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Runs the broker script exactly as a user would. */
export async function brokerCommand(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [brokerScript, ...args], { cwd: repoRoot, timeout: 180_000 });
  return stdout;
}

export function runId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export interface CapturedLogs {
  lines: string[];
  text(): string;
}

export function sinkContext(overrides: Partial<SinkContext> = {}): SinkContext & { logs: CapturedLogs; registry: Registry } {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) });
  const registry = new Registry();
  return { logger, metrics: registry, registry, stateDir: '/tmp', env: process.env, logs: { lines, text: () => lines.join('') }, ...overrides };
}

const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
const LEVEL_SEVERITY = { critical: 99, high: 73, medium: 47, low: 21 } as const;

/** A detection as the detection engine emits it (brief: event.kind signal, rule, threat, fabric.matches). */
export function detection(run: string, i: number, opts: { fingerprints?: number } = {}): FabricEvent {
  const priority = PRIORITIES[i % PRIORITIES.length]!;
  const fpIndex = opts.fingerprints ? i % opts.fingerprints : i;
  const ip = `198.51.100.${(fpIndex % 250) + 1}`;
  return {
    '@timestamp': new Date(Date.UTC(2026, 10, 27, 10, 0, 0) + i).toISOString(),
    message: `Failed password for root from ${ip} port 22 ssh2`,
    ecs: { version: ECS_VERSION },
    event: { id: `${run}-${i}`, kind: 'alert', category: ['authentication'], type: ['start'], outcome: 'failure', severity: LEVEL_SEVERITY[priority], dataset: 'honeypot.ssh' },
    source: { ip },
    user: { name: 'root' },
    rule: { id: 'rf_failed_authentication', name: 'Failed authentication', description: 'Failed authentication', ruleset: 'sigma' },
    threat: { framework: 'MITRE ATT&CK', technique: { id: ['T1110'] }, tactic: { name: ['credential-access'] } },
    fabric: {
      collector: `ssh-honeypot-${i % 3}`,
      plugin: '@reactive-fabric/plugin-log-file',
      fingerprint: createHash('sha256').update(`${run}|${ip}|rf_failed_authentication`).digest('hex').slice(0, 32),
      priority,
      alert_type: 'detection',
      rule: { name: 'rf_failed_authentication', level: priority === 'info' ? 'informational' : priority },
      schema_version: EVENT_SCHEMA_VERSION,
      matches: [
        {
          id: 'rf_failed_authentication',
          name: 'rf_failed_authentication',
          title: 'Failed authentication',
          level: priority,
          techniques: ['T1110'],
          tactics: ['credential-access'],
        },
      ],
    },
  };
}

export function collectorStatus(collector: string, state: string, previous: string): CollectorStatusEvent {
  return { '@timestamp': new Date().toISOString(), collector, plugin: '@reactive-fabric/plugin-log-file', state, previous, cause: 'START', schema_version: RECORD_SCHEMA_VERSION };
}

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: string;
}

function headerStrings(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k] = Array.isArray(v) ? String(v[0]) : String(v ?? '');
  return out;
}

/**
 * Probe something outside this process that announces nothing (a broker, a child process) until
 * `done` holds, and return the value that satisfied it. At the deadline: throw, naming `what` and
 * the last value, or with `onTimeout: 'return-last'` hand the last value back for the test's own
 * assertions to say what is missing.
 */
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  opts: { what: string; timeoutMs: number; everyMs?: number; onTimeout?: 'throw' | 'return-last'; show?: (value: T) => string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() >= deadline) {
      if (opts.onTimeout === 'return-last') return value;
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}; last saw ${opts.show ? opts.show(value) : JSON.stringify(value)}`);
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}

/** Partition offsets, retried: right after a topic is created or the broker restarted, leadership may still be settling. */
export async function topicOffsets(admin: Admin, topic: string): Promise<Array<{ partition: number; high: string; low: string }>> {
  let lastError: unknown;
  const offsets = await pollUntil(
    () => admin.fetchTopicOffsets(topic).catch((err: unknown) => void (lastError = err)),
    (o) => o !== undefined,
    { what: `offsets of ${topic}`, timeoutMs: 10_000, everyMs: 500, onTimeout: 'return-last' },
  );
  if (!offsets) throw lastError;
  return offsets;
}

/** Read every record of a topic (up to its current end) with a kafkajs consumer group. */
export async function consumeAll(bootstrap: string, topic: string, timeoutMs = 60_000): Promise<ReadRecord[]> {
  const kafka = new Kafka({ clientId: 'fabric-test-reader', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await topicOffsets(admin, topic);
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const out: ReadRecord[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `fabric-test-${runId()}`, maxBytes: 50 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages as KafkaMessage[]) {
        out.push({ partition: batch.partition, offset: m.offset, key: m.key?.toString() ?? null, headers: headerStrings(m.headers), value: m.value?.toString() ?? '' });
      }
      if (out.length >= total) done();
    },
  });
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  if (out.length < total) throw new Error(`read ${out.length} of ${total} records from ${topic} within ${timeoutMs} ms`);
  return out;
}

/**
 * Delete the topics whose names start with one of `prefixes` (what a test created). Cluster tests
 * create 64-partition topics per run; left behind, a long-lived broker runs out of file handles.
 */
export async function deleteTopicsWith(bootstrap: string, prefixes: string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const admin = new Kafka({ clientId: 'fabric-test-cleanup', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  } catch {
    // Best effort: a cleanup failure must not fail the test that used the topics.
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
