// Cluster mode without a broker: the config section, the shared topics' record parsing (written
// by anyone who can produce to them, so hostile), the slot hash, and the commit path's hand-over of
// a batch's checkpoint to a sink that commits it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterNames, instanceIdOf, SLOT_COUNT, slotOf } from '../../src/cluster/config.js';
import { parseControl } from '../../src/cluster/control.js';
import { parseConfig } from '../../src/config/load.js';
import type { BatchOrigin } from '../../src/sinks/sink.js';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { ClusterStateView } from '../../src/cluster/state-view.js';
import { existsSync, readFileSync } from 'node:fs';
import { assertKafkajsHidesAbortedRecords, hidesAbortedOutOfOrder, KAFKAJS_PATCH } from '../../src/cluster/kafkajs-check.js';
import { unknownCommitOutcome } from '../../src/cluster/slot-writer.js';
import { MemorySink, silentLogger, testPipeline } from '../helpers.js';

const kafkaSink = 'sink: { type: kafka, brokers: ["127.0.0.1:9092"] }\n';
const collectors = 'collectors:\n  - { id: auth, plugin: "@reactive-fabric/plugin-log-file", config: { paths: [a.log] } }\n';

describe('the cluster: section', () => {
  it('is optional: without it nothing changes', () => {
    expect(parseConfig(collectors, '/etc/fabric/f.yaml', {}).config.cluster).toBeUndefined();
  });

  it('takes a group and applies defaults', () => {
    const { config } = parseConfig(`${kafkaSink}cluster: { group: soc-prod }\n${collectors}`, '/etc/fabric/f.yaml', {});
    expect(config.cluster).toEqual({ group: 'soc-prod', session_timeout_seconds: 10, heartbeat_interval_seconds: 1, replication_factor: 1, pinned: {} });
    expect(clusterNames(config.cluster!)).toMatchObject({
      consumerGroup: 'fabric.soc-prod.members',
      slotsTopic: 'fabric.soc-prod.slots',
      checkpointsTopic: 'fabric.soc-prod.checkpoints',
      configTopic: 'fabric.soc-prod.config',
    });
    expect(clusterNames(config.cluster!).slotTransactionalId(7)).toBe('fabric.soc-prod.slot-7');
  });

  it('refuses a cluster on the embedded sink, and a pin of a collector that does not exist, naming line, field and fix', () => {
    expect(() => parseConfig(`cluster:\n  group: soc\n  pinned: { nope: node-a }\n${collectors}`, '/etc/fabric/f.yaml', {})).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /f\.yaml:\d+ {2}cluster: cluster mode needs the Kafka sink[\s\S]*fix: set sink: \{ type: kafka[\s\S]*f\.yaml:3 {2}cluster\.pinned\.nope: "nope" is not a configured collector\n\s+fix: pin one of: auth/,
        ),
      }),
    );
  });

  it('refuses a group name that cannot name topics', () => {
    expect(() => parseConfig(`${kafkaSink}cluster: { group: "soc prod/../x" }\n`, '/etc/fabric/f.yaml', {})).toThrow(/cluster\.group/);
  });
});

describe('slots and instance ids', () => {
  it('puts a collector in the same slot on every instance, spread over all 64', () => {
    expect(slotOf('auth-log')).toBe(slotOf('auth-log'));
    const used = new Set(Array.from({ length: 2000 }, (_, i) => slotOf(`collector-${i}`)));
    expect(used.size).toBe(SLOT_COUNT);
    for (const s of used) expect(s >= 0 && s < SLOT_COUNT).toBe(true);
  });

  it('takes the instance id from FABRIC_INSTANCE_ID, else hostname-pid', () => {
    expect(instanceIdOf({ FABRIC_INSTANCE_ID: 'node-a' })).toBe('node-a');
    expect(instanceIdOf({})).toMatch(new RegExp(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*-${process.pid}$`));
  });
});

describe('config-topic records (hostile input)', () => {
  it('reads the records this version writes', () => {
    expect(parseControl('target/auth', { collector: 'auth', target: 'paused', by: 'a', at: '2026-12-04T00:00:00.000Z' })).toEqual({
      kind: 'target',
      collector: 'auth',
      target: 'paused',
      by: 'a',
      at: '2026-12-04T00:00:00.000Z',
    });
    expect(parseControl('checkpoint/auth', { collector: 'auth', request: 'r1', value: null })).toMatchObject({ kind: 'checkpoint', value: null });
  });

  it('skips anything else without throwing: unknown kinds, a key that names another collector, bad targets, prototype keys', () => {
    expect(parseControl('target/auth', { collector: 'other', target: 'paused' })).toBeUndefined();
    expect(parseControl('target/auth', { collector: 'auth', target: 'exploded' })).toBeUndefined();
    expect(parseControl('__proto__/auth', { collector: 'auth', target: 'paused' })).toBeUndefined();
    expect(parseControl('noslash', { collector: 'noslash' })).toBeUndefined();
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), fc.jsonValue()), (key, value) => {
        const r = parseControl(key, value as Record<string, unknown>);
        if (r) expect(`${r.kind}/${r.collector}`).toBe(key);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the commit path hands each batch’s checkpoint to a sink that commits it', () => {
  class CommittingSink extends MemorySink {
    readonly commitsCheckpoints = true;
    readonly origins: Array<{ events: number; origin: BatchOrigin | undefined }> = [];
    override write(events: readonly FabricEvent[], origin?: BatchOrigin): Promise<void> {
      this.origins.push({ events: events.length, origin });
      return super.write(events);
    }
  }

  it('a batch with nothing to publish still reaches the sink, for its position', async () => {
    const sink = new CommittingSink();
    const pipeline = testPipeline({ sink, publish: 'detections' });
    await pipeline.submit({ collector: 'c1', plugin: 'p', events: [{ message: 'nothing to see' }], checkpoint: { offset: 42 } });
    expect(sink.origins).toEqual([{ events: 0, origin: { collector: 'c1', checkpoint: { offset: 42 } } }]);
  });

  it('a plain sink is not called for a batch with nothing to publish', async () => {
    const sink = new MemorySink();
    const pipeline = testPipeline({ sink, publish: 'detections' });
    await pipeline.submit({ collector: 'c1', plugin: 'p', events: [{ message: 'nothing to see' }], checkpoint: { offset: 42 } });
    expect(sink.writes).toBe(0);
  });
});

describe('the cluster state view reads shared topics anyone can write to (hostile records)', () => {
  const view = () =>
    new ClusterStateView({
      kafka: {} as never,
      instance: 'a',
      group: 'g',
      checkpointsTopic: 'cp',
      statusTopic: 'st',
      configTopic: 'cfg',
      onControl: () => undefined,
      logger: silentLogger(),
    });
  const feed = (v: ClusterStateView, topic: string, records: Array<[string | null, string | null]>) =>
    (v as unknown as { onBatch(p: unknown): Promise<void> }).onBatch({
      batch: {
        topic,
        partition: 0,
        messages: records.map(([k, val], i) => ({ offset: String(i), key: k === null ? null : Buffer.from(k), value: val === null ? null : Buffer.from(val) })),
        lastOffset: () => String(records.length - 1),
      },
    });

  it('skips crafted keys, wrong types, junk and oversized values without throwing or polluting prototypes', async () => {
    const v = view();
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    await feed(v, 'cp', [
      ['__proto__', JSON.stringify({ value: 1, commit: 'x', instance: 'evil', polluted: true })],
      ['constructor', JSON.stringify({ value: { a: 1 }, commit: 1, instance: 'evil' })],
      ['auth', 'not json {'],
      ['auth', deep],
      ['auth', JSON.stringify([1, 2, 3])],
      ['auth', `"${'x'.repeat(2 << 20)}"`],
      [null, JSON.stringify({ value: 1, commit: 'c', instance: 'i' })],
      ['auth', JSON.stringify({ value: { offset: 7 }, commit: 'c1', instance: 'b', updatedAt: '2026-12-04T00:00:00.000Z' })],
    ]);
    await feed(v, 'st', [
      ['src', JSON.stringify({ collector: 'other', state: 'running', '@timestamp': '2026-12-04T00:00:00.000Z' })],
      ['src', JSON.stringify({ collector: 'src', state: 42, '@timestamp': '2026-12-04T00:00:00.000Z' })],
      ['__proto__', JSON.stringify({ collector: '__proto__', state: 'running', '@timestamp': '2026-12-04T00:00:00.000Z', instance: 'x' })],
    ]);
    expect(v.checkpoint('auth')).toMatchObject({ value: { offset: 7 }, instance: 'b' });
    expect(v.status('src')).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(v.ignoredRecords).toBeGreaterThanOrEqual(7);
  });

  it('keeps at most 64 publishers per collector however many instances a writer invents', async () => {
    const v = view();
    await feed(
      v,
      'st',
      Array.from({ length: 5000 }, (_, i): [string, string] => [
        'src',
        JSON.stringify({ collector: 'src', state: 'running', instance: `fake-${i}`, '@timestamp': new Date(Date.UTC(2026, 0, 1) + i).toISOString() }),
      ]),
    );
    const byInstance = (v as unknown as { statuses: Map<string, Map<string, unknown>> }).statuses.get('src')!;
    expect(byInstance.size).toBe(64);
    expect(v.status('src')).toMatchObject({ instance: 'fake-4999' });
  });
});

describe('cluster mode refuses a kafkajs that shows aborted records to read_committed readers', () => {
  it('the installed kafkajs (with core/patches/kafkajs@2.2.4.patch) passes; a filter that keeps them is refused with CLUSTER_SETUP and the fix', () => {
    expect(() => assertKafkajsHidesAbortedRecords()).not.toThrow();
    const keepsAll = (input: { messages: unknown[] }) => input.messages;
    expect(hidesAbortedOutOfOrder(keepsAll)).toBe(false);
    // The error gives the command that applies the patch core ships (the one the workspace applies).
    expect(() => assertKafkajsHidesAbortedRecords(() => keepsAll)).toThrow(expect.objectContaining({ code: 'CLUSTER_SETUP', message: expect.stringContaining(`patch -p1 -d `) }));
    expect(() => assertKafkajsHidesAbortedRecords(() => keepsAll)).toThrow(expect.objectContaining({ message: expect.stringContaining(KAFKAJS_PATCH) }));
    expect(existsSync(KAFKAJS_PATCH)).toBe(true);
    expect(readFileSync(KAFKAJS_PATCH, 'utf8')).toContain('src/consumer/filterAbortedMessages.js');
    // A kafkajs whose layout has no such file cannot be checked: refused the same way, not trusted.
    expect(() =>
      assertKafkajsHidesAbortedRecords(() => {
        throw new Error('Cannot find module');
      }),
    ).toThrow(expect.objectContaining({ code: 'CLUSTER_SETUP' }));
  });
});

describe('a commit nobody answered is judged by the stored checkpoint', () => {
  it('ours: committed; the last one we wrote: aborted, retried; anyone else’s since ours: superseded, never retried', () => {
    expect(unknownCommitOutcome('c7', 'c7', 'c6')).toBe('committed');
    expect(unknownCommitOutcome('c6', 'c7', 'c6')).toBe('aborted');
    // Our last write was a reset (no record): still nothing newer.
    expect(unknownCommitOutcome('', 'c7', '')).toBe('aborted');
    // The slot moved while this process stalled: a new owner committed after our last commit.
    expect(unknownCommitOutcome('other-1', 'c7', 'c6')).toBe('superseded');
    expect(unknownCommitOutcome('', 'c7', 'c6')).toBe('superseded');
    // This writer never committed for the collector: the stored one is the position it started from.
    expect(unknownCommitOutcome('earlier-owner', 'c7', undefined)).toBe('aborted');
  });
});
