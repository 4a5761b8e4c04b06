import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import type { Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';
import type { FabricEvent } from '../../plugin-api/index.js';
import type { CollectorStatusEvent, Sink, SinkContext, SinkHealth } from '../sink.js';
import type { KafkaSinkConfig } from './config.js';
import { kafkaClientConfig, kafkaSecrets, redact } from './client.js';
import { describeKafkaError, KafkaSinkClosedError, KafkaSinkSetupError } from './errors.js';
import { eventMessage, statusMessage, deadLetterMessage } from './messages.js';
import type { DeadLetterRecord } from '../dead-letter.js';
import { kafkaSinkMetrics, type KafkaSinkMetrics } from './metrics.js';
import { ensureTopics } from './topics.js';

const { Kafka: KafkaClient, CompressionTypes, Partitioners } = kafkajs;

/** One write() call: settles when every record it produced is acknowledged, or the sink closes. */
interface Ticket {
  remaining: number;
  acceptedAt: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface PendingRecord {
  topic: string;
  message: Message;
  ticket: Ticket;
}

const FAILURE_LOG_INTERVAL_MS = 10_000;

const PRODUCER_STATE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TXN_STATE']);

/**
 * Publishes to Kafka with at-least-once delivery: an idempotent producer, acks from all in-sync
 * replicas, one produce request in flight (so retries keep each key in order), and a bounded buffer
 * that makes write() wait when full. Failed requests are retried with capped exponential backoff
 * for as long as it takes; only close() gives up on accepted events, and says so by rejecting.
 */
export class KafkaSink implements Sink {
  readonly type = 'kafka';
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private readonly metrics: KafkaSinkMetrics;
  private readonly secrets: string[];
  private producer: Producer | undefined;
  private producerConnected = false;
  private topicsReady = false;

  /** Accepted records not yet in a request; `head` avoids shifting a large array. */
  private queue: PendingRecord[] = [];
  private head = 0;
  private inFlight: PendingRecord[] = [];
  /** Accepted and not acknowledged: what max_buffered_events bounds. */
  private buffered = 0;
  private roomWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private wakePump: (() => void) | undefined;
  private pump: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();

  private closing = false;
  private stopped = false;
  private failingSince: number | undefined;
  private lastError: string | undefined;
  private lastFailureLog = 0;
  private failuresSinceOk = 0;

  constructor(
    private readonly config: KafkaSinkConfig,
    ctx: SinkContext,
  ) {
    this.logger = ctx.logger.child({ sink: 'kafka' });
    this.secrets = kafkaSecrets(config);
    this.kafka = new KafkaClient(kafkaClientConfig(config, this.logger, ctx.configDir ?? process.cwd()));
    this.metrics = kafkaSinkMetrics(ctx.metrics, () => ({ ok: 0, degraded: 1, down: 2 })[this.health().state]);
  }

  async start(): Promise<void> {
    if (this.pump) return;
    try {
      await this.ensureReady();
      this.logger.info({ brokers: this.config.brokers, topics: this.config.topics }, 'Kafka sink connected');
    } catch (err) {
      const facts = describeKafkaError(err);
      if (facts.fatal) {
        await this.dropProducer();
        if (err instanceof KafkaSinkSetupError) throw err;
        throw new KafkaSinkSetupError(
          `Kafka sink cannot start (brokers ${this.config.brokers.join(',')}): ${facts.code}: ${redact(facts.message, this.secrets)}. ` +
            'Check sink.sasl / sink.tls and the client ACLs.',
          'KAFKA_REFUSED',
          facts.code,
        );
      }
      // An unreachable broker at start is an outage like any other: buffer and keep trying.
      this.recordFailure(err, 1);
    }
    this.ensurePump();
  }

  write(events: readonly FabricEvent[]): Promise<void> {
    const topic = this.config.topics.detections;
    return this.enqueue(events.length, () => events.map((e) => ({ topic, message: eventMessage(e) })));
  }

  writeStatus(status: CollectorStatusEvent): Promise<void> {
    const topic = this.config.topics.status;
    return this.enqueue(1, () => [{ topic, message: statusMessage(status) }]);
  }

  /** Dead letters go to `topics.dead_letter`, delivered and acknowledged like events. */
  writeDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    const topic = this.config.topics.dead_letter;
    return this.enqueue(records.length, () => records.map((r) => ({ topic, message: deadLetterMessage(r) })));
  }

  health(): SinkHealth {
    const pending = this.buffered;
    if (this.stopped) return { state: 'down', reason: 'sink closed', pending };
    if (this.failingSince === undefined) return { state: 'ok', pending };
    const downMs = Date.now() - this.failingSince;
    const reason = `no acknowledgement from Kafka for ${Math.round(downMs / 1000)}s (${this.lastError ?? 'unknown error'}); retrying`;
    return { state: downMs >= this.config.retry.down_after_seconds * 1000 ? 'down' : 'degraded', reason, pending };
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.stopped) return;
    this.closing = true;
    this.wakeAll(this.roomWaiters);
    this.wakePump?.();
    const deadline = Date.now() + Math.min(deadlineMs, this.config.flush_timeout_seconds * 1000);
    // Unreferenced: a pending deadline must not keep the process alive after everything flushed.
    const timeUp = sleep(Math.max(1, deadline - Date.now()), undefined, { ref: false });
    while (this.buffered > 0 && Date.now() < deadline) {
      await Promise.race([new Promise<void>((r) => this.drainWaiters.push(r)), timeUp]);
    }
    this.stopped = true;
    this.stopSignal.abort();
    this.wakePump?.();
    const lost = this.buffered;
    if (lost > 0) {
      const err = new KafkaSinkClosedError(`Kafka sink closed before the broker acknowledged ${lost} event(s); they will be read again from the last checkpoint`);
      for (const r of [...this.inFlight, ...this.queue.slice(this.head)]) this.settle(r.ticket, err);
      this.logger.warn({ unacknowledged: lost }, 'Kafka sink closed with unacknowledged events');
    }
    this.queue = [];
    this.head = 0;
    this.inFlight = [];
    this.buffered = 0;
    this.metrics.pending.set(0);
    // An in-flight request may hang until its timeout; disconnecting ends it.
    await Promise.race([this.dropProducer(), sleep(5000, undefined, { ref: false })]);
    await Promise.race([this.pump, sleep(1000, undefined, { ref: false })]);
  }

  private async enqueue(count: number, build: () => Array<{ topic: string; message: Message }>): Promise<void> {
    if (this.closing) throw new KafkaSinkClosedError('Kafka sink is closing: no new events accepted');
    if (count === 0) return;
    // A batch bigger than the whole bound is let through alone, or it would wait forever.
    while (this.buffered > 0 && this.buffered + count > this.config.max_buffered_events && !this.closing) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
    }
    if (this.closing) throw new KafkaSinkClosedError('Kafka sink is closing: no new events accepted');
    const records = build();
    return new Promise<void>((resolve, reject) => {
      const ticket: Ticket = { remaining: records.length, acceptedAt: performance.now(), settled: false, resolve, reject };
      for (const r of records) this.queue.push({ topic: r.topic, message: r.message, ticket });
      this.buffered += records.length;
      this.metrics.pending.set(this.buffered);
      this.ensurePump();
      this.wakePump?.();
    });
  }

  private ensurePump(): void {
    if (this.pump) return;
    this.pump = this.run().catch((err: unknown) => {
      // run() handles delivery errors itself; reaching here is a bug, but must not crash the host.
      this.logger.error({ err: redact(String(err), this.secrets) }, 'Kafka sink delivery loop stopped unexpectedly');
    });
  }

  private queued(): number {
    return this.queue.length - this.head;
  }

  private take(max: number): PendingRecord[] {
    const end = Math.min(this.queue.length, this.head + max);
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 8192 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  private async run(): Promise<void> {
    const { max_events, linger_ms } = this.config.batch;
    while (!this.stopped) {
      if (this.queued() === 0) {
        await new Promise<void>((r) => (this.wakePump = r));
        this.wakePump = undefined;
        continue;
      }
      if (linger_ms > 0 && this.queued() < max_events && !this.closing) await sleep(linger_ms);
      if (this.stopped) return;
      const batch = this.take(max_events);
      this.inFlight = batch;
      await this.deliver(batch);
      this.inFlight = [];
    }
  }

  /** Send one request's worth of records until the broker acknowledges it or the sink stops. */
  private async deliver(batch: PendingRecord[]): Promise<void> {
    const topicMessages = groupByTopic(batch);
    const compression = this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    let attempt = 0;
    while (!this.stopped) {
      try {
        await this.ensureReady();
        await this.producer!.sendBatch({ topicMessages, acks: -1, compression, timeout: this.config.retry.request_timeout_ms });
        if (this.stopped) return;
        this.acknowledged(batch, topicMessages);
        return;
      } catch (err) {
        if (this.stopped) return;
        attempt++;
        this.recordFailure(err, attempt);
        await this.backoff(attempt);
        if (this.stopped) return;
        this.metrics.retries.inc();
      }
    }
  }

  private async ensureReady(): Promise<void> {
    if (!this.producer) {
      this.producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      this.producerConnected = false;
    }
    if (!this.producerConnected) {
      await this.producer.connect();
      this.producerConnected = true;
    }
    if (!this.topicsReady) {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
        const created = await ensureTopics(admin, this.config);
        if (created.length > 0) {
          this.logger.info({ topics: created, partitions: this.config.create_topics.partitions, replication_factor: this.config.create_topics.replication_factor }, 'created Kafka topics');
        }
        this.topicsReady = true;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    }
  }

  private acknowledged(batch: PendingRecord[], topicMessages: TopicMessages[]): void {
    for (const tm of topicMessages) this.metrics.acked.inc({ topic: tm.topic }, tm.messages.length);
    const now = performance.now();
    const done: Ticket[] = [];
    for (const r of batch) {
      const t = r.ticket;
      if (--t.remaining === 0 && !t.settled) {
        t.settled = true;
        this.metrics.ackLatency.observe((now - t.acceptedAt) / 1000);
        done.push(t);
      }
    }
    // Writers woken by an acknowledgement serialise their next events on this thread. Waking them
    // after the delivery loop has handed the next request to kafkajs lets that work overlap the
    // request's compression and round trip instead of delaying it.
    if (done.length > 0) setImmediate(() => { for (const t of done) t.resolve(); });
    this.buffered -= batch.length;
    this.metrics.pending.set(this.buffered);
    if (this.failingSince !== undefined) {
      this.logger.info({ outage_seconds: Math.round((Date.now() - this.failingSince) / 100) / 10, failed_attempts: this.failuresSinceOk, pending: this.buffered }, 'Kafka delivery resumed');
      this.failingSince = undefined;
      this.lastError = undefined;
      this.failuresSinceOk = 0;
    }
    setImmediate(() => {
      this.wakeAll(this.roomWaiters);
      this.wakeAll(this.drainWaiters);
    });
  }

  private recordFailure(err: unknown, attempt: number): void {
    const facts = describeKafkaError(err);
    this.metrics.errors.inc({ code: facts.code });
    this.failuresSinceOk++;
    this.failingSince ??= Date.now();
    this.lastError = `${facts.code}: ${redact(facts.message, this.secrets)}`;
    const now = Date.now();
    if (this.failuresSinceOk === 1 || now - this.lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
      this.lastFailureLog = now;
      this.logger.warn(
        { code: facts.code, attempt, pending: this.buffered, brokers: this.config.brokers, down_seconds: Math.round((now - this.failingSince) / 1000) },
        `Kafka produce failed (${this.lastError}); retrying with backoff, events stay buffered`,
      );
    }
    // A producer whose idempotence state the broker rejects (sequence, epoch, fenced) is replaced,
    // as is one failing for reasons we cannot name, or that keeps failing. Retriable broker errors
    // (leader moved, coordinator loading) keep it: kafkajs refreshes metadata, and the same producer
    // id lets the broker drop a resent batch it already wrote instead of storing it twice.
    const unknown = !facts.connection && facts.types.length === 0;
    if (unknown || facts.types.some((t) => PRODUCER_STATE_ERRORS.has(t)) || attempt % 5 === 0) void this.dropProducer();
    if (facts.code === 'TOPIC_MISSING' || facts.types.includes('UNKNOWN_TOPIC_OR_PARTITION')) this.topicsReady = false;
  }

  private async backoff(attempt: number): Promise<void> {
    const { initial_backoff_ms, max_backoff_ms } = this.config.retry;
    const ceiling = Math.min(max_backoff_ms, initial_backoff_ms * 2 ** Math.min(attempt - 1, 20));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    try {
      await sleep(delay, undefined, { signal: this.stopSignal.signal });
    } catch {
      // aborted by close()
    }
  }

  private async dropProducer(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.producerConnected = false;
    if (p) await p.disconnect().catch(() => {});
  }

  private settle(ticket: Ticket, err: Error): void {
    if (ticket.settled) return;
    ticket.settled = true;
    ticket.reject(err);
  }

  private wakeAll(waiters: Array<() => void>): void {
    const ws = waiters.splice(0, waiters.length);
    for (const w of ws) w();
  }
}

function groupByTopic(batch: readonly PendingRecord[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const r of batch) {
    let list = byTopic.get(r.topic);
    if (!list) byTopic.set(r.topic, (list = []));
    list.push(r.message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
