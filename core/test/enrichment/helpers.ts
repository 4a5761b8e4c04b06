import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { EnricherInstance, EnricherLimits, FabricEvent, Indicator, IndicatorType, Priority, Verdict } from '../../src/plugin-api/index.js';
import type { Clock } from '../../src/enrichment/clock.js';
import { createEnrichmentStage, resolveEnrichmentConfig } from '../../src/enrichment/index.js';
import type { EnrichmentStage, SourceHealth } from '../../src/enrichment/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const datasets = path.resolve(repoRoot, '../shared/datasets');
export const warninglistsDir = path.join(datasets, 'misp-warninglists');

/** A clock that only moves when told to, running due timers in order. */
export class ManualClock implements Clock {
  private timers: Array<{ id: number; at: number; fn: () => void }> = [];
  private nextId = 1;
  constructor(public current: number) {}
  now(): number {
    return this.current;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ id, at: this.current + Math.max(0, ms), fn });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Move time forward, firing every timer that falls due (and the promises they settle). */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.current = Math.max(this.current, next.at);
      next.fn();
      await settle();
    }
    this.current = target;
    await settle();
  }
}

/** Let promise chains (and real I/O callbacks) run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface FakeCall {
  at: number;
  indicators: Indicator[];
}

type Responder = (ind: Indicator, callNo: number) => Verdict | Error;

/** An in-test EnricherInstance: records every lookup() with its time, answers from a function. */
export class FakeEnricher implements EnricherInstance {
  readonly calls: FakeCall[] = [];
  supports: readonly IndicatorType[];
  limits: EnricherLimits;
  key: string;
  respond: Responder;
  /** Simulated latency on the shared clock. */
  delayMs = 0;
  /** When set, a whole call fails with this (once per entry). */
  failures: Error[] = [];

  constructor(
    private readonly clock: ManualClock,
    opts: { supports?: IndicatorType[]; limits?: EnricherLimits; key?: string; respond?: Responder } = {},
  ) {
    this.supports = opts.supports ?? ['ipv4', 'ipv6', 'domain', 'url', 'md5', 'sha1', 'sha256'];
    this.limits = opts.limits ?? { requestsPerMinute: 1000, maxBatchSize: 1 };
    this.key = opts.key ?? 'key-1';
    this.respond = opts.respond ?? ((ind) => ({ indicator: ind, status: 'unknown' }));
  }

  cacheKey(): string {
    return this.key;
  }

  get lookedUp(): string[] {
    return this.calls.flatMap((c) => c.indicators.map((i) => i.value));
  }

  async lookup(indicators: Indicator[], { signal }: { signal: AbortSignal }): Promise<Verdict[]> {
    const callNo = this.calls.length;
    this.calls.push({ at: this.clock.now(), indicators: [...indicators] });
    if (this.delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const h = this.clock.setTimer(resolve, this.delayMs);
        signal.addEventListener(
          'abort',
          () => {
            this.clock.clearTimer(h);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    }
    const failure = this.failures.shift();
    if (failure) throw failure;
    return indicators.map((ind) => {
      const v = this.respond(ind, callNo);
      if (v instanceof Error) throw v;
      return v;
    });
  }
}

let eventSeq = 0;

export function detection(fields: Record<string, unknown>, priority: Priority = 'medium', kind: 'alert' | 'event' = 'alert'): FabricEvent {
  const { event: extraEvent, fabric: extraFabric, ...rest } = fields as { event?: Record<string, unknown>; fabric?: Record<string, unknown> };
  return {
    '@timestamp': '2026-01-15T00:00:00.000Z',
    ...rest,
    event: { id: `e${++eventSeq}`, kind, severity: 47, ...extraEvent },
    rule: { id: 'r1', name: 'Network scanning' },
    fabric: {
      collector: 'c1',
      plugin: 'p',
      fingerprint: `f${eventSeq}`,
      schema_version: '2.0.0',
      ...(kind === 'alert' ? { alert_type: 'detection', rule: { name: 'rf_network_scanning', level: 'medium' } } : {}),
      priority,
      ...extraFabric,
    },
  } as FabricEvent;
}

export async function tempStateDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fabric-enrichment-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const silentLogger = pino({ level: 'silent' });

export interface Harness {
  stage: EnrichmentStage;
  registry: Registry;
  health: Array<{ id: string } & SourceHealth>;
}

export async function makeStage(opts: {
  config?: Record<string, unknown>;
  enrichers: Array<{ id: string; plugin?: string; instance: EnricherInstance; config?: Record<string, unknown> }>;
  stateDir: string;
  clock: Clock;
  registry?: Registry;
}): Promise<Harness> {
  const registry = opts.registry ?? new Registry();
  const health: Harness['health'] = [];
  const stage = await createEnrichmentStage(
    resolveEnrichmentConfig(opts.config ?? {}),
    opts.enrichers.map((e) => ({ id: e.id, plugin: e.plugin ?? `@test/${e.id}`, instance: e.instance, config: e.config ?? {} })),
    {
      logger: silentLogger,
      metrics: registry,
      stateDir: opts.stateDir,
      configDir: repoRoot,
      clock: opts.clock,
      onSourceHealth: (id, h) => health.push({ id, ...h }),
    },
  );
  return { stage, registry, health };
}

/** Run one batch through the stage while time moves on by `ms` (the deadline). */
export async function processWithin(stage: EnrichmentStage, clock: ManualClock, batch: FabricEvent[], ms: number): Promise<FabricEvent[]> {
  const p = stage.process(batch);
  await clock.advance(ms);
  return p;
}

export function reputation(e: FabricEvent): Record<string, any> {
  return (e.fabric as Record<string, any>).reputation;
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  if (!m) return 0;
  return m.values.filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val)).reduce((s, v) => s + v.value, 0);
}

/** Largest number of calls inside any window of `windowMs`. */
export function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
