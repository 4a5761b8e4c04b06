// Cluster membership against the real broker: several members in this process, each with its own
// kafkajs client, in one consumer group over a 64-partition slots topic.
import kafkajs from 'kafkajs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Membership, type MembershipView } from '../../src/cluster/membership.js';
import { pollUntil, runId, sharedBroker, deleteTopicsWith } from '../kafka/helpers.js';

const { Kafka, logLevel } = kafkajs;
const SLOTS = 64;
const SESSION_MS = 6000;

type Event = { kind: 'assigned'; view: MembershipView } | { kind: 'lost'; reason: string };

interface Member {
  instance: string;
  membership: Membership;
  events: Event[];
}

describe('cluster membership', () => {
  const run = runId();
  const topic = `fabric-slots-${run}`;
  const groupId = `fabric-cluster-${run}`;
  let bootstrap: string;
  const members: Member[] = [];

  function member(instance: string): Member {
    const kafka = new Kafka({ clientId: `fabric-test-${instance}`, brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const membership = new Membership({
      kafka,
      groupId,
      topic,
      slots: SLOTS,
      instance,
      sessionTimeoutMs: SESSION_MS,
      heartbeatIntervalMs: 500,
      logger: pino({ level: process.env.MEMBERS_DEBUG ? 'info' : 'silent' }),
    });
    const m: Member = { instance, membership, events: [] };
    membership.on('assigned', (view) => m.events.push({ kind: 'assigned', view }));
    membership.on('lost', (reason) => m.events.push({ kind: 'lost', reason }));
    members.push(m);
    return m;
  }

  /** Every live member holds a view of the same generation naming exactly the live members. */
  function settled(live: Member[]): MembershipView[] | undefined {
    const views = live.map((m) => m.membership.view);
    if (views.some((v) => v === undefined)) return undefined;
    const ids = views.map((v) => v!.memberId).sort();
    const agree = views.every(
      (v) =>
        v!.generation === views[0]!.generation &&
        v!.members
          .map((x) => x.memberId)
          .sort()
          .join() === ids.join(),
    );
    return agree ? (views as MembershipView[]) : undefined;
  }

  async function settle(live: Member[]): Promise<MembershipView[]> {
    const views = await pollUntil(
      () => settled(live),
      (v) => v !== undefined,
      {
        what: `${live.length} members agreeing on one generation`,
        timeoutMs: 30_000,
        show: () => JSON.stringify(live.map((m) => m.membership.view && { g: m.membership.view.generation, n: m.membership.view.members.length })),
      },
    );
    return views!;
  }

  function expectPartition(views: MembershipView[]): void {
    const all = views.flatMap((v) => v.slots).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: SLOTS }, (_, i) => i));
    for (const v of views) {
      expect(v.members).toEqual(views[0]!.members);
      expect(v.members.find((x) => x.memberId === v.memberId)!.slots).toEqual(v.slots);
      expect(v.instance).toBe(v.members.find((x) => x.memberId === v.memberId)!.instance);
      expect([Math.floor(SLOTS / views.length), Math.ceil(SLOTS / views.length)]).toContain(v.slots.length);
    }
  }

  function owners(views: MembershipView[]): Map<number, string> {
    const out = new Map<number, string>();
    for (const v of views) for (const s of v.slots) out.set(s, v.instance);
    return out;
  }

  beforeAll(async () => {
    bootstrap = await sharedBroker();
    const admin = new Kafka({ clientId: 'fabric-test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: SLOTS, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
  });

  afterAll(async () => {
    await Promise.all(members.map((m) => m.membership.stop()));
    await deleteTopicsWith(bootstrap, [topic]);
  });

  let three: Member[];
  let before: MembershipView[];

  it('three members share the 64 slots, each exactly once, and agree on the view', async () => {
    three = ['a', 'b', 'c'].map((i) => member(`host-${i}`));
    await Promise.all(three.map((m) => m.membership.start()));
    before = await settle(three);
    expectPartition(before);
    expect(before[0]!.members.map((m) => m.instance)).toEqual(['host-a', 'host-b', 'host-c']);
    for (const m of three) expect(m.events.filter((e) => e.kind === 'lost')).toEqual([]);
  });

  it('a fourth member takes its 16 slots from the others and nothing else moves', async () => {
    const fourth = member('host-d');
    await fourth.membership.start();
    const four = [...three, fourth];
    const after = await settle(four);
    expectPartition(after);
    expect(after[0]!.generation).toBeGreaterThan(before[0]!.generation);
    const was = owners(before);
    const is = owners(after);
    const moved = [...is].filter(([slot, owner]) => was.get(slot) !== owner);
    expect(moved).toHaveLength(16);
    expect(moved.every(([, owner]) => owner === 'host-d')).toBe(true);
    before = after;
  });

  it('a member that stops hands over its slots; the others keep theirs', async () => {
    const leaver = members.find((m) => m.instance === 'host-b')!;
    const gone = before.find((v) => v.instance === 'host-b')!.slots;
    await leaver.membership.stop();
    await leaver.membership.stop();
    expect(leaver.membership.view).toBeUndefined();
    const live = members.filter((m) => m !== leaver);
    const after = await settle(live);
    expectPartition(after);
    expect(after[0]!.generation).toBeGreaterThan(before[0]!.generation);
    const was = owners(before);
    for (const [slot, owner] of owners(after)) {
      if (was.get(slot) !== owner) expect(gone).toContain(slot);
    }
    before = after;
    three = live;
  });

  it('a process frozen past the session timeout reports the loss before anything else, then rejoins', async () => {
    const mark = three.map((m) => m.events.length);
    // The whole process stands still, as under SIGSTOP: no timer, no socket, no heartbeat.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SESSION_MS + 2000);
    const after = await pollUntil(
      () => settled(three),
      (v) => v?.every((x) => x.generation > before[0]!.generation) === true && v.flatMap((x) => x.slots).length === SLOTS,
      {
        what: 'the members rejoining after the freeze',
        timeoutMs: 40_000,
        show: () => JSON.stringify(three.map((m) => m.events.slice(mark[three.indexOf(m)]).map((e) => e.kind))),
      },
    );
    expectPartition(after!);
    three.forEach((m, i) => {
      const since = m.events.slice(mark[i]);
      expect(since[0]).toMatchObject({ kind: 'lost' });
      expect(since[1]).toMatchObject({ kind: 'assigned', view: { slots: [] } });
      expect(since.filter((e) => e.kind === 'lost')).toHaveLength(1);
    });
    before = after!;
  }, 60_000);

  it('a member that gave up while the coordinator still counts it joins again, and the others keep their slots', async () => {
    // The watchdog can fire while the session is still alive (a heartbeat answer arrives late). No
    // public knob makes that happen on cue, so the member's last contact is aged by hand.
    const [quiet, ...others] = three;
    const mark = quiet!.events.length;
    (quiet!.membership as unknown as { lastContact: number }).lastContact = Date.now() - 2 * SESSION_MS - 1000;
    const after = await pollUntil(
      () => settled(three),
      (v) => v?.every((x) => x.generation > before[0]!.generation) === true,
      { what: 'the quiet member joining again', timeoutMs: 30_000 },
    );
    expectPartition(after!);
    expect(quiet!.events.slice(mark).map((e) => e.kind)).toEqual(['lost', 'assigned', 'assigned']);
    for (const m of others) {
      expect(after!.find((v) => v.instance === m.instance)!.slots).toEqual(before.find((v) => v.instance === m.instance)!.slots);
    }
  });
});
