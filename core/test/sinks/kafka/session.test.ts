// The Kafka sink's producer session and outage tracking with a fake kafkajs client: no broker.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Kafka, ProducerConfig } from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describeKafkaError } from '../../../src/sinks/kafka/errors.js';
import { resolveKafkaSinkConfig } from '../../../src/sinks/kafka/index.js';
import { kafkaSinkMetrics } from '../../../src/sinks/kafka/metrics.js';
import { OutageTracker } from '../../../src/sinks/kafka/outage.js';
import type { ProduceRequest } from '../../../src/sinks/kafka/request.js';
import { ProducerSession } from '../../../src/sinks/kafka/session.js';

const config = resolveKafkaSinkConfig({ type: 'kafka', brokers: ['127.0.0.1:1'], topics: { detections: 'd', status: 's', dead_letter: 'dl' }, create_topics: { partitions: 4 } });
const request: ProduceRequest = { topicMessages: [{ topic: 'd', messages: [{ value: 'x' }] }], acks: -1 };

const brokerError = (type: string) => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type });
const connectionRefused = () => Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' });

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }) };
}

function fakeKafka(opts: { disconnectFails?: boolean } = {}) {
  const topics = new Set<string>(['d']);
  const log = { listTopics: 0, created: [] as Array<{ topic: string; numPartitions?: number; configEntries?: Array<{ name: string; value: string }> }> };
  const producers: Array<{ config: ProducerConfig; connects: number; disconnects: number; sent: unknown[] }> = [];
  const kafka = {
    producer(producerConfig: ProducerConfig) {
      const p = { config: producerConfig, connects: 0, disconnects: 0, sent: [] as unknown[] };
      producers.push(p);
      return {
        connect: async () => void p.connects++,
        disconnect: async () => {
          p.disconnects++;
          if (opts.disconnectFails) throw new Error('socket already gone');
        },
        sendBatch: async (batch: unknown) => {
          p.sent.push(batch);
          return [];
        },
      };
    },
    admin() {
      return {
        connect: async () => undefined,
        disconnect: async () => undefined,
        listTopics: async () => {
          log.listTopics++;
          return [...topics];
        },
        createTopics: async ({ topics: wanted }: { topics: Array<{ topic: string; numPartitions?: number; configEntries?: Array<{ name: string; value: string }> }> }) => {
          for (const t of wanted) topics.add(t.topic);
          log.created.push(...wanted);
          return true;
        },
      };
    },
  };
  return { kafka: kafka as unknown as Pick<Kafka, 'producer' | 'admin'>, producers, log };
}

describe('Kafka producer session', () => {
  it('starts one idempotent producer with one request in flight, and checks the topics once, creating the missing ones', async () => {
    const { kafka, producers, log } = fakeKafka();
    const { logger, lines } = capture();
    const session = new ProducerSession(kafka, config, logger);
    await session.send(request);
    await session.send(request);
    await session.ready();
    expect(producers).toHaveLength(1);
    expect(producers[0]!.config).toMatchObject({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    expect(producers[0]!.connects).toBe(1);
    expect(producers[0]!.sent).toEqual([request, request]);
    expect(log.listTopics).toBe(1);
    expect(log.created.map((t) => [t.topic, t.numPartitions])).toEqual([
      ['s', 4],
      ['dl', 4],
    ]);
    expect(lines.find((l) => l.msg === 'created Kafka topics')).toMatchObject({ topics: ['s', 'dl'], partitions: 4 });
    // The status topic keeps each collector's latest state (compacted); dead letters are a log.
    expect(Object.fromEntries(log.created.map((t) => [t.topic, t.configEntries]))).toEqual({ s: [{ name: 'cleanup.policy', value: 'compact' }], dl: undefined });
  });

  it('replaces the producer when the broker rejects its idempotence state, when the error is unknown, and every 5th attempt; keeps it otherwise', async () => {
    const { kafka, producers } = fakeKafka();
    const session = new ProducerSession(kafka, config, capture().logger);
    await session.send(request);
    const after = async (err: unknown, attempt: number) => {
      session.afterFailure(describeKafkaError(err), attempt);
      await session.send(request);
      return producers.length;
    };
    // Retriable: kafkajs refreshes metadata, and the same producer id lets the broker drop a resent duplicate.
    expect(await after(brokerError('NOT_LEADER_OR_FOLLOWER'), 1)).toBe(1);
    expect(await after(connectionRefused(), 2)).toBe(1);
    expect(await after(connectionRefused(), 5)).toBe(2);
    expect(producers[0]!.disconnects).toBe(1);
    for (const type of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TXN_STATE']) {
      const before = producers.length;
      expect(await after(brokerError(type), 1)).toBe(before + 1);
    }
    const before = producers.length;
    expect(await after(new Error('something nobody named'), 1)).toBe(before + 1);
  });

  it('checks the topics again after the broker says one is missing', async () => {
    const { kafka, log } = fakeKafka();
    const session = new ProducerSession(kafka, config, capture().logger);
    await session.send(request);
    session.afterFailure(describeKafkaError(brokerError('UNKNOWN_TOPIC_OR_PARTITION')), 1);
    await session.send(request);
    expect(log.listTopics).toBe(2);
    session.afterFailure(describeKafkaError(connectionRefused()), 1);
    await session.send(request);
    expect(log.listTopics).toBe(2);
  });

  it('close() disconnects the producer and never rejects', async () => {
    const { kafka, producers } = fakeKafka({ disconnectFails: true });
    const session = new ProducerSession(kafka, config, capture().logger);
    await session.ready();
    await expect(session.close()).resolves.toBeUndefined();
    expect(producers[0]!.disconnects).toBe(1);
    await expect(session.close()).resolves.toBeUndefined();
  });
});

describe('Kafka outage tracking', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function tracker(secrets: string[] = []) {
    const registry = new Registry();
    const metrics = kafkaSinkMetrics(registry, () => 0);
    const { logger, lines } = capture();
    const outage = new OutageTracker({ logger, errors: metrics.errors, brokers: ['127.0.0.1:1'], secrets, downAfterSeconds: 30 });
    const errors = async (code: string) => (await metrics.errors.get()).values.find((v) => v.labels.code === code)?.value ?? 0;
    return { outage, lines, errors };
  }

  it('is ok, then degraded with the last error, then down after down_after_seconds without an acknowledgement', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    vi.setSystemTime(t0);
    const { outage } = tracker();
    expect(outage.health(3)).toEqual({ state: 'ok', pending: 3 });
    outage.failed(connectionRefused(), 1, 3);
    vi.setSystemTime(t0 + 12_000);
    outage.failed(brokerError('NOT_LEADER_OR_FOLLOWER'), 2, 3);
    expect(outage.health(3)).toEqual({ state: 'degraded', pending: 3, reason: 'no acknowledgement from Kafka for 12s (NOT_LEADER_OR_FOLLOWER: NOT_LEADER_OR_FOLLOWER); retrying' });
    vi.setSystemTime(t0 + 30_000);
    expect(outage.health(3)).toMatchObject({ state: 'down', pending: 3 });
    outage.recovered(0);
    expect(outage.health(0)).toEqual({ state: 'ok', pending: 0 });
  });

  it('counts every failure by code, warns at most every 10 s, says when delivery resumed, and keeps secrets out', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    vi.setSystemTime(t0);
    const secret = 'hunter2-secret';
    const { outage, lines, errors } = tracker([secret]);
    const withSecret = () => Object.assign(new Error(`SASL as fabric:${secret} refused`), { name: 'KafkaJSConnectionError' });
    for (let i = 1; i <= 5; i++) {
      vi.setSystemTime(t0 + i * 3_000);
      outage.failed(withSecret(), i, 7);
    }
    expect(await errors('CONNECTION')).toBe(5);
    const warnings = lines.filter((l) => String(l.msg).startsWith('Kafka produce failed'));
    // The first failure (3 s) and the first one 10 s after it (15 s).
    expect(warnings.map((w) => w.attempt)).toEqual([1, 5]);
    expect(warnings[0]).toMatchObject({ code: 'CONNECTION', pending: 7, brokers: ['127.0.0.1:1'] });
    expect(JSON.stringify(lines) + outage.health(7).reason).not.toContain(secret);
    outage.recovered(0);
    outage.recovered(0);
    expect(lines.filter((l) => l.msg === 'Kafka delivery resumed')).toEqual([expect.objectContaining({ failed_attempts: 5, outage_seconds: 12, pending: 0 })]);
  });
});
