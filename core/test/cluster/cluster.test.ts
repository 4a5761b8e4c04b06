// Cluster mode end to end: three `fabric start` processes on one config share the collectors
// through a Kafka consumer group on the suite's real broker; a read_committed consumer counts every
// line by its seq. Faults are real: kill -9 of a whole process (more faults in faults.test.ts).
import { describe, expect, it } from 'vitest';
import { runId } from '../kafka/helpers.js';
import { Instance, SESSION_S, steadyView, Tally, TOTAL, topicExists, until, useClusterHarness, writeSetup } from './harness.js';

useClusterHarness();

describe('cluster mode: three instances share the collectors exactly once', () => {
  it('steady state: each collector owned by one instance, the same view everywhere; kill -9 of one: its collectors resume elsewhere, 0 lost, 0 duplicated', async () => {
    const run = runId();
    const { config, topic } = await writeSetup(run);
    const tally = new Tally();
    const nodes = ['a', 'b', 'c'].map((id) => new Instance(id, config));
    try {
      for (const n of nodes) n.start();
      // The instances create the topic as they start.
      await until('the detections topic', () => topicExists(topic), Boolean, 60_000);
      await tally.start(topic);
      const views = await steadyView(nodes, 3);
      const owners = new Map(views[0]!.collectors.map((c) => [c.id, c.owner!]));
      // Every slot has exactly one owner across the members.
      const slots = views[0]!.members.flatMap((m) => m.slots);
      expect(new Set(slots).size).toBe(64);
      expect(slots.length).toBe(64);
      // Each instance runs exactly the collectors the view says it owns.
      for (const n of nodes) {
        const own = await n.api<{ collectors: Array<{ id: string; state: string }> }>('/collectors');
        const running = own.collectors.filter((c) => c.state === 'running').map((c) => c.id);
        expect(running.sort()).toEqual(
          [...owners]
            .filter(([, o]) => o === n.id)
            .map(([id]) => id)
            .sort(),
        );
      }

      // Mid-stream: kill -9 an instance that runs collectors.
      await until(
        'a third of the lines in the topic',
        () => tally.seen,
        (n) => n >= TOTAL / 3,
        60_000,
      );
      const victim = nodes.find((n) => [...owners.values()].includes(n.id))!;
      const moved = [...owners].filter(([, o]) => o === victim.id).map(([id]) => id);
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      await victim.exited();
      const rest = nodes.filter((n) => n !== victim);
      const after = await steadyView(rest, 2);
      const resumedMs = Date.now() - killedAt;
      for (const id of moved) expect(after[0]!.collectors.find((c) => c.id === id)!.owner).not.toBe(victim.id);
      // Collectors that did not live on the killed instance did not move.
      for (const [id, o] of owners) if (o !== victim.id) expect(after[0]!.collectors.find((c) => c.id === id)!.owner).toBe(o);
      expect(resumedMs).toBeLessThan((SESSION_S + 10) * 1000 + 5000);

      await until(
        'every line in the topic',
        () => tally.seen,
        (n) => n >= TOTAL,
        120_000,
      ).catch(() => undefined);
      // A little longer: a duplicate would arrive after the last new line.
      await new Promise((r) => setTimeout(r, 2000));
      console.log(
        `[cluster kill -9] ${TOTAL} lines, ${moved.length} collectors moved from ${victim.id} in ${resumedMs} ms; lost ${tally.lost(TOTAL)}, duplicated ${tally.duplicated}`,
      );
      expect(tally.lost(TOTAL)).toBe(0);
      expect(tally.duplicated, `duplicates (seq@partition:offset): ${tally.duplicates().join(' ')}`).toBe(0);
      for (const n of rest) n.child.kill('SIGTERM');
      for (const n of rest) expect(await n.exited(), n.stderr).toBe(0);
    } finally {
      await tally.stop();
      for (const n of nodes) if (n.alive) n.child.kill('SIGKILL');
    }
  }, 240_000);
});
