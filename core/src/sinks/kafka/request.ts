import kafkajs from 'kafkajs';
import type { Message, ProducerBatch, TopicMessages } from 'kafkajs';
import type { KafkaSinkConfig } from './config.js';

const { CompressionTypes } = kafkajs;

/** A record as the sink accepts it: already serialised, so a retry never serialises again. */
export interface OutgoingRecord {
  topic: string;
  message: Message;
}

/** What one produce request carries; `topicMessages` is always set so acknowledgements can be counted per topic. */
export interface ProduceRequest extends ProducerBatch {
  topicMessages: TopicMessages[];
}

/**
 * Built once per batch and resent unchanged on every retry: the same records in the same order
 * is what lets the idempotent producer keep each key in order across failures.
 */
export function produceRequest(records: readonly OutgoingRecord[], config: Pick<KafkaSinkConfig, 'compression' | 'retry'>): ProduceRequest {
  return {
    topicMessages: groupByTopic(records),
    // Every in-sync replica: write() promises durability, and the idempotent producer refuses anything less.
    acks: -1,
    compression: config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    timeout: config.retry.request_timeout_ms,
  };
}

/** Keeps each topic's records in the order they were accepted. */
export function groupByTopic(records: readonly OutgoingRecord[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (!list) byTopic.set(r.topic, (list = []));
    list.push(r.message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
