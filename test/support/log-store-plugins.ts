import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { validateAgainstSchema } from '@reactive-fabric/core/runtime';
import type { Checkpoint, PluginContext, PluginDefinition, PollResult, SourceEvent, SourceInstance, TSchema } from '@reactive-fabric/core';

export const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

export interface LogLine {
  level: string;
  obj: unknown;
  msg?: string | undefined;
}

export function testContext(collectorId = 'test'): PluginContext & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj, msg });
  return {
    collectorId,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    stateDir: tmpdir(),
    signal: new AbortController().signal,
    lines,
  };
}

/** Applies the schema defaults the host applies, fails on config errors, builds and starts an instance. */
export async function startSource(plugin: PluginDefinition<TSchema>, config: Record<string, unknown>, ctx = testContext()): Promise<SourceInstance> {
  const { value, errors } = validateAgainstSchema(plugin.configSchema, config);
  if (errors.length > 0) throw new Error(`config invalid: ${JSON.stringify(errors)}`);
  const instance = (await plugin.create(value as never, ctx)) as SourceInstance;
  await instance.start?.();
  return instance;
}

/** Polls like the host: the checkpoint goes through JSON (as it does through the state store). */
export async function pollOnce(source: SourceInstance, checkpoint: Checkpoint | undefined, maxEvents: number): Promise<PollResult> {
  const res = await source.poll({ checkpoint, signal: new AbortController().signal, maxEvents });
  return { ...res, checkpoint: JSON.parse(JSON.stringify(res.checkpoint)) as Checkpoint };
}

/** Polls until the source has nothing more ready now. */
export async function drain(source: SourceInstance, checkpoint: Checkpoint | undefined, maxEvents: number, sink: SourceEvent[], limit = 1000): Promise<Checkpoint | undefined> {
  let cp = checkpoint;
  for (let i = 0; i < limit; i++) {
    const res = await pollOnce(source, cp, maxEvents);
    sink.push(...res.events);
    cp = res.checkpoint;
    if (!res.hasMore) return cp;
  }
  throw new Error(`source still had more after ${limit} polls`);
}

export function ids(events: SourceEvent[]): string[] {
  return events.map((e) => String(e.event?.id));
}

export function duplicates(values: string[]): string[] {
  const seen = new Set<string>();
  return values.filter((v) => (seen.has(v) ? true : (seen.add(v), false)));
}

export async function expectPluginError(p: Promise<unknown>): Promise<{ code: string; message: string; retriable: boolean; retryAfterMs?: number | undefined }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; retriable: boolean; retryAfterMs?: number };
  }
  throw new Error('expected the poll to fail, it succeeded');
}

/**
 * Counts of built-in detection rule matches over events, with the engine the pipeline runs
 * (core internals, imported by path: tests only). Used to check that a plugin's ECS mapping
 * gives the rules what they need, compared with the same lines as a file source emits them.
 */
export async function ruleMatchCounts(events: ReadonlyArray<Record<string, unknown>>): Promise<Record<string, number>> {
  const { validateAgainstSchema: validate, FabricConfigSchema } = await import('@reactive-fabric/core/runtime');
  const { buildEngineSpec } = await import('../../core/src/detection/stage.js');
  const { DetectionEngine } = await import('../../core/src/detection/engine.js');
  const { flattenEvent } = await import('../../core/src/detection/flatten.js');
  const { value } = validate(FabricConfigSchema, {});
  const { spec } = await buildEngineSpec((value as { detection: never }).detection, repoRoot);
  const engine = new DetectionEngine(spec);
  const names = engine.info().map((r) => r.name);
  const counts: Record<string, number> = {};
  for (const e of events) {
    for (const i of engine.evaluate(flattenEvent(structuredClone(e))) ?? []) counts[names[i]!] = (counts[names[i]!] ?? 0) + 1;
  }
  return counts;
}

/** Raw lines as a file source without header parsing would emit them: the baseline for ruleMatchCounts. */
export function rawLineEvents(lines: string[]): Array<Record<string, unknown>> {
  return lines.map((line) => ({ '@timestamp': '2026-11-27T00:00:00.000Z', event: { original: line } }));
}

/**
 * The HTTPS scenario every log-store plugin must pass against its fake serving `certPem` with 3
 * events: an unknown CA is BAD_CONFIG naming tls.ca_file; tls.ca_file or tls.verify: false
 * connect; a missing CA file fails start().
 */
export async function expectTlsOptionsHonoured(plugin: PluginDefinition<TSchema>, base: Record<string, unknown>, certPem: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rf-ca-'));
  try {
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, certPem);
    const strict = await startSource(plugin, base);
    const refused = await expectPluginError(pollOnce(strict, undefined, 10));
    expect(refused.code).toBe('BAD_CONFIG');
    expect(refused.message).toContain('tls.ca_file');
    const trusted = await startSource(plugin, { ...base, tls: { ca_file: caFile } });
    expect((await pollOnce(trusted, undefined, 10)).events).toHaveLength(3);
    const unverified = await startSource(plugin, { ...base, tls: { verify: false } });
    expect((await pollOnce(unverified, undefined, 10)).events).toHaveLength(3);
    await expect(startSource(plugin, { ...base, tls: { ca_file: `${caFile}.missing` } })).rejects.toThrow(/tls\.ca_file ".*ca\.pem\.missing" cannot be read \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
