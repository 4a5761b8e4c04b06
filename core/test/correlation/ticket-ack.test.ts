import { afterEach, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { MemorySink, until, testPipeline } from '../helpers.js';
import { SEC, T0, failed, harness, savedState, tempDir } from './helpers.js';
import { isCorrelationAlert } from '../../src/events/ecs.js';

const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'], checkpoint_interval_seconds: 0 };
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('correlation alerts are acknowledged by batch identity', () => {
  it("a later batch with nothing to publish does not mark an earlier batch's alert as written; after a crash the alert is sent again", async () => {
    const stateDir = await tempDir();
    dirs.push(stateDir);
    const first = await harness(bruteForceOnly, { stateDir });
    const sink = new MemorySink();
    sink.block();
    const pipeline = testPipeline({ stages: [first.stage], sink, maxInFlightBatches: 8, maxBufferedEvents: 10_000, minPriority: 'medium' });
    const bruteForce = () => [0, 1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, '203.0.113.77', { id: `bf-${i}` }));
    const plain: FabricEvent = { '@timestamp': new Date(T0 + 10 * SEC).toISOString(), message: 'session opened', event: { id: 'plain-1', kind: 'event' } } as FabricEvent;

    // Batch 1: the alert is waiting on the blocked sink.
    const batch1 = pipeline.submit({ collector: 'auth-log', plugin: 'p', events: bruteForce() });
    await until(() => sink.pending > 0);
    // Batch 2: one low-priority line, nothing to publish: acknowledged at once.
    await pipeline.submit({ collector: 'auth-log', plugin: 'p', events: [plain] });

    // Crash now: batch 1 was never acknowledged. The state on disk must still owe its alert.
    const state = await savedState(stateDir);
    expect(state.unacknowledged!.map((u: { alert: FabricEvent }) => u.alert.event.kind)).toEqual(['alert']);

    // Restart and replay: batch 1's detections come back, and so does the alert (same id).
    const second = await harness(bruteForceOnly, { stateDir });
    const again = await second.feed(bruteForce());
    expect(again).toHaveLength(1);
    expect(again[0]!.event.id).toBe(state.unacknowledged![0]!.alert.event.id);
    sink.unblock();
    await batch1;
    await first.stage.stop();
    await second.stage.stop();
  });

  it('an alert whose batch the sink rejected is sent again (same id) with the re-read batch, and counts as written only once that batch is', async () => {
    const stateDir = await tempDir();
    dirs.push(stateDir);
    const h = await harness(bruteForceOnly, { stateDir });
    const sink = new MemorySink();
    const write = sink.write.bind(sink);
    let fail = true;
    sink.write = async (events) => {
      if (fail) {
        fail = false;
        throw new Error('sink closed');
      }
      return write(events);
    };
    const pipeline = testPipeline({ stages: [h.stage], sink, maxInFlightBatches: 8, maxBufferedEvents: 10_000, minPriority: 'medium' });
    const bruteForce = () => [0, 1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, '203.0.113.78', { id: `rb-${i}` }));
    await expect(pipeline.submit({ collector: 'auth-log', plugin: 'p', events: bruteForce() })).rejects.toThrow('sink closed');
    await h.stage.flush!();
    const owed = (await savedState(stateDir)).unacknowledged!.map((u: { alert: FabricEvent }) => u.alert.event.id);
    expect(owed).toHaveLength(1);
    // The collector reads the batch again: the engine has seen these detections, the alert rides along.
    await pipeline.submit({ collector: 'auth-log', plugin: 'p', events: bruteForce() });
    expect(sink.events.filter((e) => isCorrelationAlert(e)).map((e) => e.event.id)).toEqual(owed);
    await h.stage.flush!();
    expect((await savedState(stateDir)).unacknowledged).toEqual([]);
  });

  it('acknowledgements arriving out of order release the engine in processing order', async () => {
    const stateDir = await tempDir();
    dirs.push(stateDir);
    const h = await harness(bruteForceOnly, { stateDir });
    expect(await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '192.0.2.10', { id: `a-${i}` })))).toHaveLength(1);
    expect(await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '192.0.2.11', { id: `b-${i}` })))).toHaveLength(1);
    const [ta, tb] = h.tickets;
    await h.ack(tb); // b is durable first
    let state = await savedState(stateDir);
    expect(state.unacknowledged!.map((u: { trigger: string }) => u.trigger.slice(0, 2)).sort()).toEqual(['a-', 'b-']);
    await h.ack(ta);
    state = await savedState(stateDir);
    expect(state.unacknowledged).toEqual([]);
  });
});
