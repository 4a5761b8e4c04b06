import kafkajs from 'kafkajs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FabricConfig } from '../config/schema.js';
import type { KafkaSinkConfig } from '../sinks/kafka/config.js';
import { kafkaClientConfig } from '../sinks/kafka/client.js';
import type { DeadLetterRecord } from '../sinks/dead-letter.js';
import type { Sink } from '../sinks/sink.js';
import type { ClusterConfig } from './config.js';
import { assertKafkajsHidesAbortedRecords } from './kafkajs-check.js';
import { clusterMetrics } from './metrics.js';
import { ClusterNode } from './node.js';
import { ClusterSink } from './sink.js';

export { ClusterNode } from './node.js';
export { ClusterSink } from './sink.js';
export { KafkaCheckpointStore } from './checkpoint-store.js';
export { unpinnedHostCollectors } from './locality.js';
export { clusterNames, instanceIdOf, slotOf, SLOT_COUNT, type ClusterConfig } from './config.js';

export interface ClusterParts {
  node: ClusterNode;
  sink: ClusterSink;
}

/**
 * Cluster mode's parts for the composition root: the node (membership, slots, checkpoints) and
 * the sink that commits each batch in its slot's transaction, around the configured Kafka sink.
 * Loaded lazily by compose, so a single instance never loads any of it.
 */
export function createCluster(
  config: FabricConfig,
  sink: Sink,
  ctx: { instance: string; logger: Logger; registry: Registry; configDir: string; shutdownTimeoutMs: number },
): ClusterParts {
  assertKafkajsHidesAbortedRecords();
  const cluster = config.cluster as ClusterConfig;
  const sinkConfig = config.sink as KafkaSinkConfig;
  const kafka = new kafkajs.Kafka({ ...kafkaClientConfig(sinkConfig, ctx.logger, ctx.configDir), clientId: `${sinkConfig.client_id}-${ctx.instance}` });
  const node = new ClusterNode({
    config: cluster,
    kafka,
    instance: ctx.instance,
    eventsTopic: sinkConfig.topics.detections,
    statusTopic: sinkConfig.topics.status,
    metrics: clusterMetrics(ctx.registry),
    logger: ctx.logger,
    shutdownTimeoutMs: ctx.shutdownTimeoutMs,
  });
  const inner = sink as Sink & { writeDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> };
  return {
    node,
    sink: new ClusterSink(
      inner,
      ctx.instance,
      (c) => node.writerFor(c),
      (c) => node.reportsStatusOf(c),
    ),
  };
}
