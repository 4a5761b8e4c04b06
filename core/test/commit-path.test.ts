import { testPipeline } from './helpers.js';
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Counter } from 'prom-client';
import pino from 'pino';
import { DedupStage } from '../src/pipeline/dedup.js';
import { normalizeEvent } from '../src/events/normalize.js';
import { FabricMetrics } from '../src/metrics/fabric-metrics.js';
import type { FileCheckpointStore } from '../src/state/checkpoint-store.js';
import { DeadLetterQueue } from '../src/sinks/dead-letter.js';
import { JsonlDeadLetterTarget } from '../src/sinks/dead-letter-jsonl.js';
import { createDeadLetterTarget } from '../src/sinks/factory.js';
import { parseConfig } from '../src/config/load.js';
import { flattenEvent } from '../src/detection/flatten.js';
import { getField, setField, type Checkpoint } from '../src/plugin-api/index.js';
import { events, harness } from './collector-harness.js';
import { MemorySink, silentLogger, tempDir, until } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function counter(c: Counter<string>, labels: Record<string, string>): Promise<number> {
  const v = (await c.get()).values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

const TS = '2026-01-01T00:00:00.000Z';

/** Events a plugin can hand over that a later step cannot handle. */
function hostileEvents(): Array<{ code: string; event: unknown }> {
  const cyclic: Record<string, unknown> = { '@timestamp': TS, message: 'cyclic' };
  cyclic.self = { back: cyclic };
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 10_700; i++) deep = { a: deep };
  return [
    { code: 'CYCLE', event: cyclic },
    { code: 'NOT_JSON', event: { '@timestamp': TS, message: 'bigint', bytes: 10n ** 20n } },
    {
      code: 'UNREADABLE',
      event: {
        '@timestamp': TS,
        message: 'toJSON',
        user: {
          toJSON() {
            throw new Error('boom from toJSON');
          },
        },
      },
    },
    {
      code: 'UNREADABLE',
      event: {
        '@timestamp': TS,
        message: 'getter',
        get host() {
          throw new Error('boom from getter');
        },
      },
    },
    { code: 'TOO_DEEP', event: { '@timestamp': TS, message: 'deep', nested: deep } },
    { code: 'TOO_LARGE', event: { '@timestamp': TS, message: 'x'.repeat(2_000_000) } },
    { code: 'TOO_LARGE', event: { '@timestamp': TS, message: 'sparse', list: Object.assign([], { length: 4_294_967_295 }) } },
    { code: 'NOT_AN_OBJECT', event: 'just a string' },
    { code: 'INVALID_TIMESTAMP', event: { message: 'no time' } },
  ];
}

describe('one bad event is isolated, the rest of its batch goes on', () => {
  it('cyclic, BigInt, throwing toJSON/getter, too deep, too large events beside valid ones: valid delivered, bad dead-lettered with a reason and counted, checkpoint committed', async () => {
    const hostile = hostileEvents();
    const valid = events(5, 0, TS);
    let polls = 0;
    const h = harness(
      () => ({
        poll: async () => {
          polls++;
          if (polls > 1) return { events: [], checkpoint: { n: 1 } };
          return { events: [valid[0], ...hostile.map((x) => x.event), ...valid.slice(1)] as never, checkpoint: { n: 1 } };
        },
      }),
      { timing: { intervalMs: 20 } },
    );
    dirs.push(h.stateDir);
    h.collector.send({ type: 'START' });
    await until(() => polls >= 2);
    await h.collector.drained();
    expect(h.sink.events.map((e) => e.message).sort()).toEqual(valid.map((e) => e.message).sort());
    expect((await h.checkpoints.read('c1')).value).toEqual({ n: 1 });
    const dl = h.pipeline.deadLetters.recent(100);
    expect(dl.map((r) => r.reason.code).sort()).toEqual(hostile.map((x) => x.code).sort());
    for (const r of dl) {
      expect(r).toMatchObject({ collector: 'c1', plugin: 'test-plugin', stage: 'normalize' });
      expect(r.reason.message.length).toBeGreaterThan(5);
      expect(r.original.length).toBeLessThanOrEqual(8192);
    }
    expect(dl.find((r) => r.reason.code === 'TOO_LARGE')!.original_truncated).toBe(true);
    expect(dl.find((r) => r.reason.code === 'NOT_JSON')!.original).toContain('100000000000000000000n');
    expect(await counter(h.metrics.eventsDeadLettered, { collector: 'c1', reason: 'CYCLE' })).toBe(1);
    expect(await counter(h.metrics.eventsDeadLettered, { collector: 'c1', reason: 'UNREADABLE' })).toBe(2);
    expect(h.collector.detail().metrics).toMatchObject({ eventsDeadLettered: hostile.length });
    expect(h.collector.currentState).toBe('running');
    h.collector.send({ type: 'STOP' });
  });

  it('an event the sink cannot serialise after the stages is dead-lettered; its neighbours are written', async () => {
    const sink = new MemorySink();
    // What a real sink does with an event JSON cannot represent.
    const write = sink.write.bind(sink);
    sink.write = async (evs) => {
      for (const e of evs) JSON.stringify(e);
      return write(evs);
    };
    const metrics = new FabricMetrics();
    const pipeline = testPipeline({
      stages: [{ name: 'broken-annotator', process: async (batch) => batch.map((e, i) => (i === 1 ? Object.assign(e, { weird: 5n }) : e)) }],
      sink,
      metrics,
    });
    const r = await pipeline.submit({ collector: 'c', plugin: 'p', events: events(3, 0, TS) });
    expect(r).toEqual({ collected: 3, rejected: 1, published: 2, deduplicated: 0 });
    expect(sink.events.map((e) => e.message)).toEqual(['line 0', 'line 2']);
    expect(pipeline.deadLetters.recent()).toEqual([expect.objectContaining({ stage: 'sink', reason: expect.objectContaining({ code: 'NOT_SERIALISABLE' }) })]);
  });

  it('dead letters are written to <state_dir>/dead-letters.jsonl before the batch resolves; a failing dead-letter target never fails the batch', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'dead-letters.jsonl');
    const target = new JsonlDeadLetterTarget(file);
    await target.start();
    const metrics = new FabricMetrics();
    const queue = new DeadLetterQueue({ target, metrics, logger: silentLogger(), maxOriginalBytes: 1000 });
    const sink = new MemorySink();
    const pipeline = testPipeline({ sink, metrics, deadLetters: queue });
    const cyclic: Record<string, unknown> = { '@timestamp': TS };
    cyclic.me = cyclic;
    await pipeline.submit({ collector: 'c', plugin: 'p', events: [cyclic as never, ...events(2, 0, TS)] });
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      expect.objectContaining({
        collector: 'c',
        plugin: 'p',
        stage: 'normalize',
        reason: { code: 'CYCLE', message: expect.stringContaining('cycle') },
        original: expect.stringContaining('[Circular]'),
        schema_version: '1.0.0',
      }),
    ]);
    await target.close(1000);
    // Closed target: writing fails, the batch does not.
    const r = await pipeline.submit({ collector: 'c', plugin: 'p', events: [null as never, ...events(2, 2, TS)] });
    expect(r).toMatchObject({ rejected: 1, published: 2 });
    expect(sink.events).toHaveLength(4);
    expect(await counter(metrics.deadLetterWriteFailures as Counter<string>, {})).toBe(1);
  });
});

describe('dead-letter config', () => {
  it('defaults to <state_dir>/dead-letters.jsonl, resolves dead_letter.path against the config file, and refuses bad values naming the field', () => {
    const cfg = parseConfig('state_dir: ./state\n', '/etc/fabric/fabric.yaml', {});
    expect(cfg.config.dead_letter).toEqual({ enabled: true, max_original_bytes: 65536, recent: 1000 });
    expect(cfg.config.pipeline).toMatchObject({ max_event_depth: 32, max_event_bytes: 1048576 });
    const sink = new MemorySink();
    expect(createDeadLetterTarget(cfg.config.dead_letter, cfg.config.sink, sink, { stateDir: cfg.stateDir, configDir: cfg.dir })?.location).toBe(
      join(cfg.stateDir, 'dead-letters.jsonl'),
    );
    const custom = parseConfig('dead_letter: { path: ./dlq/refused.jsonl }\n', '/etc/fabric/fabric.yaml', {});
    expect(createDeadLetterTarget(custom.config.dead_letter, custom.config.sink, sink, { stateDir: custom.stateDir, configDir: custom.dir })?.location).toBe(
      '/etc/fabric/dlq/refused.jsonl',
    );
    expect(createDeadLetterTarget({ ...custom.config.dead_letter, enabled: false }, custom.config.sink, sink, { stateDir: custom.stateDir })).toBeUndefined();
    expect(() => parseConfig('dead_letter: { max_original_bytes: 10 }\n', '/etc/fabric/fabric.yaml', {})).toThrow(/dead_letter.*max_original_bytes/);
    expect(() => parseConfig('pipeline: { max_event_depth: 0 }\n', '/etc/fabric/fabric.yaml', {})).toThrow(/pipeline.*max_event_depth/);
  });
});

describe('dead-letter log lines', () => {
  it('a source full of bad events logs at most 20 lines a minute per collector; every record is still counted and kept', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const metrics = new FabricMetrics();
    const queue = new DeadLetterQueue({ metrics, logger });
    await queue.add(
      Array.from({ length: 50 }, (_, i) => ({ collector: 'noisy', plugin: 'p', stage: 'normalize' as const, code: 'CYCLE', message: `cycle ${i}`, original: { i } })),
    );
    expect(lines).toHaveLength(20);
    expect(queue.countsOf('noisy')).toEqual({ total: 50, byReason: { CYCLE: 50 } });
    expect(queue.recent(100)).toHaveLength(50);
    expect(await counter(metrics.eventsDeadLettered, { collector: 'noisy', reason: 'CYCLE' })).toBe(50);
    expect(lines.join('')).not.toContain('"i":');
  });
});

describe('nothing is committed past a batch that was not acknowledged', () => {
  it.each([4, 1])(
    'a batch whose sink write rejects holds back its checkpoint and every later one; the collector reads it again from the last written checkpoint, and de-duplication does not drop the replay (max %i uncommitted batches)',
    async (maxUncommittedBatches) => {
      const sink = new MemorySink();
      const write = sink.write.bind(sink);
      let failOnce = true;
      sink.write = async (evs) => {
        if (failOnce && evs.some((e) => e.message === 'line 10')) {
          failOnce = false;
          // The refusal comes back later, as from a broker: the collector is already waiting for commits.
          await new Promise((r) => setTimeout(r, 50));
          throw new Error('broker said no');
        }
        return write(evs);
      };
      const committed: Checkpoint[] = [];
      const positions: Array<number | undefined> = [];
      const h = harness(
        () => ({
          poll: async ({ checkpoint }) => {
            const at = (checkpoint as { at?: number } | undefined)?.at ?? 0;
            positions.push(at);
            if (at >= 30) return { events: [], checkpoint: { at } };
            return { events: events(10, at, TS), checkpoint: { at: at + 10 }, hasMore: true };
          },
        }),
        { sink, timing: { intervalMs: 20, maxUncommittedBatches }, pipeline: { stages: [new DedupStage(300_000)] } },
      );
      dirs.push(h.stateDir);
      const realWrite = h.checkpoints.write.bind(h.checkpoints);
      h.checkpoints.write = (id, value) => {
        committed.push(value);
        return realWrite(id, value);
      };
      h.collector.send({ type: 'START' });
      await until(() => committed.some((c) => (c as { at: number }).at === 30));
      h.collector.send({ type: 'STOP' });
      await h.collector.drained();
      // Batch [10..19] failed once: no checkpoint beyond {at: 10} was written until it was delivered again.
      const firstAt20 = committed.findIndex((c) => (c as { at: number }).at >= 20);
      const delivered10 = h.sink.events.findIndex((e) => e.message === 'line 10');
      expect(delivered10).toBeGreaterThanOrEqual(0);
      expect(firstAt20).toBeGreaterThan(-1);
      // Every line was delivered at least once, line 10 exactly once (its first write failed).
      for (let i = 0; i < 30; i++) expect(h.sink.events.some((e) => e.message === `line ${i}`)).toBe(true);
      expect(h.sink.events.filter((e) => e.message === 'line 10')).toHaveLength(1);
      // The collector went back to the last written position (10) instead of skipping the batch.
      expect(positions.filter((p) => p === 10).length).toBeGreaterThanOrEqual(2);
      expect((await h.checkpoints.read('c1')).value).toEqual({ at: 30 });
    },
  );

  it('at shutdown, a batch the closing sink rejects is never committed past, even when later batches are acknowledged after it', async () => {
    const sink = new MemorySink();
    const write = sink.write.bind(sink);
    let reject0: (err: Error) => void = () => undefined;
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((r) => (openGate = r));
    let writes = 0;
    sink.write = async (evs) => {
      writes++;
      // The first batch is still in flight at shutdown and rejected by the closing sink; the
      // later ones are acknowledged just after that.
      if (evs.some((e) => e.message === 'line 0')) return new Promise<void>((_, reject) => (reject0 = reject));
      await gate;
      return write(evs);
    };
    let n = 0;
    const h = harness(
      () => ({
        poll: async () => {
          const at = n;
          n += 5;
          return { events: events(5, at, TS), checkpoint: { at: at + 5 }, hasMore: at < 15 };
        },
      }),
      { sink, timing: { intervalMs: 20, maxUncommittedBatches: 8 }, pipeline: { maxInFlightBatches: 8 } },
    );
    dirs.push(h.stateDir);
    h.collector.send({ type: 'START' });
    await until(() => writes >= 4);
    h.collector.send({ type: 'STOP' });
    reject0(new Error('sink closed before the broker acknowledged'));
    await new Promise((r) => setImmediate(r));
    openGate();
    await until(() => h.sink.events.length === 15);
    await h.collector.drained();
    expect(h.sink.events.some((e) => e.message === 'line 0')).toBe(false);
    expect((await h.checkpoints.read('c1')).value).toBeUndefined();
  });
});

describe('run --once with a batch the sink refuses', () => {
  it('stops at the failed batch with BATCH_NOT_ACKNOWLEDGED; the checkpoint stays before it', async () => {
    const sink = new MemorySink();
    const write = sink.write.bind(sink);
    sink.write = async (evs) => {
      if (evs.some((e) => e.message === 'line 5')) throw new Error('sink closed');
      return write(evs);
    };
    let at = 0;
    const h = harness(
      () => ({
        poll: async () => {
          const from = at;
          at += 5;
          return { events: events(5, from, TS), checkpoint: { at }, hasMore: true };
        },
      }),
      { sink, timing: { once: { maxPolls: 20 } }, policy: { intensity: 0 } },
    );
    dirs.push(h.stateDir);
    h.collector.send({ type: 'START' });
    expect(await h.collector.waitFor((s) => s === 'stopped' || s === 'failed', 10_000)).toBe('stopped');
    await h.collector.drained();
    expect(h.collector.onceOutcome().error).toMatchObject({ code: 'BATCH_NOT_ACKNOWLEDGED' });
    expect((await h.checkpoints.read('c1')).value).toEqual({ at: 5 });
    expect(h.sink.events.map((e) => e.message)).toContain('line 0');
    h.collector.dispose();
  });
});

describe('maxEvents is enforced', () => {
  it('a poll returning more than maxEvents is a CONTRACT_VIOLATION: nothing of it delivered, checkpoint not advanced, the next poll continues from the same position', async () => {
    const seen: unknown[] = [];
    let polls = 0;
    const h = harness(
      () => ({
        poll: async ({ checkpoint, maxEvents }) => {
          polls++;
          seen.push(checkpoint);
          // First answer ignores maxEvents; then the plugin behaves.
          const n = polls === 1 ? 200_000 : Math.min(maxEvents, 30);
          if (polls > 2) return { events: [], checkpoint: { at: 30 } };
          return { events: events(n, 0, TS), checkpoint: { at: n }, hasMore: false };
        },
      }),
      { timing: { intervalMs: 20, batchSize: 100 } },
    );
    dirs.push(h.stateDir);
    h.collector.send({ type: 'START' });
    await until(() => polls >= 3);
    await h.collector.drained();
    expect(await counter(h.metrics.pollErrors, { collector: 'c1', code: 'CONTRACT_VIOLATION' })).toBe(1);
    expect(h.collector.detail().lastError).toMatchObject({ code: 'CONTRACT_VIOLATION', message: expect.stringContaining('200000 events for maxEvents 100') });
    expect(seen.slice(0, 2)).toEqual([undefined, undefined]);
    expect(h.sink.events).toHaveLength(30);
    expect(new Set(h.sink.events.map((e) => e.message)).size).toBe(30);
    expect((await h.checkpoints.read('c1')).value).toEqual({ at: 30 });
    h.collector.send({ type: 'STOP' });
  });
});

describe('a checkpoint that cannot be written', () => {
  it('makes the collector degraded with CHECKPOINT_WRITE_FAILED and the file path; it recovers when writes succeed again', async () => {
    let full = false;
    let n = 0;
    const h = harness(
      () => ({
        poll: async () => {
          n++;
          return { events: events(1, n, TS), checkpoint: { n } };
        },
      }),
      { timing: { intervalMs: 20 } },
    );
    dirs.push(h.stateDir);
    const store = h.checkpoints as FileCheckpointStore;
    const realWrite = store.write.bind(store);
    store.write = async (id, value) => {
      if (full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return realWrite(id, value);
    };
    h.collector.send({ type: 'START' });
    await until(() => n >= 2 && h.collector.currentState === 'running');
    full = true;
    await until(() => h.collector.currentState === 'degraded');
    const detail = h.collector.detail();
    expect(detail.health).toBe('degraded');
    expect(detail.lastError).toMatchObject({ code: 'CHECKPOINT_WRITE_FAILED', message: expect.stringContaining(store.fileOf('c1')) });
    expect(detail.lastError!.message).toContain('ENOSPC');
    const stuckAt = n;
    // Still degraded while writes keep failing (polls keep succeeding).
    await until(() => n >= stuckAt + 3);
    expect(h.collector.currentState).toBe('degraded');
    expect(await counter(h.metrics.checkpointWriteFailures, { collector: 'c1' })).toBeGreaterThanOrEqual(3);
    full = false;
    await until(() => h.collector.currentState === 'running');
    await until(async () => ((await h.checkpoints.read('c1')).value as { n: number } | undefined)!.n > stuckAt + 3);
    expect(h.states()).toEqual(['starting', 'running', 'degraded', 'running']);
    h.collector.send({ type: 'STOP' });
  });
});

describe('prototype pollution', () => {
  afterEach(() => {
    expect(({} as Record<string, unknown>).pwned).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('setField/getField never walk into or write a prototype, whatever the path', () => {
    const e: Record<string, unknown> = {};
    setField(e, '__proto__.polluted', 'yes');
    setField(e, 'constructor.prototype.polluted', 'yes');
    setField(e, 'a.__proto__.polluted', 'yes');
    expect(Object.getPrototypeOf(e)).toBe(Object.prototype);
    expect(e).toEqual({ __proto___: { polluted: 'yes' }, constructor: { prototype: { polluted: 'yes' } }, a: { __proto___: { polluted: 'yes' } } });
    expect(getField({}, 'constructor.name')).toBeUndefined();
    expect(getField({}, 'toString')).toBeUndefined();
    expect(getField(e, 'constructor.prototype.polluted')).toBe('yes');
  });

  it('normalisation keeps "__proto__" keys (nested, dotted, inside merges) as renamed data', () => {
    const raw = JSON.parse(`{"@timestamp":"${TS}","message":"x","__proto__":{"pwned":"yes"},"__proto__.polluted":"yes","user":{"__proto__":{"pwned":"yes"}},"user.name":"root"}`);
    const r = normalizeEvent(raw, { collector: 'c', plugin: 'p' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.event).toMatchObject({ __proto___: { pwned: 'yes', polluted: 'yes' }, user: { name: 'root', __proto___: { pwned: 'yes' } } });
    expect(Object.getPrototypeOf(r.event)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(r.event.user)).toBe(Object.prototype);
  });

  it('flattening a hostile object terminates and keeps "__proto__" as a field', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const rec = flattenEvent(cyclic);
    expect(rec).toEqual({ a: 1 });
    const odd = JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>;
    expect(Object.keys(flattenEvent(odd))).toEqual(['__proto__.x']);
  });
});
