// The Kafka sink's delivery queue on its own: no broker, no kafkajs.
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { KafkaSinkClosedError } from '../../../src/sinks/kafka/errors.js';
import { kafkaSinkMetrics } from '../../../src/sinks/kafka/metrics.js';
import { DeliveryQueue, type PendingRecord } from '../../../src/sinks/kafka/queue.js';
import type { OutgoingRecord } from '../../../src/sinks/kafka/request.js';

function setup(maxBuffered = 100) {
  const registry = new Registry();
  const metrics = kafkaSinkMetrics(registry, () => 0);
  let notified = 0;
  const queue = new DeliveryQueue({ maxBuffered, metrics, onQueued: () => void notified++ });
  const gauge = async () => (await metrics.pending.get()).values[0]?.value;
  const latencyCount = async () => (await metrics.ackLatency.get()).values.find((v) => v.metricName === 'fabric_kafka_sink_ack_latency_seconds_count')?.value;
  return { queue, gauge, latencyCount, notified: () => notified };
}

const records = (prefix: string, n: number, topic = 't'): OutgoingRecord[] => Array.from({ length: n }, (_, i) => ({ topic, message: { value: `${prefix}${i}` } }));
const values = (batch: readonly PendingRecord[]) => batch.map((r) => String(r.message.value));

/** Track a write's outcome without awaiting it. */
function track(p: Promise<void>) {
  const t = { state: 'pending' as 'pending' | 'resolved' | 'rejected', error: undefined as unknown };
  const settled = p.then(
    () => void (t.state = 'resolved'),
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return Object.assign(t, { settled });
}

/** Lets acknowledge()'s deferred wake-ups (setImmediate) run. */
const afterImmediates = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

describe('Kafka delivery queue', () => {
  it('hands records out in acceptance order and resolves a write only when all its records are acknowledged', async () => {
    const { queue, gauge, latencyCount, notified } = setup();
    const a = track(queue.accept(3, () => records('a', 3)));
    const b = track(queue.accept(2, () => records('b', 2)));
    await Promise.resolve();
    expect(notified()).toBe(2);
    expect(queue.queued).toBe(5);
    expect(queue.pending).toBe(5);
    expect(await gauge()).toBe(5);

    const first = queue.take(2);
    expect(values(first)).toEqual(['a0', 'a1']);
    expect(queue.queued).toBe(3);
    expect(queue.pending).toBe(5); // in flight still counts
    queue.acknowledge(first);
    await afterImmediates();
    expect(a.state).toBe('pending'); // a2 is not acknowledged yet

    const second = queue.take(10);
    expect(values(second)).toEqual(['a2', 'b0', 'b1']);
    queue.acknowledge(second);
    // Settled on a later turn of the event loop, so the delivery loop sends its next request first.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(a.state).toBe('pending');
    await afterImmediates();
    expect([a.state, b.state]).toEqual(['resolved', 'resolved']);
    expect(queue.pending).toBe(0);
    expect(await gauge()).toBe(0);
    expect(await latencyCount()).toBe(2);
  });

  it('makes a write wait for room past max_buffered_events, without building its records meanwhile', async () => {
    const { queue } = setup(10);
    const a = track(queue.accept(8, () => records('a', 8)));
    let built = false;
    const b = track(
      queue.accept(5, () => {
        built = true;
        return records('b', 5);
      }),
    );
    await afterImmediates();
    expect(built).toBe(false);
    expect(queue.pending).toBe(8);

    const batch = queue.take(8);
    queue.acknowledge(batch);
    await afterImmediates();
    expect(a.state).toBe('resolved');
    expect(built).toBe(true);
    expect(queue.pending).toBe(5);
    expect(b.state).toBe('pending');
  });

  it('lets a write bigger than the whole bound through alone', async () => {
    const { queue } = setup(10);
    const big = track(queue.accept(25, () => records('x', 25)));
    await Promise.resolve();
    expect(queue.pending).toBe(25);
    const next = track(queue.accept(1, () => records('y', 1)));
    await afterImmediates();
    expect(queue.pending).toBe(25); // the next one waits until the big one is acknowledged
    queue.acknowledge(queue.take(100));
    await afterImmediates();
    await afterImmediates();
    expect(big.state).toBe('resolved');
    expect(queue.pending).toBe(1);
    expect(next.state).toBe('pending');
  });

  it('accepts an empty write at once and refuses writes, waiting ones included, once closing', async () => {
    const { queue, notified } = setup(5);
    await expect(queue.accept(0, () => [])).resolves.toBeUndefined();
    expect(notified()).toBe(0);
    const held = track(queue.accept(5, () => records('h', 5)));
    const waiting = track(queue.accept(1, () => records('w', 1)));
    await afterImmediates();
    queue.close();
    await waiting.settled;
    expect(waiting.state).toBe('rejected');
    expect(waiting.error).toBeInstanceOf(KafkaSinkClosedError);
    expect((waiting.error as KafkaSinkClosedError).code).toBe('SINK_CLOSED');
    await expect(queue.accept(1, () => records('late', 1))).rejects.toThrow('Kafka sink is closing: no new events accepted');
    // What was accepted before closing is still delivered.
    expect(queue.closing).toBe(true);
    queue.acknowledge(queue.take(10));
    await held.settled;
    expect(held.state).toBe('resolved');
  });

  it('abandon() rejects in-flight and queued writes, a partly acknowledged one included, and empties the queue', async () => {
    const { queue, gauge } = setup();
    const a = track(queue.accept(4, () => records('a', 4)));
    const b = track(queue.accept(2, () => records('b', 2)));
    await Promise.resolve();
    queue.acknowledge(queue.take(2)); // half of a
    queue.take(3); // a2, a3, b0 in flight
    let lostSeen = -1;
    const lost = queue.abandon((n) => {
      lostSeen = n;
      return new KafkaSinkClosedError(`lost ${n}`);
    });
    expect(lost).toBe(4);
    expect(lostSeen).toBe(4);
    await Promise.all([a.settled, b.settled]);
    expect([a.state, b.state]).toEqual(['rejected', 'rejected']);
    expect((a.error as Error).message).toBe('lost 4');
    expect([queue.pending, queue.queued]).toEqual([0, 0]);
    expect(await gauge()).toBe(0);
    expect(queue.abandon(() => new Error('not called'))).toBe(0);
  });

  it('drained() resolves at the last acknowledgement, or at the deadline', async () => {
    const { queue } = setup();
    void queue.accept(3, () => records('a', 3)).catch(() => undefined);
    await Promise.resolve();
    let drained = false;
    const d = queue.drained(Date.now() + 60_000).then(() => void (drained = true));
    queue.acknowledge(queue.take(1));
    await afterImmediates();
    expect(drained).toBe(false);
    queue.acknowledge(queue.take(2));
    await d;
    expect(drained).toBe(true);

    void queue.accept(1, () => records('b', 1)).catch(() => undefined);
    await Promise.resolve();
    const t0 = Date.now();
    await queue.drained(Date.now() + 50);
    expect(queue.pending).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });

  it('keeps acceptance order across the compaction of a long queue', async () => {
    const { queue } = setup(100_000);
    const n = 30_000;
    const w = track(queue.accept(n, () => records('r', n)));
    await Promise.resolve();
    const seen: string[] = [];
    while (queue.queued > 0) {
      const batch = queue.take(1000);
      seen.push(...values(batch));
      queue.acknowledge(batch);
    }
    // Compared as one string: a 30,000-element toEqual is slow to diff.
    expect(seen.join(',')).toBe(
      records('r', n)
        .map((r) => r.message.value)
        .join(','),
    );
    await w.settled;
    expect(w.state).toBe('resolved');
  });

  it('notifies only after the records are queued', async () => {
    let queuedAtNotify = -1;
    const queue: DeliveryQueue = new DeliveryQueue({ maxBuffered: 10, metrics: kafkaSinkMetrics(new Registry(), () => 0), onQueued: () => void (queuedAtNotify = queue.queued) });
    void queue.accept(2, () => records('a', 2));
    await Promise.resolve();
    expect(queuedAtNotify).toBe(2);
  });
});
