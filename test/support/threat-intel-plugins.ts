import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FabricEvent } from '@reactive-fabric/core';
import { ManualClock, detection, makeStage, reputation, tempStateDir } from '../../core/test/enrichment/helpers.js';
import type { Harness } from '../../core/test/enrichment/helpers.js';
import { tempDir } from '../../core/test/helpers.js';
import type { EnricherInstance, PluginContext, PluginDefinition, TSchema } from '@reactive-fabric/core';
import { validateAgainstSchema } from '../../core/src/config/validate.js';

export interface LogLine {
  level: string;
  obj: unknown;
  msg?: string;
}

/** Validate + default a config the way the host does, then create the instance. */
export async function instantiate(plugin: PluginDefinition<TSchema, 'enricher'>, config: Record<string, unknown>, logs: LogLine[] = []): Promise<EnricherInstance> {
  const { value, errors } = validateAgainstSchema(plugin.configSchema, config);
  if (errors.length > 0) throw new Error(`invalid config: ${JSON.stringify(errors)}`);
  const log = (level: string) => (obj: unknown, msg?: string) => {
    logs.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
  };
  const context: PluginContext = {
    collectorId: 'ti-test',
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    stateDir: tempDir('fabric-ti-'),
    signal: new AbortController().signal,
  };
  const instance = (await plugin.create(value as never, context)) as EnricherInstance;
  await instance.start?.();
  return instance;
}

export function configErrors(plugin: PluginDefinition<TSchema, 'enricher'>, config: Record<string, unknown>) {
  return validateAgainstSchema(plugin.configSchema, config).errors;
}

export const signal = (): AbortSignal => new AbortController().signal;

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Record<string, unknown> & Error> {
  try {
    await p;
  } catch (err) {
    return err as Record<string, unknown> & Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

// ---------------------------------------------------------------------------------------------
// The plugin inside core's enrichment stage, against its fake: cache hits and expiry, cache
// invalidation on a key change, warninglist exclusion, auth failure and recovery, quota → queued
// then served. The stage runs on a manual clock; real HTTP to the fake runs in real time, so the
// driver gives I/O a few real milliseconds between clock steps.

export interface StageFake {
  url: string;
  apiKeys: Set<string>;
  requests: Array<{ status: number; path: string }>;
  start(): Promise<string>;
  stop(): Promise<void>;
  setQuota(bucket: string, limits: { perMinute?: number; perDay?: number }): void;
  advance(ms: number): void;
}

export interface StageScenarioOptions {
  id: string;
  plugin: PluginDefinition<TSchema, 'enricher'>;
  makeFake(): StageFake;
  apiKey: string;
  /** Extra plugin config. */
  config?: Record<string, unknown>;
  /** The fake's quota bucket lookups count against. */
  quotaBucket: string;
  /** Status the seeded indicators 198.51.100.66 / 203.0.113.50 get from this source. */
  knownStatus: string;
}

/** Let real I/O happen while the manual clock moves, until `p` settles. */
async function drive<T>(p: Promise<T>, clock: ManualClock, onStep?: () => void, stepMs = 1000, maxSteps = 400): Promise<T> {
  let state: { done: false } | { done: true; value?: T; error?: unknown } = { done: false };
  p.then(
    (value) => (state = { done: true, value }),
    (error: unknown) => (state = { done: true, error }),
  );
  for (let i = 0; i < maxSteps && !state.done; i++) {
    await new Promise((r) => setTimeout(r, 5));
    onStep?.();
    await clock.advance(stepMs);
  }
  const s = state as { done: boolean; value?: T; error?: unknown };
  if (!s.done) throw new Error(`the enrichment stage did not finish within ${maxSteps} steps`);
  if (s.error !== undefined) throw s.error;
  return s.value as T;
}

export function stageScenarios(o: StageScenarioOptions): void {
  describe(`${o.id} inside the enrichment stage`, () => {
    let fake: StageFake;
    let state: Awaited<ReturnType<typeof tempStateDir>>;
    let clock: ManualClock;
    let h: Harness | undefined;

    beforeEach(async () => {
      fake = o.makeFake();
      await fake.start();
      state = await tempStateDir();
      clock = new ManualClock(Date.parse('2026-11-27T10:00:00Z'));
    });
    afterEach(async () => {
      await h?.stage.stop();
      h = undefined;
      await fake.stop();
      await state.cleanup();
    });

    async function build(key = o.apiKey, stageConfig: Record<string, unknown> = {}): Promise<Harness> {
      await h?.stage.stop();
      const raw = { api_key: key, base_url: fake.url, cache_ttl_minutes: 1, ...o.config };
      const { value, errors } = validateAgainstSchema(o.plugin.configSchema, raw);
      if (errors.length > 0) throw new Error(JSON.stringify(errors));
      const instance = await instantiate(o.plugin, raw);
      h = await makeStage({
        config: { lookup_documentation_ranges: true, deadline_ms: 3_600_000, request_timeout_ms: 600_000, ...stageConfig },
        enrichers: [{ id: o.id, plugin: o.plugin.name, instance, config: value as Record<string, unknown> }],
        stateDir: state.dir,
        clock,
      });
      return h;
    }

    const enrich = async (ip: string, onStep?: () => void): Promise<FabricEvent> => {
      const e = detection({ source: { ip } });
      await drive(h!.stage.process([e]), clock, onStep);
      return e;
    };
    const statusOf = (e: FabricEvent): string | undefined =>
      ((e['threat'] as { enrichments?: Array<{ verdict: { status: string } }> } | undefined)?.enrichments ?? [])[0]?.verdict.status;

    it('looks a known indicator up once, serves it from the cache, and asks again after cache_ttl_minutes', async () => {
      await build();
      const e1 = await enrich('198.51.100.66');
      expect(reputation(e1).sources_answered).toEqual([o.id]);
      expect(statusOf(e1)).toBe(o.knownStatus);
      expect(fake.requests).toHaveLength(1);
      const e2 = await enrich('198.51.100.66');
      expect(reputation(e2).sources_answered).toEqual([o.id]);
      expect(fake.requests).toHaveLength(1);
      await clock.advance(61_000);
      await enrich('198.51.100.66');
      expect(fake.requests).toHaveLength(2);
    });

    it('answers a never-seen indicator as unknown, not clean', async () => {
      await build();
      const e = await enrich('192.0.2.201');
      expect(reputation(e).sources_answered).toEqual([o.id]);
      expect(statusOf(e)).toBe('unknown');
    });

    it('keeps cached answers across a restart, but not for a changed API key', async () => {
      await build();
      await enrich('198.51.100.66');
      expect(fake.requests).toHaveLength(1);
      await build(); // restart, same key: the persisted cache answers
      const same = await enrich('198.51.100.66');
      expect(reputation(same).sources_answered).toEqual([o.id]);
      expect(fake.requests).toHaveLength(1);
      const other = `${o.apiKey.slice(0, -4)}ZZZZ`;
      fake.apiKeys.add(other);
      await build(other);
      await enrich('198.51.100.66');
      expect(fake.requests).toHaveLength(2);
    });

    it('never sends an indicator that is on a warninglist', async () => {
      const file = `${state.dir}/list.json`;
      await writeFile(
        file,
        JSON.stringify({ name: 'Known scanners we own', version: 1, description: 'test', type: 'cidr', list: ['198.51.100.0/24'], matching_attributes: ['ip-src', 'ip-dst'] }),
      );
      await build(o.apiKey, { warninglists: [file] });
      const e = await enrich('198.51.100.66');
      expect(fake.requests).toHaveLength(0);
      expect(JSON.stringify(reputation(e).skipped)).toContain('warninglist');
    });

    it('a refused key degrades the source; once the key is accepted again it answers', async () => {
      fake.apiKeys.delete(o.apiKey);
      await build();
      const e1 = await enrich('198.51.100.66');
      expect(reputation(e1).sources_unanswered).toEqual([expect.objectContaining({ source: o.id, reason: 'AUTH_FAILED' })]);
      expect(h!.health.at(-1)).toMatchObject({ id: o.id, status: 'degraded', code: 'AUTH_FAILED' });
      fake.apiKeys.add(o.apiKey);
      await clock.advance(61_000);
      const e2 = await enrich('203.0.113.50');
      expect(reputation(e2).sources_answered).toEqual([o.id]);
      expect(h!.health.at(-1)).toMatchObject({ id: o.id, status: 'healthy' });
    });

    it('a 429 queues the lookup until the window passes, then serves it', async () => {
      fake.setQuota(o.quotaBucket, { perMinute: 1 });
      await build();
      await enrich('198.51.100.66');
      let moved = false;
      const e = await enrich('203.0.113.50', () => {
        // The vendor's window resets once the stage has been told to wait (the fake runs on real time).
        if (!moved && fake.requests.some((r) => r.status === 429)) {
          fake.advance(60_000);
          moved = true;
        }
      });
      expect(fake.requests.map((r) => r.status)).toEqual([200, 429, 200]);
      expect(reputation(e).sources_answered).toEqual([o.id]);
      expect(reputation(e).sources_unanswered).toEqual([]);
    });
  });
}
