import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, type PluginDefinition } from '@reactive-fabric/core';
import { FabricConfigSchema } from '../core/src/config/schema.js';
import { NewCollectorBody } from '../core/src/admin/schemas.js';
import { validateAgainstSchema } from '../core/src/config/validate.js';
import elasticsearch from '../plugins/log-elasticsearch/src/index.js';
import splunk from '../plugins/log-splunk/src/index.js';
import graylog from '../plugins/log-graylog/src/index.js';
import otx from '../plugins/ti-otx/src/index.js';
import misp from '../plugins/ti-misp/src/index.js';
import abuseipdb from '../plugins/ti-abuseipdb/src/index.js';
import virustotal from '../plugins/ti-virustotal/src/index.js';
import logFile from '../plugins/log-file/src/index.js';

/**
 * Node turns a timer delay past MAX_TIMER_MS into 1 ms. A config field a timer waits on (an
 * interval, a timeout, a backoff) must therefore be refused above it, or "poll every 35 days"
 * becomes a poll loop without pause. Checked over every config schema the project ships, by field
 * name, so a new field cannot forget it.
 */

const UNIT_MS: Record<string, number> = { ms: 1, seconds: 1000, minutes: 60_000, hours: 3_600_000 };
/** Names of fields a timer waits on (spans compared against event times are not timers). */
const TIMER_NAME = /(timeout|interval|backoff|heartbeat|deadline|stable_after|unresponsive_after)[a-z_]*_(ms|seconds|minutes|hours)$/;
/** Compared against elapsed time, never handed to a timer: a longer value is a real choice. */
const NOT_A_TIMER = new Set(['blacklist_interval_minutes', 'checkpoint_interval_seconds']);

type Schema = Record<string, unknown>;
type TimerField = { path: string; unitMs: number; maximum: unknown };
function timerFields(schema: unknown, path: string, out: TimerField[] = [], seen = new Set<unknown>()): TimerField[] {
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return out;
  seen.add(schema);
  const s = schema as Schema;
  for (const [key, child] of Object.entries((s.properties as Record<string, Schema> | undefined) ?? {})) {
    const m = TIMER_NAME.exec(key);
    if (m && !NOT_A_TIMER.has(key) && (child.type === 'number' || child.type === 'integer')) {
      out.push({ path: `${path}.${key}`, unitMs: UNIT_MS[m[2]!]!, maximum: child.maximum });
    }
    timerFields(child, `${path}.${key}`, out, seen);
  }
  for (const k of ['items', 'additionalProperties']) if (s[k] && typeof s[k] === 'object') timerFields(s[k], `${path}[]`, out, seen);
  for (const k of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(s[k])) for (const b of s[k] as unknown[]) timerFields(b, path, out, seen);
  return out;
}

const plugins = [elasticsearch, splunk, graylog, otx, misp, abuseipdb, virustotal, logFile] as unknown as PluginDefinition[];

describe('timer fields of every config schema', () => {
  const fields = [
    ...timerFields(FabricConfigSchema, 'config'),
    ...timerFields(NewCollectorBody, 'POST /collectors'),
    ...plugins.flatMap((p) => timerFields(p.configSchema, p.name)),
  ];

  it('finds the known timer fields (the walk itself works)', () => {
    const paths = fields.map((f) => f.path);
    expect(paths).toContain('config.orchestrator.collection_interval_seconds');
    expect(paths).toContain('config.detection.task_timeout_ms');
    expect(paths).toContain('POST /collectors.interval_seconds');
    expect(paths.some((p) => p.endsWith('.sink.retry.request_timeout_ms'))).toBe(true);
    expect(paths).toContain('@reactive-fabric/plugin-log-splunk.job_poll_interval_ms');
    expect(fields.length).toBeGreaterThan(20);
  });

  it('each has a maximum a timer can hold', () => {
    const unbounded = fields.filter((f) => typeof f.maximum !== 'number' || f.maximum * f.unitMs > MAX_TIMER_MS).map((f) => `${f.path} (maximum ${String(f.maximum)})`);
    expect(unbounded).toEqual([]);
  });
});

describe('a timer field past what a timer holds', () => {
  it('is refused with the field, the limit and the reason', () => {
    const { errors } = validateAgainstSchema(FabricConfigSchema, { orchestrator: { collection_interval_seconds: 3_000_000 }, sink: { type: 'jsonl' } });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('/orchestrator/collection_interval_seconds');
    expect(errors[0]!.message).toMatch(/<= 2147483.*timer cannot wait longer than about 24\.8 days/);
  });

  it('is accepted at the limit itself', () => {
    const { errors } = validateAgainstSchema(FabricConfigSchema, { orchestrator: { collection_interval_seconds: 2_147_483 }, sink: { type: 'jsonl' } });
    expect(errors).toEqual([]);
  });

  it('detection.pool_size cannot ask for thousands of threads', () => {
    const { errors } = validateAgainstSchema(FabricConfigSchema, { detection: { pool_size: 100_000 }, sink: { type: 'jsonl' } });
    expect(errors.map((e) => e.path)).toEqual(['/detection/pool_size']);
  });
});
