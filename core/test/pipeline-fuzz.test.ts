import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Value } from 'typebox/value';
import { Registry } from 'prom-client';
import { createDetectionStage, type DetectionStage } from '../src/detection/stage.js';
import { DetectionConfigSchema, type DetectionConfig } from '../src/detection/config.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { DedupStage } from '../src/pipeline/dedup.js';
import { createCorrelationStage } from '../src/correlation/index.js';
import { CorrelationConfigSchema, type CorrelationConfig } from '../src/correlation/config.js';
import { validateAgainstSchema } from '../src/config/validate.js';
import { loadConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import type { Checkpoint, FabricEvent } from '../src/plugin-api/index.js';
import type { PipelineStage } from '../src/pipeline/stage.js';
import { harness } from './collector-harness.js';
import { MemorySink, repoRoot, silentLogger, tempDir, until } from './helpers.js';

/**
 * Random and adversarial input thrown at the real pipeline. Seeded and bounded: the same cases
 * run every time, in a few seconds. Properties: the process stays up, every valid event is
 * delivered, no checkpoint is committed before every valid event of the batches it covers was
 * delivered, and Object.prototype is never touched.
 */
const SEED = 1_600_016;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  expect(Object.keys(Object.prototype)).toEqual([]);
});

const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();
const PROTOTYPE_KEYS = prototypeKeys();

// --- plugin results ------------------------------------------------------------------------------

/** Hostile values are built inside the property (fast-check itself must not touch a revoked Proxy). */
type Item = { kind: 'valid'; marker: string; event: Record<string, unknown> } | { kind: 'hostile'; label: string; make: () => unknown };

const isoTime = fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') }).map((t) => new Date(t).toISOString());
const fieldName = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'source.ip', '__proto__.x', 'constructor.prototype.y', 'a.b.c', ''),
  fc.string({ maxLength: 12 }),
);
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string({ maxLength: 40 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fieldName, tie('value'), { maxKeys: 4 }),
})).value;

function deep(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { d: v };
  return v;
}

function cyclic(ts: string): unknown {
  const o: Record<string, unknown> = { '@timestamp': ts, message: 'cycle' };
  o.nested = { list: [o] };
  return o;
}

const h = (label: string, make: () => unknown): Item => ({ kind: 'hostile', label, make });
const hostile: fc.Arbitrary<Item> = fc.oneof(
  isoTime.map((ts) => h('cycle', () => cyclic(ts))),
  isoTime.map((ts) => h('bigint', () => ({ '@timestamp': ts, big: 12345678901234567890n }))),
  isoTime.map((ts) =>
    h('toJSON throws', () => ({
      '@timestamp': ts,
      v: {
        toJSON() {
          throw new Error('toJSON says no');
        },
      },
    })),
  ),
  isoTime.map((ts) =>
    h('getter throws', () =>
      Object.defineProperty({ '@timestamp': ts }, 'trap', {
        enumerable: true,
        get() {
          throw new Error('getter says no');
        },
      }),
    ),
  ),
  fc.tuple(isoTime, fc.integer({ min: 40, max: 20_000 })).map(([ts, d]) => h(`deep ${d}`, () => ({ '@timestamp': ts, deep: deep(d) }))),
  isoTime.map((ts) => h('huge', () => ({ '@timestamp': ts, huge: 'x'.repeat(1_100_000) }))),
  isoTime.map((ts) => h('sparse array of length 2^32-1', () => ({ '@timestamp': ts, list: Object.assign([], { length: 4_294_967_295 }) }))),
  fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.integer()), fc.constant(undefined)).map((v) => h('not an object', () => v)),
  jsonish.map((v) => h('no @timestamp', () => ({ junk: v }))),
  isoTime.map((ts) =>
    h('revoked proxy', () => {
      const r = Proxy.revocable({ '@timestamp': ts }, {});
      r.revoke();
      return r.proxy;
    }),
  ),
);

let markerSeq = 0;
/** Valid, but odd: prototype-ish keys, dotted keys, lone surrogates, NUL bytes. */
const valid: fc.Arbitrary<Item> = fc
  .tuple(isoTime, fc.dictionary(fieldName, jsonish, { maxKeys: 5 }), fc.constantFrom('', '\u0000', '\uD800', '\uDFFF\uD800', 'é\u0000\u202E'))
  .map(([ts, extra, odd]) => {
    const marker = `valid-${++markerSeq}`;
    // JSON.parse: "__proto__" becomes an own key, as when a plugin parses a log line.
    const parsed = JSON.parse(JSON.stringify(extra)) as Record<string, unknown>;
    // Half of them look like failed SSH logins from one address: signals, and correlation alerts.
    const message = markerSeq % 2 ? `Failed password for root from 203.0.113.9 port 22 ssh2 ${marker}${odd}` : `${marker}${odd}`;
    // Failed logins share a minute, so five of them make a brute-force window.
    const at = markerSeq % 2 ? new Date(Date.parse('2026-06-01T00:00:00Z') + (markerSeq % 60) * 1000).toISOString() : ts;
    return { kind: 'valid' as const, marker, event: { ...parsed, '@timestamp': at, message, process: { name: 'sshd' }, event: { id: marker } } };
  });

/** What a real sink does: serialise every event (and throw on what cannot be). */
class SerialisingSink extends MemorySink {
  readonly delivered = new Set<string>();
  failNext = 0;
  override async write(events: readonly FabricEvent[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('sink write failed');
    }
    const lines = events.map((e) => JSON.stringify(e));
    await super.write(events);
    for (const l of lines) {
      const id = (JSON.parse(l) as { event: { id: string } }).event.id;
      this.delivered.add(id);
    }
  }
}

/** The real detection stage (built-in rules, one worker; workers run dist/: build first). */
let detection: DetectionStage;
const detectionDir = mkdtempSync(join(tmpdir(), 'fabric-fuzz-det-'));
beforeAll(async () => {
  const config = { ...(Value.Default(DetectionConfigSchema, {}) as DetectionConfig), pool_size: 1 };
  detection = await createDetectionStage(config, { logger: silentLogger(), metrics: new Registry(), configDir: detectionDir });
});
afterAll(async () => {
  await detection?.stop();
  rmSync(detectionDir, { recursive: true, force: true });
});

async function correlationStage(stateDir: string): Promise<PipelineStage> {
  const { value } = validateAgainstSchema(CorrelationConfigSchema, { checkpoint_interval_seconds: 0 });
  return createCorrelationStage(value as CorrelationConfig, { logger: silentLogger(), metrics: new Registry(), stateDir, configDir: stateDir, detectionRules: detection.rules });
}

describe('pipeline fuzz (seeded)', () => {
  it('plugin results: valid events always delivered, nothing committed ahead of delivery, prototype untouched', async () => {
    const kinds = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: hostile }), { minLength: 0, maxLength: 12 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        async (generated, failures) => {
          // Plus one batch of failed logins from one address, so every run has signals and a correlated alert.
          const burst = Date.parse('2026-07-01T00:00:00Z');
          const ip = `198.51.100.${(markerSeq % 250) + 1}`;
          const batches: Item[][] = [
            ...generated,
            Array.from({ length: 6 }, (_, i) => {
              const marker = `burst-${++markerSeq}`;
              return {
                kind: 'valid' as const,
                marker,
                event: {
                  '@timestamp': new Date(burst + i * 1000).toISOString(),
                  message: `Failed password for root from ${ip} port 22 ssh2 ${marker}`,
                  process: { name: 'sshd' },
                  event: { id: marker },
                },
              };
            }),
          ];
          const stateDir = tempDir('fabric-fuzz-');
          dirs.push(stateDir);
          const sink = new SerialisingSink();
          const stages: PipelineStage[] = [detection, new DedupStage(300_000), await correlationStage(stateDir)];
          let polls = 0;
          const hs = harness(
            () => ({
              poll: async ({ checkpoint }) => {
                polls++;
                const at = (checkpoint as { at?: number } | null | undefined)?.at ?? 0;
                // A sink write fails now and then: the collector must re-read, not skip.
                if (failures[polls % failures.length] && polls < 20) sink.failNext = 1;
                if (at >= batches.length) return { events: [], checkpoint: { at } };
                return { events: batches[at]!.map((x) => (x.kind === 'valid' ? x.event : x.make())) as never, checkpoint: { at: at + 1 }, hasMore: true };
              },
            }),
            { sink, timing: { intervalMs: 5, batchSize: 100, maxUncommittedBatches: 3 }, pipeline: { stages, maxInFlightBatches: 3 } },
          );
          dirs.push(hs.stateDir);
          const violations: string[] = [];
          const write = hs.checkpoints.write.bind(hs.checkpoints);
          hs.checkpoints.write = (id: string, value: Checkpoint) => {
            const at = (value as { at: number }).at;
            for (let b = 0; b < at; b++)
              for (const x of batches[b]!)
                if (x.kind === 'valid' && !sink.delivered.has(x.marker)) violations.push(`checkpoint {at: ${at}} committed before ${x.marker} of batch ${b} was delivered`);
            return write(id, value);
          };
          hs.collector.send({ type: 'START' });
          const wanted = batches.flat().filter((x): x is Extract<Item, { kind: 'valid' }> => x.kind === 'valid');
          try {
            await until(
              async () => wanted.every((x) => sink.delivered.has(x.marker)) && ((await hs.checkpoints.read('c1')).value as { at?: number } | undefined)?.at === batches.length,
              20_000,
              5,
            );
          } finally {
            hs.collector.send({ type: 'STOP' });
            await until(() => hs.collector.currentState === 'stopped');
            await hs.collector.drained();
            hs.collector.dispose();
          }
          expect(violations).toEqual([]);
          expect(prototypeKeys()).toEqual(PROTOTYPE_KEYS);
          // Every event delivered is plain JSON that survives a round trip.
          for (const e of sink.events) {
            expect(typeof JSON.parse(JSON.stringify(e))).toBe('object');
            const kind = `${String(e.event?.kind)}/${String((e.fabric as { alert_type?: string } | undefined)?.alert_type)}`;
            kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
          }
        },
      ),
      { seed: SEED, numRuns: 25, endOnFailure: true },
    );
    // The stages really ran: detections and correlated alerts were among what was delivered.
    expect(kinds.get('alert/detection') ?? 0).toBeGreaterThan(0);
    expect(kinds.get('alert/correlation') ?? 0).toBeGreaterThan(0);
  });

  it('log lines through the real log-file plugin: valid lines delivered, hostile lines delivered or dead-lettered, checkpoint at the end of the file', async () => {
    const hostileLine = fc.oneof(
      fc.integer({ min: 33, max: 5_000 }).map((d) => `{"@timestamp":"2026-01-01T00:00:00Z","message":"deep","a":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}`),
      fc.constantFrom(
        '{"@timestamp":"2026-01-01T00:00:00Z","message":"p","__proto__":{"pwned":"yes"}}',
        '{"@timestamp":"2026-01-01T00:00:00Z","__proto__.polluted":"yes","constructor":{"prototype":{"polluted":"yes"}}}',
        '{"@timestamp":"2026-01-01T00:00:00Z","a":{"__proto__":{"toString":"boom"}}}',
        '{"@timestamp":1e400,"message":"inf"}',
        '{"@timestamp":"2026-01-01T00:00:00Z","n":123456789012345678901234567890}',
        '\u0000\u0000\u0000',
        '{"unterminated": ',
        '[1,2,3]',
      ),
      fc.string({ maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, ' ')),
      fc.integer({ min: 70_000, max: 200_000 }).map((n) => `{"@timestamp":"2026-01-01T00:00:00Z","message":"${'y'.repeat(n)}"}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constant(null), hostileLine), { minLength: 5, maxLength: 40 }), async (spec) => {
        const dir = tempDir('fabric-fuzz-lines-');
        dirs.push(dir);
        const markers: string[] = [];
        const parts: Buffer[] = [];
        spec.forEach((s, i) => {
          if (s === null) {
            const marker = `validline${i}x${markers.length}`;
            markers.push(marker);
            parts.push(Buffer.from(`Dec 10 06:55:${String(i % 60).padStart(2, '0')} host sshd[${i}]: Failed password for ${marker} from 10.0.0.${i % 250} port 22 ssh2\n`));
          } else parts.push(Buffer.from(`${s}\n`));
          // Invalid UTF-8 between some lines.
          if (i % 7 === 3) parts.push(Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x0a]));
        });
        const file = join(dir, 'app.log');
        writeFileSync(file, Buffer.concat(parts));
        writeFileSync(
          join(dir, 'fabric.yaml'),
          `state_dir: ./state\ndetection: { enabled: false }\npipeline: { publish: all }\norchestrator: { event_batch_size: 7, event_deduplication_window_seconds: 0 }\ncollectors:\n  - id: app\n    plugin: "@reactive-fabric/plugin-log-file"\n    config: { paths: [app.log] }\n`,
        );
        const orch = await composeFabric(loadConfig(join(dir, 'fabric.yaml'), {}), { cwd: repoRoot, logger: silentLogger(), once: { maxPolls: 10_000 } });
        await orch.runOnce();
        const published = readFileSync(join(dir, 'state/events.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { message?: string });
        const text = published.map((e) => e.message ?? '').join('\n');
        for (const m of markers) expect(text).toContain(m);
        expect(readFileSync(join(dir, 'state/checkpoints/app.json'), 'utf8')).toContain(`"offset":${Buffer.concat(parts).length}`);
        expect(prototypeKeys()).toEqual(PROTOTYPE_KEYS);
        await expect(orch.metrics.metrics()).resolves.toContain('fabric_events_collected_total');
      }),
      { seed: SEED, numRuns: 12, endOnFailure: true },
    );
  });
});
