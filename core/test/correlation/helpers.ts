import { mkdtemp } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { validateAgainstSchema } from '../../src/config/validate.js';
import { CorrelationConfigSchema, createCorrelationStage, type CorrelationConfig, type CorrelationStage } from '../../src/correlation/index.js';
import type { BatchTicket } from '../../src/pipeline/stage.js';
import { readStateFile, type StateFile } from '../../src/correlation/state-file.js';
import { isCorrelationAlert } from '../../src/events/ecs.js';

export const T0 = Date.parse('2026-11-20T10:00:00.000Z');
export const NOW = Date.parse('2026-11-27T12:00:00.000Z');
export const SEC = 1000;
export const MIN = 60 * SEC;

let seq = 0;

export interface DetectionSpec {
  t: number;
  rules: string[];
  ip?: string;
  user?: string;
  collector?: string;
  id?: string;
  extra?: Record<string, unknown>;
}

/** A detection as the detection engine emits it (original event + rule-match annotations). */
export function detection(d: DetectionSpec): FabricEvent {
  const id = d.id ?? `det-${++seq}`;
  return {
    '@timestamp': new Date(d.t).toISOString(),
    message: `test detection ${id}`,
    event: { id, kind: 'alert', severity: 21, category: ['authentication'] },
    ...(d.ip !== undefined ? { source: { ip: d.ip } } : {}),
    ...(d.user !== undefined ? { user: { name: d.user } } : {}),
    ...(d.extra ?? {}),
    fabric: {
      collector: d.collector ?? 'auth-log',
      plugin: '@reactive-fabric/plugin-log-file',
      fingerprint: `fp-${id}`,
      schema_version: '2.0.0',
      alert_type: 'detection',
      rule: { name: d.rules[0], level: 'low' },
      priority: 'low',
      matches: d.rules.map((name) => ({ id: `${name}-id`, name, title: name, level: 'low', techniques: [], tactics: [] })),
    },
  } as FabricEvent;
}

export const failed = (t: number, ip: string, extra: Partial<DetectionSpec> = {}) => detection({ t, ip, rules: ['rf_failed_authentication'], user: 'root', ...extra });
export const success = (t: number, ip: string, extra: Partial<DetectionSpec> = {}) => detection({ t, ip, rules: ['rf_successful_authentication'], user: 'root', ...extra });

export function config(over: Partial<CorrelationConfig> = {}): CorrelationConfig {
  const { value, errors } = validateAgainstSchema(CorrelationConfigSchema, over);
  if (errors.length) throw new Error(JSON.stringify(errors));
  return value as CorrelationConfig;
}

const created: string[] = [];
// Registered in the root suite of each test file that imports these helpers.
afterAll(() => {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rf-correlation-'));
  created.push(dir);
  return dir;
}

export interface Harness {
  stage: CorrelationStage;
  /** The pipeline's acknowledgement: `ticket`'s batch (default: the oldest fed and not yet acknowledged) is durable in the sink. */
  ack(ticket?: BatchTicket): Promise<void>;
  /** Tickets of fed batches, in feeding order. */
  tickets: BatchTicket[];
  metrics: Registry;
  stateDir: string;
  /** All alerts returned so far. */
  alerts: FabricEvent[];
  feed(batch: FabricEvent[]): Promise<FabricEvent[]>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export async function harness(
  over: Partial<CorrelationConfig> = {},
  opts: { stateDir?: string; configDir?: string; now?: () => number; logger?: pino.Logger } = {},
): Promise<Harness> {
  const stateDir = opts.stateDir ?? (await tempDir());
  const metrics = new Registry();
  const stage = await createCorrelationStage(config(over), {
    logger: opts.logger ?? pino({ level: 'silent' }),
    metrics,
    stateDir,
    configDir: opts.configDir ?? stateDir,
    now: opts.now ?? (() => NOW),
  });
  const alerts: FabricEvent[] = [];
  const tickets: BatchTicket[] = [];
  const acked = new Set<BatchTicket>();
  return {
    stage,
    metrics,
    stateDir,
    alerts,
    tickets,
    async ack(ticket) {
      // With every fed batch acknowledged, a batch this stage never saw: it releases nothing.
      const t = ticket ?? tickets.find((x) => !acked.has(x)) ?? { seq: -1, collector: 'other' };
      acked.add(t);
      await stage.acknowledge!(t);
    },
    async feed(batch) {
      const ticket: BatchTicket = { seq: tickets.length + 1, collector: 'auth-log' };
      tickets.push(ticket);
      const out = await stage.process(batch, ticket);
      const fresh = out.filter((e) => isCorrelationAlert(e));
      alerts.push(...fresh);
      return fresh;
    },
    async metric(name, labels) {
      const m = await metrics.getSingleMetric(name)?.get();
      if (!m) return 0;
      return m.values.filter((v) => !labels || Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x)).reduce((s, v) => s + v.value, 0);
    },
  };
}

/** The Sigma name of the rule that raised an alert (ECS rule.name is its title). */
export const ruleOf = (alert: FabricEvent) => (alert.fabric as unknown as { rule: { name: string } }).rule.name;
export const corr = (e: FabricEvent) => (e.fabric as unknown as { correlation: Record<string, unknown> }).correlation;

/** The checkpointed state a restart would resume from (base file and journals together). */
export async function savedState(stateDir: string, file = 'correlation-state.json'): Promise<StateFile> {
  const read = await readStateFile(path.join(stateDir, file), { warn: () => {} });
  if (read.kind !== 'ok') throw new Error(`no usable checkpoint in ${stateDir}: ${read.kind === 'invalid' ? read.reason : 'missing'}`);
  return read.state;
}
