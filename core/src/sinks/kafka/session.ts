import kafkajs from 'kafkajs';
import type { Kafka, Producer } from 'kafkajs';
import type { KafkaLogger } from './client.js';
import type { KafkaSinkConfig } from './config.js';
import type { ErrorFacts } from './errors.js';
import type { ProduceRequest } from './request.js';
import { ensureTopics } from './topics.js';

const { Partitioners } = kafkajs;

/** The broker rejects this producer's idempotence state: only a new producer id gets past it. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'UNKNOWN_PRODUCER_ID',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
  'INVALID_TXN_STATE',
]);

/**
 * The sink's connection to the cluster (the "service" of Vector's sinks): one idempotent producer,
 * created and connected on first use, topics checked (or created) before the first send, and
 * replaced after failures that a reconnect of the same producer would not cure.
 */
export class ProducerSession {
  private producer: Producer | undefined;
  private producerConnected = false;
  private topicsReady = false;

  constructor(
    private readonly kafka: Pick<Kafka, 'producer' | 'admin'>,
    private readonly config: KafkaSinkConfig,
    private readonly logger: KafkaLogger,
  ) {}

  /** Connects (again) if needed and makes sure the topics exist. */
  async ready(): Promise<void> {
    if (!this.producer) {
      this.producer = this.kafka.producer({
        idempotent: true,
        // One request at a time: a retried request cannot overtake the next, so each key stays in order.
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        // Short: longer outages are the delivery loop's backoff, which keeps health and metrics honest.
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
          this.logger.info(
            { topics: created, partitions: this.config.create_topics.partitions, replication_factor: this.config.create_topics.replication_factor },
            'created Kafka topics',
          );
        }
        this.topicsReady = true;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    }
  }

  /** Resolves when the brokers acknowledged the whole request. */
  async send(request: ProduceRequest): Promise<void> {
    await this.ready();
    await this.producer!.sendBatch(request);
  }

  /**
   * A producer whose idempotence state the broker rejects (sequence, epoch, fenced) is replaced,
   * as is one failing for reasons we cannot name, or that keeps failing (every 5th attempt).
   * Retriable broker errors (leader moved, coordinator loading) keep it: kafkajs refreshes
   * metadata, and the same producer id lets the broker drop a resent batch it already wrote
   * instead of storing it twice.
   */
  afterFailure(facts: ErrorFacts, attempt: number): void {
    const unknown = !facts.connection && facts.types.length === 0;
    if (unknown || facts.types.some((t) => PRODUCER_STATE_ERRORS.has(t)) || attempt % 5 === 0) void this.close();
    if (facts.code === 'TOPIC_MISSING' || facts.types.includes('UNKNOWN_TOPIC_OR_PARTITION')) this.topicsReady = false;
  }

  /** Disconnects the producer; the next ready() starts a new one. Never rejects. */
  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.producerConnected = false;
    if (p) await p.disconnect().catch(() => {});
  }
}
