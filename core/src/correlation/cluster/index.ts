import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { ClusterNames } from '../../cluster/config.js';
import type { ClusterMetrics } from '../../cluster/metrics.js';
import type { SlotWork } from '../../cluster/node.js';
import type { ClusterStateView } from '../../cluster/state-view.js';
import type { PipelineStage } from '../../pipeline/stage.js';
import type { Priority } from '../../plugin-api/index.js';
import type { CorrelationConfig } from '../config.js';
import type { CorrelationRule } from '../rule.js';
import { Correlator } from './correlator.js';
import { createCorrelationForwarder } from './forwarder.js';

export { Correlator, changelogRecords, parseRecord, snapshotOf, CORRELATION_CHECKPOINT_PREFIX } from './correlator.js';
export { createCorrelationForwarder, partitionOfKey, WATERMARK_INTERVAL_MS } from './forwarder.js';

/** What cluster correlation needs of the cluster node (ClusterNode.context and useSlotWork). */
export interface ClusterCorrelationHost {
  readonly context: { kafka: Kafka; instance: string; names: ClusterNames; view: ClusterStateView; metrics: ClusterMetrics; logger: Logger };
  useSlotWork(work: SlotWork): void;
}

/**
 * Correlation for a cluster instance (docs/cluster.md, "Correlation across instances"): returns the
 * pipeline's correlation stage, which re-keys detections to the correlation topic, and has the node
 * run the correlator on the partitions of the slots it owns.
 */
export function createClusterCorrelation(
  host: ClusterCorrelationHost,
  c: { rules: readonly CorrelationRule[]; config: CorrelationConfig; minPriority: Priority; dedupWindowMs: number },
): PipelineStage {
  const { kafka, instance, names, view, metrics, logger } = host.context;
  host.useSlotWork(
    new Correlator({
      kafka,
      group: names.group,
      instance,
      topic: names.correlationTopic,
      changelogTopic: names.changelogTopic,
      rules: c.rules,
      config: c.config,
      minPriority: c.minPriority,
      dedupWindowMs: c.dedupWindowMs,
      view,
      metrics,
      logger,
    }),
  );
  return createCorrelationForwarder(c.rules, { topic: names.correlationTopic });
}
