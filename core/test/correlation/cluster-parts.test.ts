// The parts of cluster correlation and shared enrichment that need no broker: which partition a
// detection goes to, the watermark records, the changelog round trip a failover relies on, the
// budget shares, and how shared false positives and answers are merged. The broker tests are in
// core/test/cluster/correlation.test.ts and enrichment.test.ts.
import { describe, expect, it } from 'vitest';
import { BUILTIN_CORRELATION_RULES_DIR, loadCorrelationRules } from '../../src/correlation/index.js';
import { changelogRecords, createCorrelationForwarder, parseRecord, partitionOfKey, snapshotOf } from '../../src/correlation/cluster/index.js';
import { CorrelationEngine, engineLimits } from '../../src/correlation/engine.js';
import { CorrelationKeys } from '../../src/correlation/keys.js';
import { groupKey } from '../../src/correlation/window-state.js';
import { SLOT_COUNT } from '../../src/cluster/config.js';
import { shareOf } from '../../src/cluster/shared-state.js';
import { sharedBudget, shareEnrichmentState, type SharedEnrichmentState } from '../../src/enrichment/shared.js';
import { VerdictCache } from '../../src/enrichment/cache.js';
import { FalsePositiveStore } from '../../src/enrichment/false-positives.js';
import type { OutboundRecord } from '../../src/sinks/sink.js';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import type { BatchTicket } from '../../src/pipeline/stage.js';

import { config, failed, MIN, NOW, SEC, tempDir } from './helpers.js';

const rules = await loadCorrelationRules(BUILTIN_CORRELATION_RULES_DIR);
const BRUTE_FORCE = rules.find((r) => r.name === 'rf_brute_force')!.key;

function engine(now = () => NOW): CorrelationEngine {
  return new CorrelationEngine(rules, { ...engineLimits(config()), now });
}

/** What the view keeps of a partition's changelog: the latest value per key, tombstones deleting. */
function compacted(records: OutboundRecord[], into = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const r of records) {
    if (r.value === null) into.delete(r.key);
    else into.set(r.key, Buffer.from(r.value));
  }
  return into;
}

const ticket = (collector: string): BatchTicket => ({ seq: 1, collector, dropped: { duplicate: 0 }, outbound: [] });

describe('re-keying detections (CorrelationKeys, forwarder)', () => {
  it('a failed login counts in the brute-force and spraying groups of its address; one without the address in none', () => {
    const keys = new CorrelationKeys(rules);
    const of = keys.of(failed(NOW - MIN, '203.0.113.5'));
    expect(of).toContainEqual({ rule: BRUTE_FORCE, key: '203.0.113.5' });
    expect(of.every((k) => k.key === '203.0.113.5')).toBe(true);
    const noAddress = failed(NOW - MIN, '203.0.113.5');
    delete (noAddress as { source?: unknown }).source;
    expect(keys.of(noAddress)).toEqual([]);
  });

  it('keys a hostile group-by value (a long one, one spelling JSON, a list) as the engine groups it, so it reaches the instance that holds its group', () => {
    const keys = new CorrelationKeys(rules);
    for (const ip of [`203.0.113.5${'x'.repeat(10_000)}`, '[["203.0.113.5"]]', ['203.0.113.5']]) {
      const e = failed(NOW - MIN, '', { extra: { source: { ip } } });
      const eng = engine();
      eng.process([e]);
      const grouped = [...new Set(eng.delta(true).delta.groups.map((g) => `${g[0]} ${groupKey(g[1])}`))].sort();
      expect(grouped.length).toBeGreaterThan(0);
      expect(
        keys
          .of(e)
          .map((k) => `${k.rule} ${k.key}`)
          .sort(),
      ).toEqual(grouped);
      expect(keys.of(e).every((k) => k.key.length <= 256)).toBe(true);
    }
  });

  it('sends each detection to its groups’ partitions, and each collector’s event time to every partition at most once a second', async () => {
    let now = NOW;
    const stage = createCorrelationForwarder(rules, { topic: 'corr', now: () => now });
    const t = ticket('ssh-a');
    const batch = [failed(NOW - 2 * SEC, '203.0.113.5'), failed(NOW - SEC, '198.51.100.7')];
    expect(await stage.process(batch, t)).toBe(batch);
    const data = t.outbound!.filter((r) => !r.key.startsWith('!wm/'));
    const marks = t.outbound!.filter((r) => r.key.startsWith('!wm/'));
    expect(data.map((r) => r.partition)).toContain(partitionOfKey('203.0.113.5'));
    expect(data.map((r) => r.partition)).toContain(partitionOfKey('198.51.100.7'));
    // After its data, and to every partition: windows close on the slowest collector of the cluster.
    expect(t.outbound!.indexOf(marks[0]!)).toBeGreaterThan(t.outbound!.indexOf(data.at(-1)!));
    expect(new Set(marks.map((r) => r.partition)).size).toBe(SLOT_COUNT);
    expect(JSON.parse(marks[0]!.value!)).toEqual({ w: { c: 'ssh-a', t: NOW - SEC } });
    const again = ticket('ssh-a');
    now += 500;
    await stage.process([failed(NOW, '203.0.113.5')], again);
    expect(again.outbound!.filter((r) => r.key.startsWith('!wm/'))).toEqual([]);
    const later = ticket('ssh-a');
    now += 600;
    await stage.process([], later);
    expect(later.outbound!.filter((r) => r.key.startsWith('!wm/')).length).toBe(SLOT_COUNT);
  });
});

describe('the changelog (what a new owner restores)', () => {
  it('an engine restored from the changelog of four failures fires at the fifth, like the engine that saw them', () => {
    const ip = '203.0.113.9';
    const before = engine();
    const four = [1, 2, 3, 4].map((k) => failed(NOW - (10 - k) * SEC, ip, { collector: k % 2 ? 'ssh-a' : 'ssh-b' }));
    expect(before.process(four)).toEqual([]);
    const log = compacted(changelogRecords('cl', 5, before.delta().delta));
    const { snapshot, ignored } = snapshotOf(log, NOW);
    expect(ignored).toBe(0);
    const after = engine();
    expect(after.restore(snapshot).groups).toBeGreaterThan(0);
    const fifth = failed(NOW - SEC, ip, { collector: 'ssh-c' });
    const fired = after.process([fifth]);
    const reference = before.process([{ ...fifth }]);
    expect(fired.map((a) => a.event.id)).toEqual(reference.map((a) => a.event.id));
    expect(fired.some((a) => (a.fabric as { rule?: { name?: string } }).rule?.name === 'rf_brute_force')).toBe(true);
    // The fired id is in the changelog: a second failover does not fire the window again.
    const log2 = compacted(changelogRecords('cl', 5, after.delta().delta), log);
    const third = engine();
    third.restore(snapshotOf(log2, NOW).snapshot);
    expect(third.process([failed(NOW - SEC / 2, ip, { collector: 'ssh-c' })]).filter((a) => (a.fabric as { rule?: { name?: string } }).rule?.name === 'rf_brute_force')).toEqual(
      [],
    );
  });

  it('hostile changelog records are counted and skipped, never thrown', () => {
    const log = new Map<string, Buffer>([
      ['g\u0000x\u0000y', Buffer.from('{not json')],
      ['g\u0000x\u0000z', Buffer.from('[1,2]')],
      ['m', Buffer.from('"a string"')],
      ['f\u0000fp', Buffer.from('not a time')],
      ['zzz', Buffer.from('1')],
    ]);
    const { snapshot, ignored, seen } = snapshotOf(log, NOW);
    expect(ignored).toBe(3);
    expect(snapshot.groups).toEqual([]);
    expect(seen.size).toBe(0);
    expect(() => engine().restore(snapshot)).not.toThrow();
  });
});

describe('budget shares', () => {
  it('split a limit over the members, the first ones taking the remainder; not a member: nothing', () => {
    const members = ['node-a', 'node-b', 'node-c'];
    expect(members.map((m) => shareOf(members, m, 4))).toEqual([2, 1, 1]);
    expect(members.map((m) => shareOf(members, m, 500)).reduce((a, b) => a + b, 0)).toBe(500);
    expect(shareOf(members, 'node-d', 4)).toBe(0);
    expect(shareOf([], 'node-a', 4)).toBe(0);
  });

  it('a share never exceeds what the others left of the minute, and the others’ daily spending counts', () => {
    const records = new Map<string, Array<(k: string, v: string | null) => void>>();
    const shared: SharedEnrichmentState = {
      instance: 'node-a',
      publish: () => {},
      follow: (prefix, apply) => records.set(prefix, [...(records.get(prefix) ?? []), apply]),
      share: (total) => shareOf(['node-a', 'node-b'], 'node-a', total),
    };
    const budget = sharedBudget(shared, 'vt');
    const deliver = (key: string, value: unknown) => {
      for (const [prefix, fns] of records) if (key.startsWith(prefix)) for (const f of fns) f(key, JSON.stringify(value));
    };
    expect(budget.perMinute(4)).toBe(2);
    const now = Date.now();
    deliver('b/vt/node-b', { day: '2026-12-04', used: 120, recent: [now - 1000, now - 2000, now - 3000] });
    expect(budget.perMinute(4)).toBe(1);
    expect(budget.usedElsewhere('2026-12-04')).toBe(120);
    expect(budget.usedElsewhere('2026-12-05')).toBe(0);
    // Its own record read back is not "elsewhere"; a malformed one is ignored.
    deliver('b/vt/node-a', { day: '2026-12-04', used: 7, recent: [] });
    deliver('b/vt/node-c', { day: '2026-12-04', used: -5 });
    expect(budget.usedElsewhere('2026-12-04')).toBe(120);
  });
});

describe('shared verdicts and false positives', () => {
  it('an answer from another instance is merged unless older or expired; a false positive marked elsewhere holds here', async () => {
    let now = NOW;
    const clock = { now: () => now, setTimer: () => 0, clearTimer: () => {} };
    const cache = await VerdictCache.open(undefined, 100, clock as never);
    const dir = await tempDir();
    const fps = await FalsePositiveStore.open(dir);
    const followers: Array<[string, (k: string, v: string | null) => void]> = [];
    const published: Array<[string, string | null]> = [];
    const answered: string[] = [];
    shareEnrichmentState(
      { instance: 'node-a', publish: (k, v) => published.push([k, v]), follow: (p, f) => followers.push([p, f]), share: () => 1 },
      { cache, falsePositives: fps, answered: (k) => answered.push(k), warn: () => {} },
    );
    const deliver = (key: string, value: unknown) => {
      for (const [p, f] of followers) if (key.startsWith(p)) f(key, value === null ? null : JSON.stringify(value));
    };
    const verdict = { indicator: { type: 'ipv4', value: '45.1.1.1' }, status: 'malicious', score: 0.9 };
    deliver('v/ns|ipv4|45.1.1.1', { verdict, at: now - 10, exp: now + MIN });
    expect(cache.get('ns|ipv4|45.1.1.1')?.verdict).toEqual(verdict);
    expect(answered).toEqual(['ns|ipv4|45.1.1.1']);
    deliver('v/ns|ipv4|45.1.1.1', { verdict: { ...verdict, status: 'clean' }, at: now - 20, exp: now + MIN });
    expect(cache.get('ns|ipv4|45.1.1.1')?.verdict.status).toBe('malicious');
    deliver('v/ns|ipv4|45.2.2.2', { verdict, at: now - MIN, exp: now - 1 });
    deliver('v/ns|ipv4|45.3.3.3', 'garbage');
    expect(cache.get('ns|ipv4|45.2.2.2')).toBeUndefined();
    // Answers received here are published; merged ones are not sent back.
    cache.set('ns|ipv4|45.4.4.4', verdict as never, MIN);
    expect(published.map(([k]) => k)).toEqual(['v/ns|ipv4|45.4.4.4']);

    deliver('fp/ipv4:45.9.9.9', { indicator: { type: 'ipv4', value: '45.9.9.9' }, reason: 'scanner', markedAt: new Date(now).toISOString() });
    await new Promise((r) => setTimeout(r, 50));
    expect(fps.get({ type: 'ipv4', value: '45.9.9.9' })?.reason).toBe('scanner');
    // A record whose key does not name its indicator is refused.
    deliver('fp/ipv4:45.8.8.8', { indicator: { type: 'ipv4', value: '45.7.7.7' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(fps.get({ type: 'ipv4', value: '45.7.7.7' })).toBeUndefined();
    deliver('fp/ipv4:45.9.9.9', null);
    await new Promise((r) => setTimeout(r, 50));
    expect(fps.get({ type: 'ipv4', value: '45.9.9.9' })).toBeUndefined();
    await fps.mark({ type: 'ipv4', value: '45.6.6.6' }, 'ours');
    expect(published.map(([k]) => k)).toContain('fp/ipv4:45.6.6.6');
    now += 1;
  });
});

describe('hostile records of the correlation topic', () => {
  const rec = (v: unknown) => parseRecord({ value: Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)) });

  it('refuses what this version does not write, whatever its shape or size', () => {
    const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    const refused = [
      'not json',
      '"a string"',
      'null',
      '[1,2,3]',
      deep,
      { w: { c: 7, t: 'soon' } },
      { w: { c: 'ssh-a', t: 'Infinity' } },
      { d: 'x', r: [] },
      { d: { fabric: null, event: {} }, r: [] },
      { d: { fabric: {}, event: {} }, r: 'rf_brute_force' },
      { __proto__: { d: { fabric: {}, event: {} }, r: [] } },
      'x'.repeat(5 << 20),
    ];
    for (const v of refused) expect(rec(v).kind, JSON.stringify(v)?.slice(0, 60)).toBe('ignored');
    expect(parseRecord({ value: null }).kind).toBe('ignored');
    // Keys that name Object.prototype's members stay plain data.
    const r = rec(JSON.parse('{"d":{"fabric":{"constructor":1},"event":{"__proto__":{"polluted":true}}},"r":["__proto__","constructor",7]}'));
    expect(r.kind).toBe('detection');
    expect(r.kind === 'detection' && [...r.rules]).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('wrong-typed detections that parse go through the engine without throwing, and the window still fires', () => {
    const e = engine();
    const ip = '203.0.113.66';
    const hostile = [
      { ...failed(NOW - 5 * SEC, ip), '@timestamp': 12345 },
      { ...failed(NOW - 5 * SEC, ip), event: { id: { nested: true } } },
      (() => {
        const d = failed(NOW - 5 * SEC, ip);
        (d.fabric as Record<string, unknown>).correlation = { ids: 'not-an-array' };
        return d;
      })(),
      (() => {
        const d = failed(NOW - 5 * SEC, ip);
        (d.fabric as Record<string, unknown>).matches = [null, 7, { name: { toString: 1 } }];
        return d;
      })(),
    ].map((d) => rec({ d, r: [BRUTE_FORCE] }));
    const events = hostile.filter((p) => p.kind === 'detection').map((p) => (p as { event: FabricEvent }).event);
    const only = new Map(events.map((ev) => [ev, new Set([BRUTE_FORCE])]));
    const good = [1, 2, 3, 4, 5].map((k) => failed(NOW - (5 - k) * SEC, ip));
    let fired: FabricEvent[] = [];
    expect(() => {
      fired = e.process([...events, ...good], new Map([...only, ...good.map((g) => [g, new Set([BRUTE_FORCE])] as const)]));
    }).not.toThrow();
    expect(fired.some((a) => (a.fabric as { rule?: { name?: string } }).rule?.name === 'rf_brute_force')).toBe(true);
  });
});
