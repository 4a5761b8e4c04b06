// The Kafka sink's delivery loop and produce requests, with a fake producer session: no broker.
import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { backoffDelay, DeliveryLoop, type ProduceService } from '../../../src/sinks/kafka/delivery.js';
import { resolveKafkaSinkConfig } from '../../../src/sinks/kafka/index.js';
import { kafkaSinkMetrics } from '../../../src/sinks/kafka/metrics.js';
import { OutageTracker } from '../../../src/sinks/kafka/outage.js';
import { DeliveryQueue } from '../../../src/sinks/kafka/queue.js';
import { groupByTopic, produceRequest, type OutgoingRecord, type ProduceRequest } from '../../../src/sinks/kafka/request.js';

const { CompressionTypes } = kafkajs;

const connectionRefused = () => Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1'), { name: 'KafkaJSConnectionError' });
const records = (prefix: string, n: number, topic = 't'): OutgoingRecord[] => Array.from({ length: n }, (_, i) => ({ topic, message: { value: `${prefix}${i}` } }));

function harness(send: ProduceService['send'], settings: { max_events?: number; linger_ms?: number; initial_backoff_ms?: number; max_backoff_ms?: number } = {}) {
  const config = resolveKafkaSinkConfig({
    type: 'kafka',
    brokers: ['127.0.0.1:1'],
    compression: 'none',
    batch: { max_events: settings.max_events ?? 2000, linger_ms: settings.linger_ms ?? 0 },
    retry: { initial_backoff_ms: settings.initial_backoff_ms ?? 1, max_backoff_ms: settings.max_backoff_ms ?? 2 },
  });
  const registry = new Registry();
  const metrics = kafkaSinkMetrics(registry, () => 0);
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const failures: Array<[string, number]> = [];
  const service: ProduceService = { send, afterFailure: (facts, attempt) => void failures.push([facts.code, attempt]) };
  const outage = new OutageTracker({ logger, errors: metrics.errors, brokers: config.brokers, secrets: [], downAfterSeconds: 30 });
  const queue = new DeliveryQueue({ maxBuffered: config.max_buffered_events, metrics, onQueued: () => loop.notify() });
  const loop = new DeliveryLoop({ queue, service, outage, metrics, config, logger, secrets: [] });
  const metricValue = async (name: string, labels: Record<string, string> = {}) => {
    const m = registry.getSingleMetric(name);
    const v = (await m!.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
    return v?.value ?? 0;
  };
  return { queue, loop, outage, lines, failures, metricValue };
}

describe('Kafka delivery loop', () => {
  it('sends one request at a time, at most batch.max_events records each, in acceptance order, grouped by topic', async () => {
    const sent: ProduceRequest[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const h = harness(
      async (request) => {
        sent.push(request);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
      },
      { max_events: 4 },
    );
    await Promise.all([h.queue.accept(5, () => records('t', 5)), h.queue.accept(3, () => records('s', 3, 's')), h.queue.accept(4, () => records('u', 4))]);
    expect(maxInFlight).toBe(1);
    const shape = sent.map((r) => r.topicMessages.map((tm) => `${tm.topic}:${tm.messages.map((m) => m.value).join(',')}`));
    expect(shape).toEqual([['t:t0,t1,t2,t3'], ['t:t4', 's:s0,s1,s2'], ['t:u0,u1,u2,u3']]);
    expect(await h.metricValue('fabric_kafka_sink_acked_events_total', { topic: 't' })).toBe(9);
    expect(await h.metricValue('fabric_kafka_sink_acked_events_total', { topic: 's' })).toBe(3);
    expect(h.queue.pending).toBe(0);
    await h.loop.stop();
  });

  it('resends a failed request unchanged until it is acknowledged, and only then resolves the write', async () => {
    const attempts: ProduceRequest[] = [];
    let resolvedAtAttempt = -1;
    const h = harness(async (request) => {
      attempts.push(request);
      if (attempts.length <= 2) throw connectionRefused();
    });
    await h.queue.accept(3, () => records('a', 3)).then(() => (resolvedAtAttempt = attempts.length));
    expect(resolvedAtAttempt).toBe(3);
    expect(attempts[1]).toBe(attempts[0]);
    expect(attempts[2]).toBe(attempts[0]);
    expect(h.failures).toEqual([
      ['CONNECTION', 1],
      ['CONNECTION', 2],
    ]);
    expect(await h.metricValue('fabric_kafka_sink_retries_total')).toBe(2);
    expect(await h.metricValue('fabric_kafka_sink_errors_total', { code: 'CONNECTION' })).toBe(2);
    // One warning for the outage (rate-limited), one line when it ends.
    expect(h.lines.filter((l) => String(l.msg).startsWith('Kafka produce failed'))).toHaveLength(1);
    expect(h.lines.find((l) => l.msg === 'Kafka delivery resumed')).toMatchObject({ failed_attempts: 2, pending: 0 });
    expect(h.outage.health(0)).toEqual({ state: 'ok', pending: 0 });
    await h.loop.stop();
  });

  it('a service that throws instead of rejecting fails that attempt only: the request is retried and delivered', async () => {
    let calls = 0;
    const h = harness(((): Promise<void> => {
      if (++calls === 1) throw new TypeError('cannot hand this request over');
      return Promise.resolve();
    }) as ProduceService['send']);
    await h.queue.accept(2, () => records('a', 2));
    expect(calls).toBe(2);
    expect(h.failures).toHaveLength(1);
    expect(h.queue.pending).toBe(0);
    await h.loop.stop();
  });

  it('stop() cuts a backoff short and leaves the unacknowledged batch to the caller', async () => {
    let failedOnce!: () => void;
    const firstFailure = new Promise<void>((r) => (failedOnce = r));
    const h = harness(
      async () => {
        failedOnce();
        throw connectionRefused();
      },
      { initial_backoff_ms: 600_000, max_backoff_ms: 600_000 },
    );
    const write = h.queue.accept(2, () => records('a', 2));
    await firstFailure;
    const t0 = Date.now();
    await h.loop.stop();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(h.queue.pending).toBe(2);
    expect(await h.metricValue('fabric_kafka_sink_retries_total')).toBe(0);
    expect(h.queue.abandon((n) => new Error(`gave up ${n}`))).toBe(2);
    await expect(write).rejects.toThrow('gave up 2');
  });

  it('does not acknowledge a request the broker answers after stop(): the sink has already rejected it', async () => {
    let answer!: () => void;
    let sending!: () => void;
    const sendCalled = new Promise<void>((r) => (sending = r));
    const h = harness(() => {
      sending();
      return new Promise<void>((r) => (answer = r));
    });
    let resolved = false;
    void h.queue
      .accept(1, () => records('a', 1))
      .then(
        () => (resolved = true),
        () => undefined,
      );
    await sendCalled;
    const stopped = h.loop.stop();
    answer();
    await stopped;
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    expect(h.queue.pending).toBe(1);
    expect(await h.metricValue('fabric_kafka_sink_acked_events_total', { topic: 't' })).toBe(0);
    h.queue.abandon(() => new Error('closed'));
  });

  it('backs off exponentially from initial_backoff_ms, capped at max_backoff_ms, with jitter in the upper half', () => {
    const retry = { initial_backoff_ms: 100, max_backoff_ms: 2000 };
    expect([1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a, retry, () => 1))).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    expect([1, 2, 6].map((a) => backoffDelay(a, retry, () => 0))).toEqual([50, 100, 1000]);
  });
});

describe('Kafka produce request', () => {
  it('groups a batch by topic, keeping each topic in acceptance order', () => {
    const batch = [...records('a', 2, 'x'), ...records('b', 1, 'y'), ...records('c', 2, 'x')];
    expect(groupByTopic(batch)).toEqual([
      { topic: 'x', messages: [{ value: 'a0' }, { value: 'a1' }, { value: 'c0' }, { value: 'c1' }] },
      { topic: 'y', messages: [{ value: 'b0' }] },
    ]);
  });

  it('asks for acks from every in-sync replica, with the configured compression and request timeout', () => {
    const gzip = resolveKafkaSinkConfig({ type: 'kafka', brokers: ['127.0.0.1:1'], retry: { request_timeout_ms: 1234 } });
    expect(produceRequest(records('a', 1), gzip)).toMatchObject({ acks: -1, compression: CompressionTypes.GZIP, timeout: 1234 });
    expect(produceRequest(records('a', 1), { ...gzip, compression: 'none' }).compression).toBe(CompressionTypes.None);
  });
});
