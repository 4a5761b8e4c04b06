import type { Admin } from 'kafkajs';
import { sleep } from '../async/time.js';
import { describeKafkaError } from '../sinks/kafka/errors.js';
import { type ClusterNames, SLOT_COUNT } from './config.js';
import { ClusterSetupError } from './errors.js';

/**
 * The cluster's internal topics, created on first start: the slots topic (no data; its partitions
 * are what the group coordinator hands out) and the compacted checkpoints topic, both with one
 * partition per slot. An existing topic with another partition count would put checkpoints in
 * the wrong slot, so it is refused with the fix.
 */
export async function ensureClusterTopics(admin: Admin, names: ClusterNames, replicationFactor: number, opts: { correlation?: boolean; shared?: boolean } = {}): Promise<void> {
  const correlation = opts.correlation
    ? [
        // Read once by the partition's owner; a week covers any outage its committed position survives.
        { topic: names.correlationTopic, configEntries: [{ name: 'retention.ms', value: String(7 * 86_400_000) }] },
        {
          topic: names.changelogTopic,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'min.compaction.lag.ms', value: '0' },
          ],
        },
      ]
    : [];
  const wanted = [
    ...correlation,
    { topic: names.slotsTopic, configEntries: [{ name: 'retention.ms', value: '60000' }] },
    {
      topic: names.checkpointsTopic,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'min.compaction.lag.ms', value: '0' },
      ],
    },
  ];
  const compacted = [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'min.compaction.lag.ms', value: '0' },
  ];
  const single = [
    { topic: names.configTopic, numPartitions: 1, configEntries: compacted },
    ...(opts.shared
      ? [
          { topic: names.sharedStateTopic, numPartitions: 1, configEntries: compacted },
          // Answers expire (cache TTLs are hours or days): a week's retention keeps indicators seen once from piling up.
          {
            topic: names.verdictsTopic,
            numPartitions: 1,
            configEntries: [
              { name: 'cleanup.policy', value: 'compact,delete' },
              { name: 'retention.ms', value: String(7 * 86_400_000) },
            ],
          },
        ]
      : []),
  ];
  const existing = new Set(await admin.listTopics());
  const missing = [...wanted.filter((t) => !existing.has(t.topic)).map((t) => ({ ...t, numPartitions: SLOT_COUNT })), ...single.filter((t) => !existing.has(t.topic))];
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        topics: missing.map((t) => ({ ...t, replicationFactor })),
        // kafkajs' own wait gives up (UNKNOWN_TOPIC_OR_PARTITION) while 64 new partitions get their leaders: waitForLeaders() below.
        waitForLeaders: false,
      });
    } catch (err) {
      const facts = describeKafkaError(err);
      if (!facts.types.includes('TOPIC_ALREADY_EXISTS'))
        throw new ClusterSetupError(
          `could not create the cluster's topics ${missing.map((t) => t.topic).join(', ')} (${facts.code}): ` +
            `create them (${names.slotsTopic} and ${names.checkpointsTopic} with ${SLOT_COUNT} partitions, ${names.configTopic}, ${names.sharedStateTopic} and ${names.verdictsTopic} with 1; all but the slots topic with cleanup.policy=compact), or grant this client CREATE on them, or lower cluster.replication_factor`,
        );
    }
  }
  // All of them: the view subscribes to the one-partition topics too, and a consumer that joins
  // while a subscribed topic has no leader yet is not given its partitions until its next rebalance.
  const meta = await waitForLeaders(
    admin,
    [...wanted, ...single].map((t) => t.topic),
  );
  const perSlot = new Set(wanted.map((t) => t.topic));
  for (const t of meta.topics) {
    if (perSlot.has(t.name) && t.partitions.length !== SLOT_COUNT)
      throw new ClusterSetupError(
        `cluster topic ${t.name} has ${t.partitions.length} partitions; cluster mode needs exactly ${SLOT_COUNT} (one per slot). ` +
          'It was not created by this version: delete it (its state is lost) or pick another cluster.group / cluster.topic_prefix',
      );
  }
}

/**
 * Metadata of `topics` once every partition has a leader that serves it (a new topic's partitions
 * get theirs over a few hundred ms). The metadata names a leader a moment before that broker
 * answers for the partition: until then ListOffsets — what a new owner of a slot sends to read the
 * slot's checkpoints to their end — answers NOT_LEADER_OR_FOLLOWER, which kafkajs'
 * admin.fetchTopicOffsets does not retry. So the offsets of every partition must answer too.
 */
export async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<Awaited<ReturnType<Admin['fetchTopicMetadata']>>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      if (meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        for (const t of topics) await admin.fetchTopicOffsets(t);
        return meta;
      }
    } catch (err) {
      if (Date.now() > until) throw err;
    }
    if (Date.now() > until)
      throw new ClusterSetupError(`the cluster topics ${topics.join(', ')} have no leader for every partition after ${timeoutMs / 1000} s: check the brokers`);
    await sleep(200);
  }
}
