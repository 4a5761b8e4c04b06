import { describe, expect, it } from 'vitest';
import { compileRules, type CompiledRule } from '../../src/correlation/compiled-rule.js';
import { parseCorrelationRules } from '../../src/correlation/rule-loader.js';
import { WindowState, type Member } from '../../src/correlation/window-state.js';
import { SEC, T0 } from './helpers.js';

const BRUTE_FORCE = `title: Brute force
name: bf
correlation:
  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 1m
  condition: { gte: 3 }
`;

function setUp(over: { maxKeys?: number; maxEventsPerKey?: number } = {}) {
  const counts = { evicted: 0, dropped: 0 };
  const windows = new WindowState({
    maxKeys: over.maxKeys ?? 100,
    maxEventsPerKey: over.maxEventsPerKey ?? 100,
    ordered: false,
    evicted: () => counts.evicted++,
    droppedMembers: (n) => (counts.dropped += n),
  });
  const { rules, problems } = parseCorrelationRules(BRUTE_FORCE, 'bf.yml');
  expect(problems).toEqual([]);
  const rule = compileRules(rules, () => windows.table()).rules[0]!;
  return { windows, rule, counts };
}

const member = (t: number, id: string): Member => ({ t, id, c: 'auth-log', v: 0, s: -1 });
const keys = (rule: CompiledRule) => [...rule.groups.values()].map((g) => g.key);

describe('window state', () => {
  it("evicts a rule's least recently used group past max_keys, a lookup counting as use", () => {
    const { windows, rule, counts } = setUp({ maxKeys: 2 });
    windows.open(rule, '10.0.0.1', undefined);
    windows.open(rule, '10.0.0.2', undefined);
    windows.open(rule, '10.0.0.1', undefined);
    windows.open(rule, '10.0.0.3', undefined);
    expect(keys(rule)).toEqual(['10.0.0.1', '10.0.0.3']);
    expect(counts.evicted).toBe(1);
    expect(windows.size).toBe(2);
  });

  it('keeps members in time order, refuses the same detection twice and drops the oldest past max_events_per_key', () => {
    const { windows, rule, counts } = setUp({ maxEventsPerKey: 3 });
    const g = windows.open(rule, '10.0.0.1', undefined);
    expect(windows.insert(g, member(T0 + 2 * SEC, 'b'))).toBe(true);
    expect(windows.insert(g, member(T0, 'a'))).toBe(true);
    expect(windows.insert(g, member(T0 + 2 * SEC, 'b'))).toBe(false);
    expect(windows.insert(g, member(T0 + SEC, 'c'))).toBe(true);
    expect(windows.insert(g, member(T0 + 3 * SEC, 'd'))).toBe(true);
    expect(g.members.map((m) => m.id)).toEqual(['c', 'b', 'd']);
    expect(counts.dropped).toBe(1);
  });

  it('a delta carries the groups changed and the checkpointed groups forgotten since the last one; retry() puts them back', () => {
    const { windows, rule } = setUp();
    const a = windows.open(rule, '10.0.0.1', undefined);
    const b = windows.open(rule, '10.0.0.2', undefined);
    windows.insert(a, member(T0, 'a1'));
    windows.touch(a);
    windows.insert(b, member(T0, 'b1'));
    windows.touch(b);
    const first = windows.changes(false);
    expect(first.groups.map((g) => g[1])).toEqual([['10.0.0.1'], ['10.0.0.2']]);
    expect(first.deleted).toEqual([]);
    // Nothing changed since: an empty delta.
    expect(windows.changes(false).groups).toEqual([]);

    rule.groups.delete(a);
    windows.touch(b);
    const second = windows.changes(false);
    expect(second.deleted).toEqual([['bf', '10.0.0.1']]);
    expect(second.groups.map((g) => g[1])).toEqual([['10.0.0.2']]);
    second.retry();
    const again = windows.changes(false);
    expect(again.deleted).toEqual([['bf', '10.0.0.1']]);
    expect(again.groups.map((g) => g[1])).toEqual([['10.0.0.2']]);
    // A full record holds every group and needs no deletions.
    const full = windows.changes(true);
    expect(full.groups.map((g) => g[1])).toEqual([['10.0.0.2']]);
    expect(full.deleted).toEqual([]);
  });

  it('a delta lists each changed group once, in order, however many changed groups were forgotten before it', () => {
    const { windows, rule } = setUp({ maxKeys: 10_000 });
    const groups = Array.from({ length: 3000 }, (_, i) => windows.open(rule, `10.0.${i >> 8}.${i & 255}`, undefined));
    for (const g of groups) windows.touch(g);
    // Forget two of every three (enough to compact the list of changed groups), then change a survivor again.
    for (let i = 0; i < groups.length; i++) if (i % 3 !== 0) rule.groups.delete(groups[i]!);
    windows.touch(groups[0]!);
    // Survivors forgotten after the compaction leave the delta, and only they (3 moved to another place in it).
    rule.groups.delete(groups[3]!);
    rule.groups.delete(groups[2997]!);
    const survivors = groups.filter((_, i) => i % 3 === 0 && i !== 3 && i !== 2997).map((g) => [g.key]);
    expect(windows.changes(false).groups.map((g) => g[1])).toEqual(survivors);
    windows.touch(groups[6]!);
    expect(windows.changes(false).groups.map((g) => g[1])).toEqual([[groups[6]!.key]]);
  });

  it('a group never written to a checkpoint is not listed as forgotten', () => {
    const { windows, rule } = setUp();
    const a = windows.open(rule, '10.0.0.1', undefined);
    windows.touch(a);
    rule.groups.delete(a);
    expect(windows.changes(false)).toMatchObject({ groups: [], deleted: [] });
  });

  it('restores members in time order, cuts a fired window to the timespan, and lets a group listed twice keep its later entry', () => {
    const { windows, rule } = setUp();
    const first = windows.restore(rule, [
      'bf',
      ['10.0.0.1'],
      T0,
      T0 + 5 * 60 * SEC,
      'corr-x',
      [
        [T0 + 90 * SEC, 'late', 'c', 0],
        [T0 + 70 * SEC, 'early', 'c', 0],
      ],
    ]);
    expect(first).toEqual({ repaired: true, replaced: false });
    const g = rule.groups.get('10.0.0.1')!;
    expect(g.fired?.until).toBe(T0 + 60 * SEC);
    expect(g.members.map((m) => m.id)).toEqual(['early', 'late']);
    expect(windows.changes(false).groups).toEqual([]);

    const second = windows.restore(rule, ['bf', ['10.0.0.1'], null, null, null, [[T0, 'only', 'c', 0]]]);
    expect(second).toEqual({ repaired: false, replaced: true });
    expect(rule.groups.get('10.0.0.1')!.members.map((m) => m.id)).toEqual(['only']);
    // What gets written back is the entry that won.
    expect(windows.changes(false).groups.map((x) => x[5])).toEqual([[[T0, 'only', 'c', 0]]]);
  });

  it('queues a group for when its oldest window closes, and forgets one with nothing left to decide', () => {
    const { windows, rule } = setUp();
    const g = windows.open(rule, '10.0.0.1', undefined);
    windows.insert(g, member(T0, 'a'));
    windows.reschedule(g);
    expect(windows.nextDue(T0 + 60 * SEC)).toBeUndefined();
    expect(windows.nextDue(T0 + 60 * SEC + 1)).toBe(g);
    g.members = [];
    windows.reschedule(g);
    expect(g.gone).toBe(true);
    expect(windows.size).toBe(0);
  });
});
