import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { FabricEvent } from '../../plugin-api/index.js';
import type { CollectorStatusEvent, Sink, SinkContext, SinkHealth } from '../sink.js';
import type { DeadLetterRecord } from '../dead-letter.js';
import type { KafkaSinkConfig } from './config.js';
import { kafkaSecrets, redact, withPemText } from './client.js';
import { DeliveryLoop } from './delivery.js';
import { describeKafkaError, KafkaSinkClosedError, KafkaSinkSetupError } from './errors.js';
import { eventMessage, statusMessage, deadLetterMessage } from './messages.js';
import { kafkaSinkMetrics, type KafkaSinkMetrics } from './metrics.js';
import { OutageTracker } from './outage.js';
import { DeliveryQueue } from './queue.js';
import { ProducerThread } from './producer-thread.js';

/**
 * Publishes to Kafka with at-least-once delivery: an idempotent producer, acks from all in-sync
 * replicas, one produce request in flight (so retries keep each key in order), and a bounded buffer
 * that makes write() wait when full. Failed requests are retried with capped exponential backoff
 * for as long as it takes; only close() gives up on accepted events, and says so by rejecting.
 *
 * Laid out like Vector's sinks: config.ts (the `sink:` section), request.ts (a batch into one
 * produce request), session.ts (the service: the producer and its topics), run in a worker thread
 * by producer-thread.ts, queue.ts (accepted events until acknowledged, with backpressure),
 * delivery.ts (queue to session, with retries), outage.ts (failures as health). This class wires
 * them to the Sink interface and runs close().
 */
export class KafkaSink implements Sink {
  readonly type = 'kafka';
  private readonly logger: Logger;
  private readonly secrets: string[];
  private readonly metrics: KafkaSinkMetrics;
  private readonly session: ProducerThread;
  private readonly outage: OutageTracker;
  private readonly queue: DeliveryQueue;
  private readonly delivery: DeliveryLoop;
  private stopped = false;

  constructor(
    private readonly config: KafkaSinkConfig,
    ctx: SinkContext,
  ) {
    this.logger = ctx.logger.child({ sink: 'kafka' });
    this.secrets = kafkaSecrets(config);
    // Throws on an unreadable TLS file: before any metric is registered for a sink that cannot exist.
    const threadConfig = withPemText(config, ctx.configDir ?? process.cwd());
    this.metrics = kafkaSinkMetrics(ctx.metrics, () => ({ ok: 0, degraded: 1, down: 2 })[this.health().state]);
    this.session = new ProducerThread(threadConfig, this.logger);
    this.outage = new OutageTracker({
      logger: this.logger,
      errors: this.metrics.errors,
      brokers: config.brokers,
      secrets: this.secrets,
      downAfterSeconds: config.retry.down_after_seconds,
    });
    this.queue = new DeliveryQueue({ maxBuffered: config.max_buffered_events, metrics: this.metrics, onQueued: () => this.delivery.notify() });
    this.delivery = new DeliveryLoop({ queue: this.queue, service: this.session, outage: this.outage, metrics: this.metrics, config, logger: this.logger, secrets: this.secrets });
  }

  async start(): Promise<void> {
    if (this.delivery.started) return;
    try {
      await this.session.ready();
      this.logger.info({ brokers: this.config.brokers, topics: this.config.topics }, 'Kafka sink connected');
    } catch (err) {
      const facts = describeKafkaError(err);
      if (facts.fatal) {
        await this.session.close();
        if (err instanceof KafkaSinkSetupError) throw err;
        throw new KafkaSinkSetupError(
          `Kafka sink cannot start (brokers ${this.config.brokers.join(',')}): ${facts.code}: ${redact(facts.message, this.secrets)}. ` +
            'Check sink.sasl / sink.tls and the client ACLs.',
          'KAFKA_REFUSED',
          facts.code,
        );
      }
      // An unreachable broker at start is an outage like any other: buffer and keep trying.
      this.delivery.failed(err, 1);
    }
    this.delivery.ensureRunning();
  }

  write(events: readonly FabricEvent[]): Promise<void> {
    const topic = this.config.topics.detections;
    return this.queue.accept(events.length, () => events.map((e) => ({ topic, message: eventMessage(e) })));
  }

  writeStatus(status: CollectorStatusEvent): Promise<void> {
    const topic = this.config.topics.status;
    return this.queue.accept(1, () => [{ topic, message: statusMessage(status) }]);
  }

  /** Dead letters go to `topics.dead_letter`, delivered and acknowledged like events. */
  writeDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    const topic = this.config.topics.dead_letter;
    return this.queue.accept(records.length, () => records.map((r) => ({ topic, message: deadLetterMessage(r) })));
  }

  health(): SinkHealth {
    if (this.stopped) return { state: 'down', reason: 'sink closed', pending: this.queue.pending };
    return this.outage.health(this.queue.pending);
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.stopped) return;
    this.queue.close();
    await this.queue.drained(Date.now() + Math.min(deadlineMs, this.config.flush_timeout_seconds * 1000));
    this.stopped = true;
    const delivering = this.delivery.stop();
    const lost = this.queue.abandon(
      (n) => new KafkaSinkClosedError(`Kafka sink closed before the broker acknowledged ${n} event(s); they will be read again from the last checkpoint`),
    );
    if (lost > 0) this.logger.warn({ unacknowledged: lost }, 'Kafka sink closed with unacknowledged events');
    // An in-flight request may hang until its timeout; disconnecting ends it.
    await Promise.race([this.session.close(), sleep(5000, undefined, { ref: false })]);
    await Promise.race([delivering, sleep(1000, undefined, { ref: false })]);
  }
}
