import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Value } from 'typebox/value';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DetectionConfigSchema, type DetectionConfig } from '../../src/detection/config.js';
import { createDetectionStage, type DetectionStage } from '../../src/detection/stage.js';
import type { FabricEvent } from '../../src/plugin-api/index.js';

// Workers run dist/: build with `npx tsc -b` before this file.
const stages: DetectionStage[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(stages.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function stage(over: Partial<DetectionConfig>, files: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rf-iso-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const metrics = new Registry();
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) });
  const config = { ...(Value.Default(DetectionConfigSchema, {}) as DetectionConfig), pool_size: 1, ...over };
  const s = await createDetectionStage(config, { logger, metrics, configDir: dir });
  stages.push(s);
  return { s, metrics, logs };
}

let seq = 0;
function event(message: string, original = `Dec 10 06:55:48 LabSZ sshd[24200]: ${message}`): FabricEvent {
  return {
    '@timestamp': '2026-11-27T10:00:00.000Z',
    message,
    event: { id: `e${++seq}`, original },
    host: { name: 'LabSZ' },
    process: { name: 'sshd', pid: 24200 },
    fabric: { collector: 'auth', plugin: '@reactive-fabric/plugin-log-file', fingerprint: `f${seq}`, schema_version: '1' },
  } as FabricEvent;
}

const failedLogin = (i: number) => event(`Failed password for invalid user u${i} from 198.51.100.${i % 250} port ${40000 + i} ssh2`);
const EVIL = 'a'.repeat(40) + '!';
const REDOS_RULE = "title: ReDoS\nid: r\nname: redos\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|re: '^(a+)+$'\n    condition: sel\nlevel: low\n";
/** Extractor patterns are JavaScript RegExp (unlike rules): the one way left to make a worker backtrack. */
const EVIL_EXTRACTOR = { name: 'evil_extractor', type: 'regex' as const, patterns: [{ regex: '^(?<app__x>(a+)+)$' }] };

async function counter(metrics: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await metrics.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

describe('detection isolates hostile events instead of dropping their batch', () => {
  it('a ^(a+)+$ rule and a line of 40 a and a "!" among 200 failed logins: all 200 signals, nothing skipped', async () => {
    const { s, metrics } = await stage({ rules: ['.'] }, { 'redos.yml': REDOS_RULE });
    const batch = Array.from({ length: 200 }, (_, i) => failedLogin(i));
    batch.splice(100, 0, event(EVIL, `Nov 27 10:00:00 h app[1]: ${EVIL}`));
    const out = (await s.process(batch)) as Record<string, any>[];
    expect(out).toHaveLength(201);
    const signals = out.filter((e) => e.fabric?.rule?.name === 'rf_failed_authentication');
    expect(signals).toHaveLength(200);
    // The evil line was evaluated (RE2 decides it in linear time): no match, not skipped.
    expect(out[100]!.rule).toBeUndefined();
    expect(out[100]!.fabric.detection).toBeUndefined();
    expect(await counter(metrics, 'fabric_detection_skipped_events_total')).toBe(0);
    expect(await counter(metrics, 'fabric_detection_failed_batches_total')).toBe(0);
    // The same rule still fires on a line it matches.
    const [hit] = (await s.process([event('a'.repeat(40))])) as Record<string, any>[];
    expect(hit!.fabric.rule.name).toBe('redos');
  });

  it('an event that stalls a worker is skipped, marked, counted and logged; the other events of its batch are all detected', async () => {
    const { s, metrics, logs } = await stage({ extractors: [EVIL_EXTRACTOR], task_timeout_ms: 500 });
    const batch = Array.from({ length: 2000 }, (_, i) => failedLogin(i));
    const evilAt = [7, 1000, 1998];
    for (const i of evilAt) batch[i] = event(EVIL);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const out = (await s.process(batch)) as Record<string, any>[];
    clearInterval(timer);
    // The main thread kept serving timers while the workers were stuck.
    expect(ticks).toBeGreaterThan(0);
    expect(out).toHaveLength(2000);
    for (let i = 0; i < out.length; i++) {
      if (evilAt.includes(i)) {
        expect(out[i]!.rule).toBeUndefined();
        expect(out[i]!.fabric.detection).toEqual({ skipped: 'timeout', extractor: 'evil_extractor' });
      } else {
        expect(out[i]!.fabric?.rule?.name, `event ${i}`).toBe('rf_failed_authentication');
        expect(out[i]!.user).toEqual({ name: `u${i}` });
      }
    }
    expect(await counter(metrics, 'fabric_detection_skipped_events_total', { reason: 'timeout', collector: 'auth' })).toBe(3);
    expect(await counter(metrics, 'fabric_detection_failed_batches_total')).toBe(0);
    expect(await counter(metrics, 'fabric_detection_signals_total', { rule: 'rf_failed_authentication' })).toBe(1997);
    const warned = logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('detection skipped one event'));
    expect(warned).toHaveLength(3);
    expect(warned[0]).toMatchObject({ collector: 'auth', reason: 'timeout', extractor: 'evil_extractor', event_id: batch[7]!.event.id, prefix: EVIL.slice(0, 40) });
    // Only a short prefix of the attacker's line reaches the log.
    expect(JSON.stringify(warned)).not.toContain(EVIL);

    // The stage is not left blocked: the next batch is evaluated normally.
    const next = (await s.process([failedLogin(1), failedLogin(2)])) as Record<string, any>[];
    expect(next.map((e) => e.fabric?.rule?.name)).toEqual(['rf_failed_authentication', 'rf_failed_authentication']);
    // Each stall costs its budget plus a worker restart; a busy machine needs more than the default 30 s ceiling.
  }, 120_000);

  it('a stall in one of several chunks in flight costs only that event', async () => {
    const { s, metrics } = await stage({ extractors: [EVIL_EXTRACTOR], task_timeout_ms: 400, batch_size: 25 });
    const batch = Array.from({ length: 200 }, (_, i) => failedLogin(i));
    batch.splice(30, 0, event(EVIL));
    const out = (await s.process(batch)) as Record<string, any>[];
    expect(out.filter((e) => e.fabric?.rule?.name === 'rf_failed_authentication')).toHaveLength(200);
    expect(out[30]!.fabric.detection).toMatchObject({ skipped: 'timeout' });
    expect(await counter(metrics, 'fabric_detection_skipped_events_total')).toBe(1);
    // The chunk that stalled ran once more, without its evil event.
    expect(await counter(metrics, 'fabric_detection_retried_tasks_total')).toBe(1);
  }, 60_000);
});
