import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import type { SinkHealth } from '../../src/sinks/sink.js';
import { createKafkaSink, resolveKafkaSinkConfig } from '../../src/sinks/kafka/index.js';
import { brokerCommand, consumeAll, detection, repoRoot, runId, sinkContext } from './helpers.js';

// Its own broker instance: stopping the shared one would break test files running alongside.
const NAME = 'fault';
const PORT = 39192;
const BOOTSTRAP = `127.0.0.1:${PORT}`;
const TOTAL = 60_000;
const BATCH = 500;
const RATE_PER_SECOND = 2_000;
const SINK_BOUND = 10_000;
/** Writes the caller keeps outstanding, like the pipeline's max_buffered_events: more than the sink holds. */
const CALLER_OUTSTANDING = 40;
const OUTAGE_MS = 20_000;

beforeAll(async () => {
  await brokerCommand('start', '--name', NAME, '--port', String(PORT), '--no-kcat');
}, 240_000);

afterAll(async () => {
  await brokerCommand('stop', '--name', NAME);
}, 60_000);

describe('Kafka broker outage in the middle of a stream', () => {
  it(`loses nothing when the broker stops for ${OUTAGE_MS / 1000}s during ${TOTAL} events, with memory bounded and health recovering`, async () => {
    const run = runId();
    const topic = `rf-fault-${run}.threat_detected`;
    const ctx = sinkContext();
    const sink = createKafkaSink(
      resolveKafkaSinkConfig({
        type: 'kafka',
        brokers: [BOOTSTRAP],
        topics: { detections: topic, status: `rf-fault-${run}.honeypot_status` },
        max_buffered_events: SINK_BOUND,
        retry: { initial_backoff_ms: 100, max_backoff_ms: 2000, down_after_seconds: 5 },
      }),
      ctx,
    );
    await sink.start();

    let produced = 0;
    let acknowledged = 0;
    const states = new Set<SinkHealth['state']>();
    let maxPending = 0;
    const heapBase = process.memoryUsage().heapUsed;
    let maxHeap = heapBase;
    const sampler = setInterval(() => {
      const h = sink.health();
      states.add(h.state);
      maxPending = Math.max(maxPending, h.pending);
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    }, 50);

    const timeline: Record<string, number> = {};
    const t0 = Date.now();
    const mark = (what: string) => (timeline[what] = (Date.now() - t0) / 1000);
    const outage = (async () => {
      while (acknowledged < 15_000) await new Promise((r) => setTimeout(r, 50));
      mark('broker_stop_requested');
      await brokerCommand('stop', '--name', NAME);
      mark('broker_stopped');
      const producedAtStop = produced;
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      timeline.produced_during_outage = produced - producedAtStop;
      mark('broker_start_requested');
      await brokerCommand('start', '--name', NAME, '--port', String(PORT), '--no-kcat');
      mark('broker_serving');
    })();

    const outstanding = new Set<Promise<void>>();
    while (produced < TOTAL) {
      while (outstanding.size >= CALLER_OUTSTANDING) await Promise.race(outstanding);
      const events: FabricEvent[] = [];
      for (let i = 0; i < BATCH && produced < TOTAL; i++) events.push(detection(run, produced++, { fingerprints: 1000 }));
      const p: Promise<void> = sink.write(events).then(() => {
        acknowledged += events.length;
        outstanding.delete(p);
      });
      outstanding.add(p);
      await new Promise((r) => setTimeout(r, (BATCH / RATE_PER_SECOND) * 1000));
    }
    await Promise.all(outstanding);
    mark('all_acknowledged');
    await outage;
    clearInterval(sampler);
    const healthAfter = sink.health();
    await sink.close(5000);

    const records = await consumeAll(BOOTSTRAP, topic, 120_000);
    const counts = new Map<string, number>();
    for (const r of records) {
      const id = (JSON.parse(r.value) as FabricEvent).event.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    let lost = 0;
    for (let i = 0; i < TOTAL; i++) if (!counts.has(`${run}-${i}`)) lost++;
    const duplicated = records.length - counts.size;
    const summary = {
      produced: TOTAL,
      received: records.length,
      unique: counts.size,
      lost,
      duplicated,
      max_pending_events: maxPending,
      max_buffered_events: SINK_BOUND,
      heap_growth_mb: Math.round((maxHeap - heapBase) / 1048576),
      health_states_seen: [...states],
      health_after: healthAfter.state,
      timeline_seconds: timeline,
    };
    console.log(`[kafka fault test] produced=${summary.produced} received=${summary.received} lost=${lost} duplicated=${duplicated} max_pending=${maxPending}/${SINK_BOUND} heap_growth=${summary.heap_growth_mb}MB states=${summary.health_states_seen.join(',')}`);
    console.log(`[kafka fault test] timeline (s): ${JSON.stringify(timeline)}`);
    mkdirSync(join(repoRoot, '.fabric-test'), { recursive: true });
    writeFileSync(join(repoRoot, '.fabric-test/kafka-fault-result.json'), JSON.stringify(summary, null, 2));

    expect(lost).toBe(0);
    expect(counts.size).toBe(TOTAL);
    // The outage really happened mid-stream: writes continued into it and the sink noticed.
    expect(timeline.produced_during_outage).toBeGreaterThan(0);
    expect(acknowledged).toBe(TOTAL);
    expect(states.has('degraded') || states.has('down')).toBe(true);
    expect(maxPending).toBeLessThanOrEqual(SINK_BOUND);
    // The caller could have queued 20,000; the sink held at most its bound and made the rest wait.
    expect(maxPending).toBeGreaterThan(SINK_BOUND / 2);
    expect(summary.heap_growth_mb).toBeLessThan(300);
    expect(healthAfter).toEqual({ state: 'ok', pending: 0 });
    expect(ctx.logs.text()).toContain('Kafka delivery resumed');
  }, 300_000);
});
