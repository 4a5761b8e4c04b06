import kafkajs from 'kafkajs';
import type { SinkContext } from '../sink.js';
import { kafkaClientConfig, kafkaSecrets, redact } from './client.js';
import type { KafkaSinkConfig } from './config.js';
import { describeKafkaError } from './errors.js';

const { Kafka } = kafkajs;

/**
 * Connect to the cluster and read its metadata, as the sink would before its first send, without
 * producing anything. Resolves with what was found ("3 broker(s), cluster id …"); rejects with a
 * reason fit for one line (secrets withheld). `signal` ends the attempt (the caller's timeout).
 */
export async function probeKafka(config: KafkaSinkConfig, ctx: Pick<SinkContext, 'logger' | 'configDir'>, signal: AbortSignal): Promise<string> {
  const secrets = kafkaSecrets(config);
  const admin = new Kafka(kafkaClientConfig(config, ctx.logger, ctx.configDir ?? process.cwd())).admin();
  const disconnect = (): void => void admin.disconnect().catch(() => undefined);
  signal.addEventListener('abort', disconnect, { once: true });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const topics = new Set(await admin.listTopics());
    const wanted = [config.topics.detections, config.topics.status, config.topics.dead_letter];
    const missing = wanted.filter((t) => !topics.has(t));
    const topicNote =
      missing.length === 0 ? 'topics present' : config.create_topics.enabled ? `will create ${missing.join(', ')}` : `MISSING topics ${missing.join(', ')} (create_topics is off)`;
    if (missing.length > 0 && !config.create_topics.enabled) throw new Error(`connected, but topic(s) ${missing.join(', ')} do not exist and sink.create_topics.enabled is false`);
    return `${cluster.brokers.length} broker(s), ${topicNote}`;
  } catch (err) {
    const facts = describeKafkaError(err);
    throw new Error(redact(`${facts.code}: ${facts.message}`, secrets));
  } finally {
    signal.removeEventListener('abort', disconnect);
    disconnect();
  }
}
