// Cluster mode under faults, end to end on the suite's real broker (and its real OpenSearch node):
// `fabric start` processes on one config, data arriving all along (lines appended to the files,
// documents indexed), a read_committed consumer counting every line and document by its seq.
// Faults are real signals to whole processes: SIGSTOP/SIGCONT, kill -9, SIGTERM.
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { clusterNames, slotOf } from '../../src/cluster/config.js';
import { runId } from '../kafka/helpers.js';
import {
  type ClusterView,
  deleteIndices,
  Feed,
  harness,
  Instance,
  openSearchUp,
  ownersOf,
  SESSION_S,
  type Setup,
  publishedStates,
  settledView,
  Tally,
  topicExists,
  until,
  useClusterHarness,
  writeSetup,
} from './harness.js';

useClusterHarness(['core/dist/cluster/index.js', 'plugins/log-file/dist/index.js', 'plugins/log-elasticsearch/dist/index.js']);

/** Seqs of two collectors never meet: collector k's lines are k * SPAN + 0, 1, 2, … */
const SPAN = 1_000_000;
/** The issue's bound: a failed instance's collectors run again elsewhere within this. */
const RESUME_BOUND_MS = (SESSION_S + 10) * 1000;

/** Waits until every seq written (of `ids`, default all) is in the topic, then a little longer for late duplicates. */
async function settle(tally: Tally, setup: Setup, ids?: string[]): Promise<{ total: number; lost: number; duplicated: number }> {
  const expected = setup.expected(ids);
  await until(
    'every line written in the topic',
    () => tally.missing(expected),
    (n) => n === 0,
    90_000,
  ).catch(() => undefined);
  // A duplicate would arrive after the last new line.
  await sleep(2000);
  return { total: expected.length, lost: tally.missing(expected), duplicated: tally.duplicatedOf(expected) };
}

async function startCluster(nodes: Instance[], setup: Setup, tally: Tally): Promise<ClusterView[]> {
  for (const n of nodes) n.start();
  // The instances create the topic as they start.
  await until('the detections topic', () => topicExists(setup.topic), Boolean, 60_000);
  await tally.start(setup.topic);
  // Generous: on a loaded machine a plugin worker can take long to start.
  return settledView(nodes, nodes.length, 120_000);
}

async function stopAll(nodes: Instance[]): Promise<void> {
  const live = nodes.filter((n) => n.alive);
  for (const n of live) n.child.kill('SIGTERM');
  for (const n of live) expect(await n.exited(), n.stderr).toBe(0);
}

function killLeft(nodes: Instance[]): void {
  for (const n of nodes) {
    if (!n.alive) continue;
    n.child.kill('SIGCONT');
    n.child.kill('SIGKILL');
  }
}

describe('cluster mode under faults: 0 lost, 0 duplicated', () => {
  it('SIGSTOP past the session timeout: its collectors (OpenSearch ones included) move to the others; after SIGCONT its late writes are fenced and it rejoins and gets slots again', async () => {
    await openSearchUp();
    const run = runId();
    const setup = await writeSetup(run, { span: SPAN, prefill: 500, collectors: 6, opensearch: 2 });
    const feed = new Feed(setup, { lines: 10, docs: 5, tickMs: 200 });
    const tally = new Tally();
    const nodes = ['a', 'b', 'c'].map((id) => new Instance(id, setup.config));
    try {
      feed.start();
      const views = await startCluster(nodes, setup, tally);
      const owners = ownersOf(views[0]!);
      // The victim runs collectors, an OpenSearch one if any instance does.
      const load = (n: Instance) => [...owners.values()].filter((o) => o === n.id).length;
      const victim = nodes.find((n) => setup.indices.some((i) => owners.get(i.id) === n.id)) ?? [...nodes].sort((x, y) => load(y) - load(x))[0]!;
      const moved = [...owners].filter(([, o]) => o === victim.id).map(([id]) => id);
      expect(moved.length).toBeGreaterThan(0);
      const rest = nodes.filter((n) => n !== victim);

      await until(
        'data flowing through the cluster',
        () => tally.seen,
        (n) => n >= 6 * 500 + 100,
        60_000,
      );
      // Not always 0: a slot handed over during the start-up rebalances can fence a batch in flight.
      const fencedBefore = await victim.metric('fabric_cluster_fenced_writes_total');
      victim.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const after = await settledView(rest, 2);
      const resumedMs = Date.now() - stoppedAt;
      const afterOwners = ownersOf(after[0]!);
      for (const id of moved) expect(rest.map((n) => n.id)).toContain(afterOwners.get(id));
      // Collectors that did not live on the stopped instance did not move.
      for (const [id, o] of owners) if (o !== victim.id) expect(afterOwners.get(id)).toBe(o);
      // The issue bounds the resume time for kill -9 (cluster.test.ts, the pinned test); for a stopped
      // instance it asks that its collectors move, which settledView waited for. The time is reported.
      expect.soft(await publishedStates(rest), 'states published while the victim is stopped').toEqual([]);

      // Stay stopped while the new owners write: the victim's open batches are behind theirs now.
      const seenAtTakeover = tally.seen;
      await until(
        'the new owners committing',
        () => tally.seen,
        (n) => n >= seenAtTakeover + 500,
        60_000,
      );
      victim.child.kill('SIGCONT');
      const contAt = Date.now();
      const rejoined = await settledView(nodes, 3);
      const rejoinMs = Date.now() - contAt;
      // GET /cluster shows what the owners run, not what the stalled instance said when it woke up.
      expect.soft(await publishedStates(nodes), 'states published after the victim woke up').toEqual([]);
      const member = rejoined[0]!.members.find((m) => m.instance === victim.id)!;
      // It works again: its share of the slots (21 or 22 of 64), taken and running on it.
      expect(member.slots.length).toBeGreaterThanOrEqual(21);
      const own = await until(
        `${victim.id} running the slots the cluster gave it`,
        () => victim.cluster(),
        (v) => v.ownedSlots.join() === member.slots.join(),
        30_000,
      );
      const fenced = (await victim.metric('fabric_cluster_fenced_writes_total')) - fencedBefore;

      await feed.stop();
      const all = await settle(tally, setup);
      const fromOpenSearch = await settle(
        tally,
        setup,
        setup.indices.map((i) => i.id),
      );
      console.log(
        `[cluster SIGSTOP] ${all.total} lines and documents (${fromOpenSearch.total} from OpenSearch); ${moved.length} collectors moved from ${victim.id} (${moved.join(', ')}) in ${resumedMs} ms; ` +
          `after SIGCONT: rejoined in ${rejoinMs} ms with ${own.ownedSlots.length} slots and collectors [${member.collectors.join(', ')}], ${fenced} fenced writes after SIGCONT; ` +
          `lost ${all.lost} (OpenSearch ${fromOpenSearch.lost}), duplicated ${all.duplicated} (OpenSearch ${fromOpenSearch.duplicated})`,
      );
      expect(fromOpenSearch.total).toBeGreaterThan(0);
      expect(all.lost).toBe(0);
      expect(all.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      expect(tally.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      await stopAll(nodes);
    } finally {
      await feed.stop().catch(() => undefined);
      await tally.stop();
      killLeft(nodes);
      await deleteIndices(setup);
    }
  }, 180_000);

  it('stickiness: a fourth instance joins three steady ones; only collectors of the slots it takes change owner, each to it', async () => {
    const run = runId();
    const setup = await writeSetup(run, { span: SPAN, prefill: 1000, collectors: 12 });
    const feed = new Feed(setup, { lines: 10, docs: 0, tickMs: 200 });
    const tally = new Tally();
    const nodes = ['a', 'b', 'c'].map((id) => new Instance(id, setup.config));
    const d = new Instance('d', setup.config);
    try {
      feed.start();
      const before = (await startCluster(nodes, setup, tally))[0]!;
      await until(
        'data flowing through the cluster',
        () => tally.seen,
        (n) => n >= 12 * 1000,
        60_000,
      );
      d.start();
      const after = (await settledView([...nodes, d], 4))[0]!;
      expect.soft(await publishedStates([...nodes, d]), 'states published after the fourth joined').toEqual([]);
      const ownersBefore = ownersOf(before);
      const ownersAfter = ownersOf(after);
      const changed = [...ownersAfter].filter(([id, o]) => ownersBefore.get(id) !== o);
      for (const [id, o] of changed) expect(o, `${id} moved from ${ownersBefore.get(id)}`).toBe('d');
      // In slots: each of the three kept a subset of what it had, d took 16, nothing else moved.
      const slotsBefore = new Map(before.members.map((m) => [m.instance, m.slots]));
      for (const m of after.members) {
        if (m.instance === 'd') expect(m.slots.length).toBe(16);
        else for (const s of m.slots) expect(slotsBefore.get(m.instance)).toContain(s);
      }
      // The collectors d runs are exactly those of its slots.
      const dMember = after.members.find((m) => m.instance === 'd')!;
      expect(dMember.collectors.sort()).toEqual(changed.map(([id]) => id).sort());

      await feed.stop();
      const all = await settle(tally, setup);
      console.log(
        `[cluster 4th joins] ${all.total} lines; ${changed.length} of ${ownersAfter.size} collectors changed owner (${changed.map(([id]) => `${id}: ${ownersBefore.get(id)}→d`).join(', ') || 'none'}); lost ${all.lost}, duplicated ${all.duplicated}`,
      );
      expect(all.lost).toBe(0);
      expect(all.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      await stopAll([...nodes, d]);
    } finally {
      await feed.stop().catch(() => undefined);
      await tally.stop();
      killLeft([...nodes, d]);
    }
  }, 180_000);

  it('pinned: kill -9 of the instance a collector is pinned to shows it down everywhere; started again with the same id, it resumes from its committed checkpoint', async () => {
    const run = runId();
    const pinnedId = 'src-0';
    const setup = await writeSetup(run, { span: SPAN, prefill: 1000, pinned: { [pinnedId]: 'a' } });
    const feed = new Feed(setup, { lines: 10, docs: 0, tickMs: 200 });
    const tally = new Tally();
    const nodes = ['a', 'b', 'c'].map((id) => new Instance(id, setup.config));
    const [a, ...rest] = nodes as [Instance, Instance, Instance];
    const pinnedSeqs = () => setup.expected([pinnedId]);
    try {
      feed.start();
      const views = await startCluster(nodes, setup, tally);
      for (const v of views) expect(v.collectors.find((c) => c.id === pinnedId)).toMatchObject({ pinned: 'a', owner: 'a' });
      await until(
        'the pinned collector’s lines flowing',
        () => pinnedSeqs().length - tally.missing(pinnedSeqs()),
        (n) => n >= 1000,
        60_000,
      );

      a.child.kill('SIGKILL');
      const killedAt = Date.now();
      await a.exited();
      const down = await until(
        `${pinnedId} down on b and c, every other collector running on them`,
        () => Promise.all(rest.map((n) => n.cluster())),
        (vs) =>
          vs.every((v) => {
            const pin = v.collectors.find((c) => c.id === pinnedId);
            return (
              v.members.length === 2 &&
              v.generation === vs[0]!.generation &&
              pin?.problem === 'down' &&
              pin.owner === undefined &&
              v.collectors.every((c) => c.id === pinnedId || (c.owner !== undefined && c.owner !== 'a'))
            );
          }),
        60_000,
      );
      await settledView(rest, 2, 60_000, [pinnedId]);
      const resumedMs = Date.now() - killedAt;
      expect(resumedMs).toBeLessThan(RESUME_BOUND_MS);
      expect(down[0]!.members.map((m) => m.instance).sort()).toEqual(['b', 'c']);
      // Nobody runs it while its instance is down: none of its lines written since arrive.
      const seenWhileDown = pinnedSeqs().length - tally.missing(pinnedSeqs());
      const target = setup.files[0]!.written + 200;
      await until(
        'more lines of the pinned collector written while its instance is down',
        () => setup.files[0]!.written,
        (n) => n >= target,
        10_000,
      );
      expect(pinnedSeqs().length - tally.missing(pinnedSeqs())).toBe(seenWhileDown);

      a.start();
      const back = await settledView(nodes, 3);
      expect.soft(await publishedStates(nodes), 'states published after the pinned instance came back').toEqual([]);
      expect(back[0]!.collectors.find((c) => c.id === pinnedId)).toMatchObject({ pinned: 'a', owner: 'a' });

      await feed.stop();
      const pinned = await settle(tally, setup, [pinnedId]);
      const all = await settle(tally, setup);
      console.log(
        `[cluster pinned] ${pinnedId} pinned to a: ${pinned.total} lines (${seenWhileDown} before the kill -9); the others' collectors resumed in ${resumedMs} ms; ` +
          `${pinnedId}: lost ${pinned.lost}, duplicated ${pinned.duplicated}; all ${all.total} lines: lost ${all.lost}, duplicated ${all.duplicated}`,
      );
      expect(pinned.lost).toBe(0);
      expect(pinned.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      expect(all.lost).toBe(0);
      expect(all.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      await stopAll(nodes);
    } finally {
      await feed.stop().catch(() => undefined);
      await tally.stop();
      killLeft(nodes);
    }
  }, 180_000);

  it('rolling restart: each instance in turn stops (SIGTERM, exit 0) and starts again once the cluster is steady', async () => {
    await openSearchUp();
    const run = runId();
    const setup = await writeSetup(run, { span: SPAN, prefill: 1000, opensearch: 2 });
    const feed = new Feed(setup, { lines: 10, docs: 5, tickMs: 200 });
    const tally = new Tally();
    const nodes = ['a', 'b', 'c'].map((id) => new Instance(id, setup.config));
    const steps: string[] = [];
    try {
      feed.start();
      const first = await startCluster(nodes, setup, tally);
      // An operator pauses one collector through an instance that does not run it: the request goes
      // through the cluster's config topic to its owner, and the pause must outlive every move.
      const paused = 'src-0';
      const owner0 = ownersOf(first[0]!).get(paused)!;
      const via = nodes.find((n) => n.id !== owner0)!;
      const answer = await via.api<{ state: string; instance?: string }>(`/collectors/${paused}/pause?wait=10`, { method: 'POST' });
      expect(answer).toMatchObject({ state: 'paused', instance: owner0 });
      const pausedLines = () => setup.expected([paused]).filter((s) => tally.counts.has(s)).length;
      // Batches in flight at the pause still land; after that nothing more of it may arrive.
      await sleep(2000);
      const atPause = pausedLines();
      const stillPaused = async (where: string) => {
        const views = await until(
          `${paused} shown paused by its owner on every instance`,
          () => Promise.all(nodes.filter((n) => n.alive).map((n) => n.cluster())),
          (vs) => vs.every((v) => v.collectors.some((c) => c.id === paused && c.owner !== undefined && c.state === 'paused' && c.stateFrom === c.owner)),
          30_000,
        );
        const owner = views[0]!.collectors.find((c) => c.id === paused)!.owner!;
        const local = await nodes.find((n) => n.id === owner)!.api<{ collectors: Array<{ id: string; state: string }> }>('/collectors');
        expect(local.collectors.find((c) => c.id === paused)?.state, `${paused} on its owner ${owner} ${where}`).toBe('paused');
        expect(pausedLines(), `lines of the paused ${paused} published ${where}`).toBe(atPause);
        return owner;
      };
      const owners = [await stillPaused('after the pause')];

      for (const n of nodes) {
        const others = nodes.filter((o) => o !== n);
        const t0 = Date.now();
        n.child.kill('SIGTERM');
        expect(await n.exited(), n.stderr).toBe(0);
        const handedOver = await settledView(others, 2, 60_000, [paused]);
        for (const c of handedOver[0]!.collectors) expect(c.owner).not.toBe(n.id);
        owners.push(await stillPaused(`while ${n.id} was down`));
        const t1 = Date.now();
        n.start();
        await settledView(nodes, 3, 60_000, [paused]);
        expect
          .soft(
            (await publishedStates(nodes)).filter((w) => !w.startsWith(`${paused} `)),
            `states published after ${n.id} restarted`,
          )
          .toEqual([]);
        steps.push(`${n.id}: stopped and handed over in ${t1 - t0} ms, back in ${Date.now() - t1} ms`);
        owners.push(await stillPaused(`after ${n.id} restarted`));
      }
      // It lived on more than one instance while paused, and comes back when resumed through any of them.
      expect(new Set(owners).size, `owners of ${paused} while paused: ${owners.join(' → ')}`).toBeGreaterThan(1);
      const resumed = await nodes[0]!.api<{ state: string; instance?: string }>(`/collectors/${paused}/resume?wait=10`, { method: 'POST' });
      expect(resumed.state).toBe('running');

      await feed.stop();
      const all = await settle(tally, setup);
      const fromOpenSearch = await settle(
        tally,
        setup,
        setup.indices.map((i) => i.id),
      );
      console.log(
        `[cluster rolling restart] ${all.total} lines and documents (${fromOpenSearch.total} from OpenSearch); ${steps.join('; ')}; ${paused} paused on ${owners.join(' → ')}; ` +
          `lost ${all.lost} (OpenSearch ${fromOpenSearch.lost}), duplicated ${all.duplicated} (OpenSearch ${fromOpenSearch.duplicated})`,
      );
      expect(all.lost).toBe(0);
      expect(all.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      await stopAll(nodes);
    } finally {
      await feed.stop().catch(() => undefined);
      await tally.stop();
      killLeft(nodes);
      await deleteIndices(setup);
    }
  }, 300_000);

  it('a foreign writer takes a slot’s transactional id: its owner is fenced, takes the slot back after a session timeout, and the collector goes on; 0 lost, 0 duplicated', async () => {
    const run = runId();
    const setup = await writeSetup(run, { span: SPAN, prefill: 500, collectors: 4 });
    const feed = new Feed(setup, { lines: 10, docs: 0, tickMs: 200 });
    const tally = new Tally();
    const nodes = ['a', 'b'].map((id) => new Instance(id, setup.config));
    const kafka = new kafkajs.Kafka({ clientId: 'fabric-test-foreign-writer', brokers: [harness.bootstrap], logLevel: kafkajs.logLevel.NOTHING });
    const foreign = kafka.producer({ transactionalId: clusterNames({ group: `test-${run}` }).slotTransactionalId(slotOf('src-0')), idempotent: true, maxInFlightRequests: 1 });
    try {
      feed.start();
      const before = ownersOf((await startCluster(nodes, setup, tally))[0]!);
      const owner = nodes.find((n) => n.id === before.get('src-0'))!;
      await until(
        'data flowing through the cluster',
        () => tally.seen,
        (n) => n >= 4 * 500 + 100,
        60_000,
      );
      // What a stalled process that missed its loss, or any client reusing the id, does: InitProducerId.
      await foreign.connect();
      await (await foreign.transaction()).abort();
      const fencedAt = Date.now();
      await until(
        `${owner.id} fenced out of src-0's slot`,
        () => owner.metric('fabric_cluster_fenced_writes_total'),
        (n) => n >= 1,
        30_000,
      );
      await until(
        `${owner.id} taking the slot back`,
        () => owner.metric('fabric_cluster_slot_retakes_total'),
        (n) => n >= 1,
        (SESSION_S + 30) * 1000,
      );
      const retakeMs = Date.now() - fencedAt;
      // No rebalance: the same owners, src-0 running again where it was.
      const after = ownersOf((await settledView(nodes, 2))[0]!);
      expect(Object.fromEntries(after)).toEqual(Object.fromEntries(before));

      await feed.stop();
      const all = await settle(tally, setup);
      const src0 = await settle(tally, setup, ['src-0']);
      console.log(
        `[cluster foreign writer] ${all.total} lines; ${owner.id} fenced out of src-0's slot, took it back in ${retakeMs} ms (session ${SESSION_S} s); src-0: ${src0.total} lines, lost ${src0.lost}, duplicated ${src0.duplicated}; all: lost ${all.lost}, duplicated ${all.duplicated}`,
      );
      expect(src0.lost).toBe(0);
      expect(all.lost).toBe(0);
      expect(all.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      await stopAll(nodes);
    } finally {
      await foreign.disconnect().catch(() => undefined);
      await feed.stop().catch(() => undefined);
      await tally.stop();
      killLeft(nodes);
    }
  }, 180_000);
});
