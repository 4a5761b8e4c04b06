import fc from 'fast-check';
import kafkajs from 'kafkajs';
import type { GroupMember } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { assignSlots, clusterViewOfAssignment, decodeClaim, decodeClusterView, type SlotClaim, slotAssigner } from '../../src/cluster/assigner.js';

const { AssignerProtocol } = kafkajs;
const N = 64;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function claim(memberId: string, owned: readonly number[] = [], instance = `host-${memberId}`): SlotClaim {
  return { memberId, instance, owned };
}

/** Claims as the members would send them after `assignment`. */
function claimsAfter(assignment: Map<string, number[]>, members: SlotClaim[]): SlotClaim[] {
  return members.map((m) => ({ ...m, owned: assignment.get(m.memberId) ?? [] }));
}

function expectBalanced(assignment: Map<string, number[]>, members: readonly SlotClaim[], slots: number): void {
  expect([...assignment.keys()].sort()).toEqual([...new Set(members.map((m) => m.memberId))].sort());
  const all = [...assignment.values()].flat().sort((a, b) => a - b);
  expect(all).toEqual(range(0, slots));
  const low = Math.floor(slots / assignment.size);
  let ceil = 0;
  for (const s of assignment.values()) {
    expect(s).toEqual([...s].sort((a, b) => a - b));
    expect([low, Math.ceil(slots / assignment.size)]).toContain(s.length);
    if (s.length > low) ceil++;
  }
  expect(ceil).toBe(slots % assignment.size);
}

/** Slots that stay with a member claiming them. */
function kept(assignment: Map<string, number[]>, members: readonly SlotClaim[]): number {
  return members.reduce((n, m) => n + (assignment.get(m.memberId) ?? []).filter((s) => m.owned.includes(s)).length, 0);
}

function moved(before: Map<string, number[]>, after: Map<string, number[]>): number {
  const owner = new Map<number, string>();
  for (const [id, slots] of before) for (const s of slots) owner.set(s, id);
  let n = 0;
  for (const [id, slots] of after) for (const s of slots) if (owner.get(s) !== id) n++;
  return n;
}

describe('assignSlots', () => {
  it('balances 64 slots over 1 to 5 members, every slot exactly once', () => {
    for (let m = 1; m <= 5; m++) {
      const members = range(0, m).map((i) => claim(`m${i}`));
      expectBalanced(assignSlots(members, N), members, N);
    }
  });

  it('answers the same whatever order the members come in', () => {
    const members = [claim('b', [1, 2, 3, 40]), claim('a', [3, 4, 5]), claim('c', range(10, 50)), claim('d'), claim('e', [], 'host-a')];
    const first = [...assignSlots(members, N)];
    for (const order of [
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [1, 4, 0, 3, 2],
    ]) {
      expect([
        ...assignSlots(
          order.map((i) => members[i]!),
          N,
        ),
      ]).toEqual(first);
    }
  });

  it('orders members by instance, then member id', () => {
    const out = assignSlots([claim('z', [], 'host-1'), claim('a', [], 'host-2'), claim('b', [], 'host-1')], 6);
    expect([...out.keys()]).toEqual(['b', 'z', 'a']);
  });

  it('a fourth member takes 16 slots and nothing else moves', () => {
    const three = ['m0', 'm1', 'm2'].map((id) => claim(id));
    const before = assignSlots(three, N);
    const four = [...claimsAfter(before, three), claim('m3')];
    const after = assignSlots(four, N);
    expectBalanced(after, four, N);
    expect(after.get('m3')).toHaveLength(16);
    expect(moved(before, after)).toBe(16);
    for (const id of ['m0', 'm1', 'm2']) expect(before.get(id)).toEqual(expect.arrayContaining(after.get(id)!));
  });

  it('a leaver’s slots are the only ones that move', () => {
    const four = ['m0', 'm1', 'm2', 'm3'].map((id) => claim(id));
    const before = assignSlots(four, N);
    const three = claimsAfter(before, four).filter((m) => m.memberId !== 'm1');
    const after = assignSlots(three, N);
    expectBalanced(after, three, N);
    expect(moved(before, after)).toBe(16);
    for (const id of ['m0', 'm2', 'm3']) expect(after.get(id)).toEqual(expect.arrayContaining(before.get(id)!));
    const gained = ['m0', 'm2', 'm3'].flatMap((id) => after.get(id)!.filter((s) => !before.get(id)!.includes(s)));
    expect(gained.sort((a, b) => a - b)).toEqual(before.get('m1'));
  });

  it('keeps every claim that fits the quotas, even unevenly spread ones', () => {
    // 40 + 20 + 4 claimed: quotas 22/21/21, so 22 + 20 + 4 stay and only 18 move.
    const members = [claim('a', range(0, 40)), claim('b', range(40, 60)), claim('c', range(60, 64))];
    const out = assignSlots(members, N);
    expectBalanced(out, members, N);
    expect(kept(out, members)).toBe(46);
    expect(out.get('a')).toHaveLength(22);
  });

  it('gives a slot claimed twice to one claimant, the same one in any order', () => {
    const members = [claim('a', range(0, 32)), claim('b', range(0, 32))];
    const out = assignSlots(members, N);
    expectBalanced(out, members, N);
    expect(kept(out, members)).toBe(32);
    expect([...assignSlots([...members].reverse(), N)]).toEqual([...out]);
  });

  it('resolves a conflict so that the most claims stay', () => {
    // a claims everything; b only slot 0. Best: b keeps 0, a keeps two of 1..3.
    const members = [claim('a', [0, 1, 2, 3]), claim('b', [0])];
    const out = assignSlots(members, 4);
    expect(out.get('b')).toContain(0);
    expect(kept(out, members)).toBe(3);
  });

  it('ignores claims outside the slots, repeated claims and non-integers', () => {
    const members = [claim('a', [-1, 64, 1000, 1.5, Number.NaN, 3, 3, 3, 7]), claim('b', [7, 7, 8])];
    const out = assignSlots(members, N);
    expectBalanced(out, members, N);
    expect(out.get('a')).toEqual(expect.arrayContaining([3]));
    expect(kept(out, members)).toBe(3);
  });

  it('has nothing to give without members, and gives empty lists when members outnumber slots', () => {
    expect(assignSlots([], N).size).toBe(0);
    const members = range(0, 5).map((i) => claim(`m${i}`, [i]));
    const out = assignSlots(members, 3);
    expectBalanced(out, members, 3);
    expect(kept(out, members)).toBe(3);
  });

  const claimsArb = (maxSlots: number, maxMembers: number) =>
    fc.integer({ min: 1, max: maxSlots }).chain((slots) =>
      fc.tuple(
        fc.constant(slots),
        fc.uniqueArray(
          fc.record({
            memberId: fc.string({ minLength: 1, maxLength: 4 }),
            instance: fc.constantFrom('h1', 'h2', 'h3'),
            owned: fc.array(fc.integer({ min: -2, max: slots + 2 }), { maxLength: slots + 4 }),
          }),
          { minLength: 1, maxLength: maxMembers, selector: (m) => m.memberId },
        ),
      ),
    );

  it('property: balanced, a partition of the slots, and order-independent', () => {
    fc.assert(
      fc.property(
        claimsArb(80, 7).chain(([slots, members]) => fc.tuple(fc.constant(slots), fc.constant(members), fc.shuffledSubarray(members, { minLength: members.length }))),
        ([slots, members, shuffled]) => {
          const out = assignSlots(members, slots);
          expectBalanced(out, members, slots);
          expect([...assignSlots(shuffled, slots)]).toEqual([...out]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: without conflicts, every member keeps all it can under the quotas', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(), { minLength: 80, maxLength: 80 }),
        fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
        (slots, m, owners, claimed) => {
          const members = range(0, m).map((i) =>
            claim(
              `m${i}`,
              range(0, slots).filter((s) => claimed[s] && owners[s]! % m === i),
            ),
          );
          const out = assignSlots(members, slots);
          expectBalanced(out, members, slots);
          const base = Math.floor(slots / m);
          const counts = members.map((x) => x.owned.length).sort((a, b) => b - a);
          const best = counts.reduce((n, c, i) => n + Math.min(c, i < slots % m ? base + 1 : base), 0);
          expect(kept(out, members)).toBe(best);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: with conflicts, as many claims stay as the best balanced assignment keeps', () => {
    fc.assert(
      fc.property(claimsArb(7, 3), ([slots, members]) => {
        const out = assignSlots(members, slots);
        expect(kept(out, members)).toBe(bestKept(members, slots));
      }),
      { numRuns: 200 },
    );
  });
});

/** Every balanced assignment of a few slots, the most claims any of them keeps. */
function bestKept(members: readonly SlotClaim[], slots: number): number {
  const m = members.length;
  const low = Math.floor(slots / m);
  let best = 0;
  const owner = new Array<number>(slots).fill(0);
  const visit = (s: number): void => {
    if (s === slots) {
      const counts = new Array<number>(m).fill(0);
      for (const o of owner) counts[o]!++;
      if (counts.some((c) => c < low || c > low + 1)) return;
      best = Math.max(best, owner.filter((o, slot) => members[o]!.owned.includes(slot)).length);
      return;
    }
    for (let o = 0; o < m; o++) {
      owner[s] = o;
      visit(s + 1);
    }
  };
  visit(0);
  return best;
}

function member(memberId: string, userData: unknown): GroupMember {
  const data = typeof userData === 'string' ? Buffer.from(userData) : Buffer.from(JSON.stringify(userData));
  return { memberId, memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['slots'], userData: data }) };
}

describe('slotAssigner', () => {
  const assigner = () => slotAssigner({ instance: 'leader', owned: () => [], generation: () => 0, slots: 8 })({} as never);

  it('announces its instance, the slots it runs and its generation', () => {
    const a = slotAssigner({ instance: 'host-1', owned: () => [4, 5], generation: () => 7, slots: 8 })({} as never);
    expect(a.name).toBe('fabric-slots');
    expect(a.version).toBe(1);
    const { name, metadata } = a.protocol({ topics: ['slots'] });
    expect(name).toBe('fabric-slots');
    expect(decodeClaim({ memberId: 'x', memberMetadata: metadata })).toEqual({ memberId: 'x', instance: 'host-1', owned: [4, 5], generation: 7 });
  });

  it('gives every member the same partitions of every topic and everyone the whole view', async () => {
    const out = await assigner().assign({
      members: [member('m-b', { instance: 'b', owned: [0, 1, 2, 3], generation: 4 }), member('m-a', { instance: 'a', owned: [4, 5], generation: 4 })],
      topics: ['slots', 'checkpoints'],
    });
    const decoded = out.map((o) => ({ memberId: o.memberId, ...AssignerProtocol.MemberAssignment.decode(o.memberAssignment)! }));
    for (const d of decoded) expect(d.assignment['slots']).toEqual(d.assignment['checkpoints']);
    const view = clusterViewOfAssignment(out[0]!.memberAssignment);
    expect(view).toEqual({
      generation: 5,
      members: [
        { memberId: 'm-a', instance: 'a', slots: [4, 5, 6, 7] },
        { memberId: 'm-b', instance: 'b', slots: [0, 1, 2, 3] },
      ],
    });
    for (const o of out) expect(clusterViewOfAssignment(o.memberAssignment)).toEqual(view);
    expect(decoded.find((d) => d.memberId === 'm-b')!.assignment['slots']).toEqual([0, 1, 2, 3]);
  });

  it('treats garbage metadata as a member owning nothing, named by its member id', async () => {
    const out = await assigner().assign({
      members: [
        member('m-1', 'not json'),
        member('m-2', { instance: 42, owned: 'all', generation: -3 }),
        { memberId: 'm-3', memberMetadata: Buffer.from([1, 2, 3]) },
        member('m-4', { instance: 'ok', owned: [0, 1], generation: 2 }),
      ],
      topics: ['slots'],
    });
    const view = clusterViewOfAssignment(out[0]!.memberAssignment)!;
    expect(view.generation).toBe(3);
    expect(view.members.map((m) => m.instance)).toEqual(['m-1', 'm-2', 'm-3', 'ok']);
    expect(view.members.find((m) => m.instance === 'ok')!.slots).toEqual([0, 1]);
    expect(view.members.flatMap((m) => m.slots).sort()).toEqual(range(0, 8));
  });

  it('ignores claims from an older generation: that member missed the last assignment', async () => {
    const out = await assigner().assign({
      members: [member('old', { instance: 'a', owned: [0, 1, 2, 3], generation: 3 }), member('new', { instance: 'b', owned: [0, 1, 2, 3], generation: 9 })],
      topics: ['slots'],
    });
    const view = clusterViewOfAssignment(out[0]!.memberAssignment)!;
    expect(view.generation).toBe(10);
    expect(view.members.find((m) => m.memberId === 'new')!.slots).toEqual([0, 1, 2, 3]);
  });
});

describe('decodeClusterView', () => {
  it('reads a view and refuses anything else', () => {
    const view = { generation: 2, members: [{ memberId: 'm', instance: 'i', slots: [1] }] };
    expect(decodeClusterView(Buffer.from(JSON.stringify(view)))).toEqual(view);
    for (const bad of ['', 'nope', 'null', '[]', '{"generation":-1,"members":[]}', '{"generation":1,"members":[{"memberId":1}]}', '{"generation":1.5,"members":[]}']) {
      expect(decodeClusterView(Buffer.from(bad))).toBeUndefined();
    }
    expect(decodeClusterView(undefined)).toBeUndefined();
    expect(clusterViewOfAssignment(Buffer.from([0xff]))).toBeUndefined();
    expect(clusterViewOfAssignment(AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: { t: [0] }, userData: Buffer.alloc(0) }))).toBeUndefined();
  });
});
