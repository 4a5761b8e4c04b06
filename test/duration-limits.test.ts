import { describe, expect, it } from 'vitest';
import { MAX_SPAN_MS, MAX_TIMER_MS, type PluginDefinition } from '@reactive-fabric/core';
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
 * Every duration in every config schema the project ships has a maximum, found by the field's unit
 * suffix so a new field cannot forget it. Node turns a timer delay past MAX_TIMER_MS into 1 ms, so a
 * field a timer waits on (an interval, a timeout, a backoff) is refused above it, or "poll every
 * 35 days" becomes a poll loop without pause. Other spans (look-backs, TTLs, lateness) stop at a
 * century, past which a look-back made every poll fail with "Invalid time value".
 */

const UNIT_MS: Record<string, number> = { ms: 1, seconds: 1000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 };
const DURATION = /_(ms|seconds|minutes|hours|days)$/;
/** Names of fields a timer waits on. */
const TIMER_NAME = /(timeout|interval|backoff|heartbeat|deadline|stable_after|unresponsive_after)[a-z_]*_(ms|seconds|minutes|hours|days)$/;
/** Compared against elapsed time, never handed to a timer: a longer value is a real choice. */
const NOT_A_TIMER = new Set(['blacklist_interval_minutes', 'checkpoint_interval_seconds']);

type Schema = Record<string, unknown>;
type TimerField = { path: string; unitMs: number; maximum: unknown; timer: boolean };
function timerFields(schema: unknown, path: string, out: TimerField[] = [], seen = new Set<unknown>()): TimerField[] {
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return out;
  seen.add(schema);
  const s = schema as Schema;
  for (const [key, child] of Object.entries((s.properties as Record<string, Schema> | undefined) ?? {})) {
    const m = DURATION.exec(key);
    if (m && (child.type === 'number' || child.type === 'integer')) {
      out.push({ path: `${path}.${key}`, unitMs: UNIT_MS[m[1]!]!, maximum: child.maximum, timer: TIMER_NAME.test(key) && !NOT_A_TIMER.has(key) });
    }
    timerFields(child, `${path}.${key}`, out, seen);
  }
  for (const k of ['items', 'additionalProperties']) if (s[k] && typeof s[k] === 'object') timerFields(s[k], `${path}[]`, out, seen);
  for (const k of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(s[k])) for (const b of s[k] as unknown[]) timerFields(b, path, out, seen);
  return out;
}

const plugins = [elasticsearch, splunk, graylog, otx, misp, abuseipdb, virustotal, logFile] as unknown as PluginDefinition[];

describe('duration fields of every config schema', () => {
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
    expect(paths).toContain('@reactive-fabric/plugin-ti-otx.feed_lookback_days');
    expect(fields.filter((f) => f.timer).length).toBeGreaterThan(20);
    expect(fields.filter((f) => !f.timer).length).toBeGreaterThan(15);
  });

  it('a field a timer waits on has a maximum a timer can hold', () => {
    const unbounded = fields
      .filter((f) => f.timer && (typeof f.maximum !== 'number' || f.maximum * f.unitMs > MAX_TIMER_MS))
      .map((f) => `${f.path} (maximum ${String(f.maximum)})`);
    expect(unbounded).toEqual([]);
  });

  it('every other duration stops at a century', () => {
    const unbounded = fields
      .filter((f) => !f.timer && (typeof f.maximum !== 'number' || f.maximum * f.unitMs > MAX_SPAN_MS))
      .map((f) => `${f.path} (maximum ${String(f.maximum)})`);
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

  it('a look-back in the wrong unit is refused before it fails every poll', () => {
    const { errors } = validateAgainstSchema(elasticsearch.configSchema, { host: 'es.example', query_window_minutes: 1e12 });
    expect(errors.map((e) => [e.path, e.message])).toEqual([['/query_window_minutes', expect.stringMatching(/<= 52596000: longer than a century: check the unit/)]]);
  });

  it('detection.pool_size cannot ask for thousands of threads', () => {
    const { errors } = validateAgainstSchema(FabricConfigSchema, { detection: { pool_size: 100_000 }, sink: { type: 'jsonl' } });
    expect(errors.map((e) => e.path)).toEqual(['/detection/pool_size']);
  });
});
