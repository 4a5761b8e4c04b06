// Slot assignment for cluster mode: which member of the consumer group runs which slots. Kafka's
// group coordinator decides who is a member; the group leader runs `slotAssigner().assign` and
// everyone receives the same cluster view (all members, their slots, a generation) in the
// assignment's userData.
import kafkajs from 'kafkajs';
import type { Assigner, GroupMember, GroupMemberAssignment, PartitionAssigner } from 'kafkajs';

const { AssignerProtocol } = kafkajs;

export const SLOT_ASSIGNER_NAME = 'fabric-slots';
export const SLOT_ASSIGNER_VERSION = 1;

/** What a member tells the leader when it joins: who it is and which slots it runs now. */
export interface SlotClaim {
  memberId: string;
  instance: string;
  owned: readonly number[];
}

export interface ClusterMember {
  memberId: string;
  instance: string;
  slots: number[];
}

/** What every member learns from one assignment: the same list and generation everywhere. */
export interface ClusterView {
  generation: number;
  members: ClusterMember[];
}

/** Members in the one order every decision uses: by instance, then member id (code-unit order, not the locale's). */
function byInstance(a: SlotClaim, b: SlotClaim): number {
  if (a.instance !== b.instance) return a.instance < b.instance ? -1 : 1;
  if (a.memberId !== b.memberId) return a.memberId < b.memberId ? -1 : 1;
  return 0;
}

function validClaims(owned: readonly number[], slots: number): number[] {
  const out = new Set<number>();
  for (const s of owned) if (Number.isInteger(s) && s >= 0 && s < slots) out.add(s);
  return [...out].sort((a, b) => a - b);
}

/**
 * Balanced, sticky, deterministic: every member gets floor(N/m) or ceil(N/m) slots; as many slots as
 * possible stay with a member that claims them (so the fewest move); the answer depends only on the
 * set of claims, never on their order. A slot two members claim stays with one of them; claims
 * outside [0, N) and repeated claims count for nothing.
 */
export function assignSlots(members: ReadonlyArray<SlotClaim>, slots: number): Map<string, number[]> {
  if (!Number.isSafeInteger(slots) || slots < 0) throw new RangeError(`slots must be a non-negative integer, got ${slots}`);
  const sorted: SlotClaim[] = [];
  const seen = new Set<string>();
  for (const m of [...members].sort(byInstance)) {
    if (seen.has(m.memberId)) continue;
    seen.add(m.memberId);
    sorted.push(m);
  }
  const out = new Map<string, number[]>();
  if (sorted.length === 0) return out;
  const base = Math.floor(slots / sorted.length);
  let bigger = slots % sorted.length;

  const { kept, usesBonus } = keepMost(
    sorted.map((m) => validClaims(m.owned, slots)),
    base,
    bigger,
    slots,
  );
  const quota = usesBonus.map((b) => (b ? base + 1 : base));
  bigger -= usesBonus.filter(Boolean).length;
  // The remaining ceil(N/m) places go to the first members in order: any choice moves the same number.
  for (let i = 0; i < quota.length && bigger > 0; i++) {
    if (!usesBonus[i]) {
      quota[i]! += 1;
      bigger--;
    }
  }
  const taken = new Set(kept.flat());
  const free: number[] = [];
  for (let s = 0; s < slots; s++) if (!taken.has(s)) free.push(s);
  let next = 0;
  sorted.forEach((m, i) => {
    const mine = [...kept[i]!];
    while (mine.length < quota[i]!) mine.push(free[next++]!);
    out.set(
      m.memberId,
      mine.sort((a, b) => a - b),
    );
  });
  return out;
}

/**
 * The largest set of (member, claimed slot) pairs that fits the quotas, as a maximum flow:
 * source → member (capacity floor(N/m)), source → bonus (capacity N mod m) → member (1 each),
 * member → each slot it claims (1), slot → sink (1). Which members get the ceil(N/m) places is then
 * whatever keeps the most. Graph order follows the sorted members and ascending slots, so the
 * answer is deterministic.
 */
function keepMost(claims: number[][], base: number, bonus: number, slots: number): { kept: number[][]; usesBonus: boolean[] } {
  const m = claims.length;
  const SOURCE = 0;
  const BONUS = 1;
  const member = (i: number) => 2 + i;
  const slot = (s: number) => 2 + m + s;
  const SINK = 2 + m + slots;
  const to: number[] = [];
  const cap: number[] = [];
  const adjacent: number[][] = Array.from({ length: SINK + 1 }, () => []);
  const edge = (a: number, b: number, c: number): number => {
    adjacent[a]!.push(to.length);
    to.push(b);
    cap.push(c);
    adjacent[b]!.push(to.length);
    to.push(a);
    cap.push(0);
    return to.length - 2;
  };
  edge(SOURCE, BONUS, bonus);
  const bonusEdge: number[] = [];
  const claimEdges: Array<Array<[number, number]>> = [];
  claims.forEach((owned, i) => {
    edge(SOURCE, member(i), base);
    bonusEdge.push(edge(BONUS, member(i), 1));
    claimEdges.push(owned.map((s) => [s, edge(member(i), slot(s), 1)]));
  });
  const claimed = new Set(claims.flat());
  for (const s of [...claimed].sort((a, b) => a - b)) edge(slot(s), SINK, 1);

  // Edmonds–Karp: shortest augmenting paths by breadth-first search; the flow is at most N.
  for (;;) {
    const via = new Array<number>(SINK + 1).fill(-1);
    const queue = [SOURCE];
    via[SOURCE] = -2;
    for (let q = 0; q < queue.length && via[SINK] === -1; q++) {
      const v = queue[q]!;
      for (const e of adjacent[v]!) {
        const w = to[e]!;
        if (cap[e]! > 0 && via[w] === -1) {
          via[w] = e;
          queue.push(w);
        }
      }
    }
    if (via[SINK] === -1) break;
    for (let v = SINK; v !== SOURCE; v = to[via[v]! ^ 1]!) {
      cap[via[v]!]! -= 1;
      cap[via[v]! ^ 1]! += 1;
    }
  }
  return {
    kept: claimEdges.map((edges) => edges.filter(([, e]) => cap[e] === 0).map(([s]) => s)),
    usesBonus: bonusEdge.map((e) => cap[e] === 0),
  };
}

interface MemberClaim extends SlotClaim {
  generation: number;
}

function isGeneration(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n < Number.MAX_SAFE_INTEGER;
}

function isSlotList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((s) => Number.isSafeInteger(s));
}

/** A member's JoinGroup metadata; anything unreadable claims nothing under its member id. */
export function decodeClaim(member: GroupMember): MemberClaim {
  const fallback: MemberClaim = { memberId: member.memberId, instance: member.memberId, owned: [], generation: 0 };
  let parsed: unknown;
  try {
    const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
    if (!metadata?.userData) return fallback;
    parsed = JSON.parse(metadata.userData.toString('utf8'));
  } catch {
    return fallback;
  }
  if (typeof parsed !== 'object' || parsed === null) return fallback;
  const { instance, owned, generation } = parsed as Record<string, unknown>;
  return {
    memberId: member.memberId,
    instance: typeof instance === 'string' && instance.length > 0 ? instance : member.memberId,
    owned: Array.isArray(owned) ? owned.filter((s): s is number => typeof s === 'number') : [],
    generation: isGeneration(generation) ? generation : 0,
  };
}

/** The cluster view from an assignment's userData, or undefined when it is not one. */
export function decodeClusterView(userData: Buffer | null | undefined): ClusterView | undefined {
  if (!userData || userData.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(userData.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { generation, members } = parsed as Record<string, unknown>;
  if (!isGeneration(generation) || !Array.isArray(members)) return undefined;
  const out: ClusterMember[] = [];
  for (const m of members as unknown[]) {
    if (typeof m !== 'object' || m === null) return undefined;
    const { memberId, instance, slots } = m as Record<string, unknown>;
    if (typeof memberId !== 'string' || typeof instance !== 'string' || !isSlotList(slots)) return undefined;
    out.push({ memberId, instance, slots: [...slots] });
  }
  return { generation, members: out };
}

/** The cluster view inside a whole MemberAssignment (as SyncGroup returns it), or undefined. */
export function clusterViewOfAssignment(memberAssignment: Buffer | null | undefined): ClusterView | undefined {
  if (!memberAssignment || memberAssignment.length === 0) return undefined;
  try {
    return decodeClusterView(AssignerProtocol.MemberAssignment.decode(memberAssignment)?.userData);
  } catch {
    return undefined;
  }
}

export interface SlotAssignerOptions {
  instance: string;
  /** The slots this member runs now: claimed at every join, so they stay here. */
  owned: () => readonly number[];
  /** The generation of the last view this member received. */
  generation: () => number;
  slots: number;
}

/**
 * The `fabric-slots` protocol. Every member gets the same partitions of every subscribed topic (slot n
 * is partition n of each internal topic). Claims from a generation older than the newest claimed are
 * ignored: such a member missed the last assignment, and its slots may be someone else's by now.
 */
export function slotAssigner(opts: SlotAssignerOptions): PartitionAssigner {
  return (): Assigner => ({
    name: SLOT_ASSIGNER_NAME,
    version: SLOT_ASSIGNER_VERSION,
    protocol({ topics }) {
      const userData = Buffer.from(JSON.stringify({ instance: opts.instance, owned: [...opts.owned()], generation: opts.generation() }));
      return { name: SLOT_ASSIGNER_NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: SLOT_ASSIGNER_VERSION, topics, userData }) };
    },
    async assign({ members, topics }): Promise<GroupMemberAssignment[]> {
      const claims = members.map(decodeClaim);
      const newest = Math.max(0, ...claims.map((c) => c.generation));
      const slotsOf = assignSlots(
        claims.map((c) => (c.generation === newest ? c : { ...c, owned: [] })),
        opts.slots,
      );
      const view: ClusterView = {
        generation: newest + 1,
        members: [...claims].sort(byInstance).map((c) => ({ memberId: c.memberId, instance: c.instance, slots: slotsOf.get(c.memberId) ?? [] })),
      };
      const userData = Buffer.from(JSON.stringify(view));
      return view.members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: SLOT_ASSIGNER_VERSION,
          assignment: Object.fromEntries(topics.map((t) => [t, m.slots])),
          userData,
        }),
      }));
    },
  });
}
