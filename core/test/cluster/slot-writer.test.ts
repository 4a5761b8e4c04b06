// The slot writer and the state view on the real broker: a batch's events and its checkpoint
// become visible together or not at all, a new holder of the slot fences the old one, and a new
// owner reads the slot's committed checkpoints to the end.
import kafkajs from 'kafkajs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterNames, SLOT_COUNT } from '../../src/cluster/config.js';
import { clusterMetrics } from '../../src/cluster/metrics.js';
import { SlotWriter } from '../../src/cluster/slot-writer.js';
import { ClusterStateView } from '../../src/cluster/state-view.js';
import { ensureClusterTopics, waitForLeaders } from '../../src/cluster/topics.js';
import { silentLogger } from '../helpers.js';
import { deleteTopicsWith, runId, sharedBroker } from '../kafka/helpers.js';

const { Kafka, logLevel } = kafkajs;
type KafkaClient = InstanceType<typeof Kafka>;

let kafka: KafkaClient;
let admin: ReturnType<KafkaClient['admin']>;

beforeAll(async () => {
  kafka = new Kafka({ clientId: 'slot-writer-test', brokers: [await sharedBroker()], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
});
const runs: string[] = [];
afterAll(async () => {
  await admin?.disconnect();
  await deleteTopicsWith(
    await sharedBroker(),
    runs.flatMap((r) => [`fabric.sw-${r}.`, `sw-${r}.`, `fabric.bad-${r}.`]),
  );
});

async function setup() {
  const run = runId();
  runs.push(run);
  const names = clusterNames({ group: `sw-${run}` });
  await ensureClusterTopics(admin, names, 1);
  const eventsTopic = `sw-${run}.events`;
  const statusTopic = `sw-${run}.status`;
  await admin.createTopics({
    topics: [
      { topic: eventsTopic, numPartitions: 3, replicationFactor: 1 },
      { topic: statusTopic, numPartitions: 1, replicationFactor: 1 },
    ],
    waitForLeaders: false,
  });
  await waitForLeaders(admin, [eventsTopic, statusTopic]);
  const metrics = clusterMetrics(new Registry());
  const fenced: string[] = [];
  const writer = (instance: string, view: ClusterStateView) =>
    new SlotWriter({
      kafka,
      transactionalId: names.slotTransactionalId(5),
      partition: 5,
      eventsTopic,
      checkpointsTopic: names.checkpointsTopic,
      instance,
      metrics,
      logger: silentLogger(),
      view,
      owned: () => true,
      onFenced: (e) => fenced.push(`${instance}: ${e.code}`),
    });
  const view = (instance: string) => new ClusterStateView({ kafka, instance, group: names.group, checkpointsTopic: names.checkpointsTopic, statusTopic, logger: silentLogger() });
  return { names, eventsTopic, writer, view, fenced, metrics };
}

async function committedValues(topic: string): Promise<string[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const c = kafka.consumer({ groupId: `sw-read-${runId()}`, maxWaitTimeInMs: 100 });
  const out: string[] = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const reached = new Map<number, boolean>();
  await new Promise<void>((resolve) => {
    const check = () => offsets.every((o) => Number(o.high) === 0 || reached.get(o.partition)) && resolve();
    c.on(c.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.offsetLag === '0') reached.set(payload.partition, true);
      check();
    });
    void c.run({ eachMessage: async ({ message }) => void out.push(message.value!.toString()) });
    check();
  });
  await c.disconnect();
  return out.sort();
}

describe('slot writer (Kafka transactions per slot)', () => {
  it('commits events and checkpoints together; queued writes share a transaction; the view restores the last position', async () => {
    const { eventsTopic, writer, view } = await setup();
    const v = view('a');
    await v.start();
    const w = writer('a', v);
    await w.open();
    const writes = Array.from({ length: 20 }, (_, i) => w.write([{ value: `e${i}` }], { collector: `c${i % 2}`, value: { offset: i } }));
    await Promise.all(writes);
    await v.barrier(await w.barrier());
    await w.close(1000);
    expect(v.checkpoint('c0')).toMatchObject({ value: { offset: 18 }, instance: 'a' });
    expect(v.checkpoint('c1')).toMatchObject({ value: { offset: 19 }, instance: 'a' });
    expect(await committedValues(eventsTopic)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`).sort());
    await v.stop();
  }, 60_000);

  it('a new holder of the slot fences the old one: its later writes are refused and never visible', async () => {
    const { eventsTopic, writer, view, fenced, metrics } = await setup();
    const v = view('b');
    await v.start();
    const old = writer('old', v);
    await old.open();
    await old.write([{ value: 'before' }], { collector: 'c', value: 1 });
    const next = writer('new', v);
    await next.open();
    await expect(old.write([{ value: 'zombie' }], { collector: 'c', value: 2 })).rejects.toMatchObject({ code: 'SLOT_FENCED' });
    expect(old.isFenced).toBe(true);
    expect(fenced).toEqual(['old: SLOT_FENCED']);
    expect((await metrics.fencedWrites.get()).values[0]?.value).toBe(1);
    await next.write([{ value: 'after' }], { collector: 'c', value: 3 });
    await v.barrier(await next.barrier());
    expect(v.checkpoint('c')).toMatchObject({ value: 3, instance: 'new' });
    expect(await committedValues(eventsTopic)).toEqual(['after', 'before']);
    await old.close(0);
    await next.close(1000);
    await v.stop();
  }, 60_000);

  it('a reset is a tombstone: the view forgets the position', async () => {
    const { writer, view } = await setup();
    const v = view('c');
    await v.start();
    const w = writer('c', v);
    await w.open();
    await w.write([], { collector: 'x', value: { at: 5 } });
    await v.barrier(await w.barrier());
    expect(v.checkpoint('x')?.value).toEqual({ at: 5 });
    await w.write([], { collector: 'x', value: null });
    await v.barrier(await w.barrier());
    expect(v.checkpoint('x')).toBeUndefined();
    await w.close(1000);
    await v.stop();
  }, 60_000);

  it('refuses a cluster topic with the wrong partition count, naming it and the fix', async () => {
    const run = runId();
    runs.push(run);
    const names = clusterNames({ group: `bad-${run}` });
    await admin.createTopics({ topics: [{ topic: names.checkpointsTopic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: false });
    await waitForLeaders(admin, [names.checkpointsTopic]);
    await expect(ensureClusterTopics(admin, names, 1)).rejects.toMatchObject({
      code: 'CLUSTER_SETUP',
      message: expect.stringContaining(`${names.checkpointsTopic} has 3 partitions; cluster mode needs exactly ${SLOT_COUNT}`),
    });
  }, 30_000);
});
