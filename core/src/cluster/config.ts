import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import Type from 'typebox';
import type { Static } from 'typebox';

/**
 * Slots a cluster's collectors are spread over. Fixed for the life of a cluster: a collector's
 * slot is `hash(id) mod SLOT_COUNT`, and slot n is partition n of every internal topic, so
 * changing it would move every checkpoint. 64 lets up to 64 instances share the work and keeps a
 * rebalance to whole slots (a joining instance takes about 1/m of them).
 */
export const SLOT_COUNT = 64;

const InstanceId = Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$' });

/** `cluster:` — several instances share the collectors through a Kafka consumer group (docs/cluster.md). */
export const ClusterConfigSchema = Type.Object(
  {
    group: Type.String({
      pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$',
      description:
        'Name of the cluster (e.g. soc-prod). Instances with the same group share the collectors; its Kafka consumer group, transactional ids and internal topics are named after it.',
    }),
    topic_prefix: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9_.-]{1,200}$', description: 'Prefix of the internal topics (slots, checkpoints); default fabric.<group>.' })),
    session_timeout_seconds: Type.Number({
      minimum: 6,
      maximum: 300,
      default: 10,
      description:
        "How long Kafka's group coordinator waits for an instance's heartbeat before its collectors move to the others (the broker's group.min.session.timeout.ms is 6 s by default).",
    }),
    heartbeat_interval_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 1, description: 'How often an instance heartbeats; well under session_timeout_seconds.' }),
    replication_factor: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'Replication of the internal topics when they are created (3 on a production cluster).' }),
    pinned: Type.Record(Type.String(), InstanceId, {
      default: {},
      description:
        'Collectors that read data only one host has (log files), each to the instance id that runs it (FABRIC_INSTANCE_ID of that instance). A pinned collector never moves; while its instance is down it is shown as such.',
    }),
  },
  { additionalProperties: false },
);

export type ClusterConfig = Static<typeof ClusterConfigSchema>;

/** Names of everything a cluster keeps in Kafka, derived from its group. */
export interface ClusterNames {
  group: string;
  /** The Kafka consumer group whose coordinator hands out the slots. */
  consumerGroup: string;
  /** N partitions, no data: subscribing to it is how an instance is given slots. */
  slotsTopic: string;
  /** Compacted, N partitions, keyed by collector id; written in each batch's transaction. */
  checkpointsTopic: string;
  /**
   * Compacted, one partition, read by every instance: operators' target states, restart requests and
   * checkpoint changes. A config change is a record here, never a membership change (no rebalance).
   */
  configTopic: string;
  /** N partitions: detections re-keyed by correlation group, and watermark records (cluster correlation). */
  correlationTopic: string;
  /** Compacted, N partitions: each correlation partition's open groups, fired alert ids and event time. */
  changelogTopic: string;
  /** Compacted and deleted after a week, one partition: the enrichment sources' answers (the shared verdict cache). */
  verdictsTopic: string;
  /** Compacted, one partition: false positives and what each instance spent of each source's budget. */
  sharedStateTopic: string;
  slotTransactionalId(slot: number): string;
  pinnedTransactionalId(collector: string): string;
}

export function clusterNames(cfg: Pick<ClusterConfig, 'group' | 'topic_prefix'>): ClusterNames {
  const prefix = cfg.topic_prefix ?? `fabric.${cfg.group}.`;
  const base = prefix.endsWith('.') ? prefix : `${prefix}.`;
  return {
    group: cfg.group,
    consumerGroup: `${base}members`,
    slotsTopic: `${base}slots`,
    checkpointsTopic: `${base}checkpoints`,
    configTopic: `${base}config`,
    correlationTopic: `${base}correlation`,
    changelogTopic: `${base}correlation-changelog`,
    verdictsTopic: `${base}verdicts`,
    sharedStateTopic: `${base}shared-state`,
    slotTransactionalId: (slot) => `${base}slot-${slot}`,
    pinnedTransactionalId: (collector) => `${base}pinned-${collector}`,
  };
}

/**
 * A collector's slot. A hash of the id alone, so every instance computes the same slot from the
 * same config without talking to the others; SHA-1 for its spread, not for secrecy.
 */
export function slotOf(collectorId: string, slots = SLOT_COUNT): number {
  return createHash('sha1').update(collectorId).digest().readUInt32BE(0) % slots;
}

/**
 * This instance's id: FABRIC_INSTANCE_ID when set (pinned collectors name it, so an instance that
 * restarts keeps its pinned work), else hostname-pid (unique on one machine, new on each start).
 */
export function instanceIdOf(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.FABRIC_INSTANCE_ID?.trim();
  if (set) return set;
  const host =
    hostname()
      .replace(/[^a-zA-Z0-9_.-]/g, '-')
      .replace(/^[^a-zA-Z0-9]+/, '') || 'host';
  return `${host.slice(0, 50)}-${process.pid}`;
}

export const INSTANCE_ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
