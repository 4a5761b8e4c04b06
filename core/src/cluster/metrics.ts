import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../metrics/register.js';

export interface ClusterMetrics {
  members: Gauge;
  ownedSlots: Gauge;
  ownedCollectors: Gauge;
  rebalances: Counter;
  rebalanceSeconds: Histogram;
  fencedWrites: Counter;
  slotRetakes: Counter;
  transactions: Counter<'outcome'>;
  transactionSeconds: Histogram;
  correlationRecords: Counter<'kind'>;
  correlationAlerts: Counter<'rule'>;
  correlationGroups: Gauge;
  changelogBytes: Counter;
}

/** Every `fabric_cluster_*` metric (listed in docs/metrics.md); one instance's view. */
export function clusterMetrics(registry: Registry): ClusterMetrics {
  return {
    members: gauge(registry, { name: 'fabric_cluster_members', help: 'Instances in the cluster, as the last assignment this instance received says.' }),
    ownedSlots: gauge(registry, { name: 'fabric_cluster_owned_slots', help: 'Slots this instance owns (fenced, restored and running).' }),
    ownedCollectors: gauge(registry, { name: 'fabric_cluster_owned_collectors', help: 'Collectors this instance runs: those of its slots, and those pinned to it.' }),
    rebalances: counter(registry, { name: 'fabric_cluster_rebalances_total', help: 'Assignments this instance received (each group generation it took part in).' }),
    rebalanceSeconds: histogram(registry, {
      name: 'fabric_cluster_rebalance_seconds',
      help: 'From receiving an assignment to having stopped the slots it lost and started the slots it gained.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
    fencedWrites: counter(registry, {
      name: 'fabric_cluster_fenced_writes_total',
      help: 'Transactions refused because another instance fenced this one (a late write of a stalled owner).',
    }),
    slotRetakes: counter(registry, {
      name: 'fabric_cluster_slot_retakes_total',
      help: 'Slots taken back after a fence while the assignment still gave them to this instance (a stalled or foreign writer used their transactional id).',
    }),
    transactions: counter(registry, {
      name: 'fabric_cluster_transactions_total',
      help: 'Transactions of events and checkpoints, by outcome (committed, aborted, fenced).',
      labelNames: ['outcome'] as const,
    }),
    transactionSeconds: histogram(registry, {
      name: 'fabric_cluster_transaction_seconds',
      help: 'From a transaction beginning to its commit returning.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    correlationRecords: counter(registry, {
      name: 'fabric_cluster_correlation_records_total',
      help: 'Records of the correlation topic this instance read for the partitions it owns, by kind: detection (correlated), duplicate (its fingerprint was correlated within the de-duplication window), watermark, ignored (not a record this version writes).',
      labelNames: ['kind'] as const,
    }),
    correlationAlerts: counter(registry, {
      name: 'fabric_cluster_correlation_alerts_total',
      help: 'Correlated alerts this instance committed for the correlation partitions it owns, by rule.',
      labelNames: ['rule'] as const,
    }),
    correlationGroups: gauge(registry, { name: 'fabric_cluster_correlation_groups', help: 'Open correlation groups in the partitions this instance owns.' }),
    changelogBytes: counter(registry, {
      name: 'fabric_cluster_correlation_changelog_bytes_total',
      help: 'Bytes of correlation state this instance wrote to the changelog topic (keys and values).',
    }),
  };
}
