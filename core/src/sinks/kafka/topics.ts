import type { Admin } from 'kafkajs';
import type { KafkaSinkConfig } from './config.js';
import { describeKafkaError, KafkaSinkSetupError } from './errors.js';

/**
 * Make sure the detections, status and dead-letter topics exist: create missing ones with the configured
 * partitions and replication (the status topic compacted), or refuse with an error that says what to do.
 * Returns the topics it created.
 */
export async function ensureTopics(admin: Admin, config: KafkaSinkConfig): Promise<string[]> {
  const wanted = [...new Set([config.topics.detections, config.topics.status, config.topics.dead_letter])];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t));
  if (missing.length === 0) return [];
  const { partitions, replication_factor } = config.create_topics;
  // The status topic holds each collector's latest state (keyed by collector id), as Kafka
  // Connect's status topic does: compacted, a collector that has been running for weeks keeps its
  // record where time-based retention would drop it. Not when it shares a name with another topic.
  const statusOnly = config.topics.status !== config.topics.detections && config.topics.status !== config.topics.dead_letter ? config.topics.status : undefined;
  if (!config.create_topics.enabled) {
    throw new KafkaSinkSetupError(
      `Kafka topic(s) ${missing.join(', ')} do not exist on ${config.brokers.join(',')} and sink.create_topics.enabled is false: ` +
        `create them (e.g. kafka-topics.sh --create --topic ${missing[0]} --partitions ${partitions} --replication-factor ${replication_factor}) ` +
        `or set sink.create_topics.enabled: true`,
      'TOPIC_MISSING',
    );
  }
  try {
    await admin.createTopics({
      topics: missing.map((topic) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: replication_factor,
        ...(topic === statusOnly ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}),
      })),
      waitForLeaders: true,
    });
  } catch (err) {
    const facts = describeKafkaError(err);
    if (facts.types.includes('TOPIC_ALREADY_EXISTS')) return [];
    if (facts.types.some((t) => t.endsWith('AUTHORIZATION_FAILED'))) {
      throw new KafkaSinkSetupError(
        `the Kafka cluster refused to create topic(s) ${missing.join(', ')} (${facts.code}): ask its admin to create them ` +
          `with ${partitions} partitions and replication factor ${replication_factor}, or to grant this client CREATE on them`,
        'TOPIC_CREATE_DENIED',
      );
    }
    if (facts.types.includes('INVALID_REPLICATION_FACTOR')) {
      throw new KafkaSinkSetupError(
        `sink.create_topics.replication_factor ${replication_factor} is more than the brokers the cluster has: lower it (1 for a single broker)`,
        'INVALID_REPLICATION_FACTOR',
      );
    }
    if (facts.fatal) {
      throw new KafkaSinkSetupError(`creating Kafka topic(s) ${missing.join(', ')} failed (${facts.code}): ${facts.message}`, 'KAFKA_REFUSED', facts.code);
    }
    throw err;
  }
  return missing;
}
