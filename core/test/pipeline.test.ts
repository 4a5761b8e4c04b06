import { testPipeline } from './helpers.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DedupStage } from '../src/pipeline/dedup.js';
import { normalizeEvent } from '../src/events/normalize.js';
import { ECS_VERSION } from '../src/events/ecs.js';
import { FabricMetrics } from '../src/metrics/fabric-metrics.js';
import { events, harness } from './collector-harness.js';
import { MemorySink, flushPromises, until } from './helpers.js';

describe('event normalisation', () => {
  it('expands dotted keys into nested ECS, assigns provenance and a content fingerprint', () => {
    const r = normalizeEvent({ '@timestamp': '2026-01-01T00:00:00Z', 'source.ip': '1.2.3.4', 'user.name': 'root', event: { original: 'x' } }, { collector: 'a', plugin: 'p' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.event).toMatchObject({ source: { ip: '1.2.3.4' }, user: { name: 'root' }, fabric: { collector: 'a', plugin: 'p', schema_version: '2.0.0' } });
    expect(r.event.event.id).toMatch(/^a-[0-9a-f]{24}$/);
    const same = normalizeEvent({ '@timestamp': '2026-01-01T00:00:00Z', event: { original: 'x' } }, { collector: 'other', plugin: 'q' });
    expect(same.ok && same.event.fabric.fingerprint).toBe(r.event.fabric.fingerprint);
  });

  it("stamps the ECS version the product writes on every event, over a source's own", () => {
    const doc = { '@timestamp': '2026-01-01T00:00:00Z', 'source.ip': '1.2.3.4' };
    const plain = normalizeEvent(doc, { collector: 'a', plugin: 'p' });
    const filebeat = normalizeEvent({ ...doc, ecs: { version: '8.0.0', extra: 1 } }, { collector: 'a', plugin: 'p' });
    expect(plain.ok && plain.event.ecs).toEqual({ version: ECS_VERSION });
    expect(filebeat.ok && filebeat.event.ecs).toEqual({ version: ECS_VERSION, extra: 1 });
    expect(ECS_VERSION).toMatch(/^8\.\d+\.\d+$/);
  });

  it('rejects events without a usable @timestamp, saying why', () => {
    const r = normalizeEvent({ message: 'no time' }, { collector: 'a', plugin: 'p' });
    expect(r).toEqual({ ok: false, code: 'INVALID_TIMESTAMP', reason: expect.stringContaining('@timestamp') });
  });
});

describe('de-duplication window', () => {
  afterEach(() => vi.useRealTimers());

  it('drops an event seen within the window and accepts it again after the window', async () => {
    vi.useFakeTimers();
    const stage = new DedupStage(300_000);
    const ticket = (seq: number) => ({ seq, collector: 'c', dropped: { duplicate: 0 } });
    const mk = (id: string, line: string) => {
      const r = normalizeEvent({ '@timestamp': '2026-01-01T00:00:00Z', event: { id, original: line } }, { collector: 'c', plugin: 'p' });
      if (!r.ok) throw new Error(r.reason);
      return r.event;
    };
    const first = ticket(1);
    expect((await stage.process([mk('1', 'A'), mk('2', 'B'), mk('3', 'A')], first)).map((e) => e.event.id)).toEqual(['1', '2']);
    expect(first.dropped.duplicate).toBe(1);
    vi.advanceTimersByTime(299_000);
    const second = ticket(2);
    expect(await stage.process([mk('4', 'B')], second)).toHaveLength(0);
    expect(second.dropped.duplicate).toBe(1);
    vi.advanceTimersByTime(2_000);
    const third = ticket(3);
    expect((await stage.process([mk('5', 'A')], third)).map((e) => e.event.id)).toEqual(['5']);
    expect(third.dropped.duplicate).toBe(0);
  });
});

describe('backpressure', () => {
  it('a blocked sink stops the source from polling and bounds what is held in memory; delivery resumes', async () => {
    const sink = new MemorySink();
    sink.block();
    let polls = 0;
    let maxBuffered = 0;
    const h = harness(
      () => ({
        poll: async () => {
          polls++;
          return { events: events(50, polls * 50), checkpoint: polls, hasMore: true };
        },
      }),
      { sink, pipeline: { maxInFlightBatches: 3, maxBufferedEvents: 120 } },
    );
    h.pipeline.on('capacity', () => (maxBuffered = Math.max(maxBuffered, h.pipeline.load.events)));
    // The collector asks the pipeline for room before each poll; the first time there is none it has to wait.
    const waitsForRoom = new Promise<void>((resolve) => {
      const waitForCapacity = h.pipeline.waitForCapacity.bind(h.pipeline);
      h.pipeline.waitForCapacity = (signal) => {
        if (!h.pipeline.hasCapacity()) resolve();
        return waitForCapacity(signal);
      };
    });
    h.collector.send({ type: 'START' });
    await waitsForRoom;
    // A collector that did not wait for the room would poll again now.
    await flushPromises();
    // 50-event batches: the third takes the load to 150 ≥ 120, so polling stops there
    expect(polls).toBe(3);
    expect(h.pipeline.load).toEqual({ batches: 3, events: 150 });
    expect(sink.events).toHaveLength(0);
    expect((await h.checkpoints.read('c1')).value).toBeUndefined();
    sink.unblock();
    await until(() => sink.events.length >= 500);
    h.collector.send({ type: 'STOP' });
    await until(() => h.collector.currentState === 'stopped');
    await h.collector.drained();
    expect(maxBuffered).toBeLessThanOrEqual(150);
    // checkpoints cover exactly what the sink acknowledged, in poll order
    const committed = (await h.checkpoints.read('c1')).value as number;
    expect(sink.events.length).toBe(committed * 50);
    const ids = sink.events.map((e) => e.event.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('the checkpoint of a batch is not written before the sink acknowledged it', async () => {
    const sink = new MemorySink();
    const metrics = new FabricMetrics();
    const pipeline = testPipeline({ sink, metrics });
    sink.block();
    const done = pipeline.submit({ collector: 'c', plugin: 'p', events: events(3) });
    let acked = false;
    void done.then(() => (acked = true));
    await sink.reached(1);
    // An acknowledgement that did not wait for the sink would have settled by now.
    await flushPromises();
    expect(acked).toBe(false);
    sink.unblock();
    await expect(done).resolves.toEqual({ collected: 3, rejected: 0, published: 3, deduplicated: 0 });
  });

  it('routes by priority: below the minimum is not published, critical goes first', async () => {
    const sink = new MemorySink();
    const pipeline = testPipeline({ sink, minPriority: 'medium' });
    const ev = (p: string, i: number) => ({ '@timestamp': '2026-01-01T00:00:00Z', message: `m${i}`, fabric: { priority: p } });
    await pipeline.submit({ collector: 'c', plugin: 'p', events: [ev('low', 1), ev('medium', 2), ev('critical', 3), ev('info', 4), ev('high', 5)] });
    expect(sink.events.map((e) => e.fabric.priority)).toEqual(['critical', 'high', 'medium']);
  });

  it('a failing stage does not lose the batch', async () => {
    const sink = new MemorySink();
    const metrics = new FabricMetrics();
    const broken = { name: 'broken', process: async () => Promise.reject(new Error('boom')) };
    const pipeline = testPipeline({ stages: [broken], sink, metrics });
    await pipeline.submit({ collector: 'c', plugin: 'p', events: events(4) });
    expect(sink.events).toHaveLength(4);
    expect((await metrics.stageErrors.get()).values[0]?.value).toBe(1);
  });
});

describe('stage pipelining', () => {
  it('each stage sees batches in submission order, while a slow later stage does not hold up an earlier one', async () => {
    const sink = new MemorySink();
    const seen: Record<string, string[]> = { fast: [], slow: [] };
    let releaseSlow: () => void = () => undefined;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    const tag = (e: { message?: string }) => String(e.message);
    const fast = { name: 'fast', process: async (b: import('../src/plugin-api/index.js').FabricEvent[]) => (seen.fast!.push(b.map(tag).join()), b) };
    const slow = {
      name: 'slow',
      process: async (b: import('../src/plugin-api/index.js').FabricEvent[]) => {
        seen.slow!.push(b.map(tag).join());
        if (seen.slow!.length === 1) await slowGate;
        return b;
      },
    };
    const pipeline = testPipeline({ stages: [fast, slow], sink, maxInFlightBatches: 8 });
    const batch = (n: number) => ({ collector: 'c', plugin: 'p', events: [{ '@timestamp': '2026-01-01T00:00:00Z', message: `b${n}` }] });
    const done = [1, 2, 3].map((n) => pipeline.submit(batch(n)));
    await until(() => seen.fast!.length === 3);
    // batches 2 and 3 went through the fast stage while the slow one still holds batch 1
    expect(seen.slow).toEqual(['b1']);
    releaseSlow();
    await Promise.all(done);
    expect(seen.fast).toEqual(['b1', 'b2', 'b3']);
    expect(seen.slow).toEqual(['b1', 'b2', 'b3']);
    expect(sink.events.map((e) => e.message)).toEqual(['b1', 'b2', 'b3']);
  });
});
