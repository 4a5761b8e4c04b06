import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SEC, T0, corr, failed, harness, ruleOf, savedState } from './helpers.js';

describe('bounded correlation state', () => {
  it('a flood of distinct addresses stays within max_keys per rule, evicting least recently used groups and counting them', async () => {
    const h = await harness({ max_keys: 500, disabled: ['rf_brute_force_then_success', 'rf_scanning_then_exploitation'] });
    // A real brute force that keeps being touched while the flood goes on.
    const attacker = '203.0.113.250';
    let t = T0;
    for (let batch = 0; batch < 40; batch++) {
      const flood = Array.from({ length: 500 }, (_, i) => failed((t += 10), `10.${batch}.${i >> 8}.${i & 255}`));
      await h.feed(flood);
      // Two rules (brute force, spraying) with 500 groups each.
      expect(await h.metric('fabric_correlation_keys')).toBeLessThanOrEqual(1000);
      if (batch % 10 === 9) await h.feed([failed((t += 10), attacker, { user: `u${batch}` })]);
    }
    // 20,000 flood addresses × 2 rules (brute force, spraying) into 500 slots.
    expect(await h.metric('fabric_correlation_evicted_keys_total')).toBeGreaterThanOrEqual(2 * (20_000 - 500));
    // The attacker's group was evicted too (500 slots, thousands of newer keys), so its early detections are gone:
    // eviction is lossy by design, and the counter above is how operators see it.
    expect(h.alerts).toHaveLength(0);
    // Once the flood stops, a burst within the timespan is still detected.
    const out = await h.feed([1, 2, 3, 4, 5].map((i) => failed(t + i * SEC, attacker)));
    expect(out.map((a) => ruleOf(a))).toEqual(['rf_brute_force']);
    // The checkpoint is bounded by the same limit.
    await h.stage.stop();
    const state = await savedState(h.stateDir);
    expect(state.groups.length).toBeLessThanOrEqual(1000);
  });

  it('one group flooded with detections keeps at most max_events_per_key of them', async () => {
    const h = await harness({ max_events_per_key: 100, builtin_rules: true, disabled: ['rf_brute_force_then_success', 'rf_brute_force', 'rf_scanning_then_exploitation'] });
    // Spraying needs 5 distinct users; the same user 1,000 times never gets there but must not grow without bound.
    await h.feed(Array.from({ length: 1000 }, (_, i) => failed(T0 + i, '198.51.100.1', { user: 'root' })));
    expect(await h.metric('fabric_correlation_dropped_members_total')).toBe(900);
    await h.stage.stop();
    const state = await savedState(h.stateDir);
    expect(state.groups[0]![5]).toHaveLength(100);
  });

  it('long group-by values, counted values and ids are kept as their start and a digest: a flood of them cannot fill memory, and each still correlates', async () => {
    const h = await harness({ disabled: ['rf_brute_force_then_success', 'rf_scanning_then_exploitation'] });
    const long = (head: string, tail = '') => `${head}${'x'.repeat(100_000)}${tail}`;
    // 100 forged addresses (an X-Forwarded-For read as source.ip) of 100,000 characters, each with a user name and an event id as long.
    await h.feed(Array.from({ length: 100 }, (_, i) => failed(T0 + i, long(`10.0.0.${i}-`), { user: long(`u${i}-`), id: long(`id${i}-`) })));

    // Two long values that differ only at the end are two groups: 3 + 2 detections fire nothing...
    const a = long('203.0.113.9-', 'a');
    const b = long('203.0.113.9-', 'b');
    expect(await h.feed([1, 2, 3].map((k) => failed(T0 + 10 * SEC + k * SEC, a)).concat([4, 5].map((k) => failed(T0 + 10 * SEC + k * SEC, b))))).toHaveLength(0);
    // ...and two more of the first make its five: brute force fires for it, the value cut with its digest.
    const out = await h.feed([6, 7].map((k) => failed(T0 + 10 * SEC + k * SEC, a)));
    expect(out.map(ruleOf)).toEqual(['rf_brute_force']);
    const [{ value }] = corr(out[0]!).group_by as Array<{ value: string }>;
    expect(value.length).toBeLessThanOrEqual(256);
    expect(value).toMatch(/^203\.0\.113\.9-x+…\[100013 chars, sha256:[0-9a-f]{64}\]$/);

    // What is kept is small: the checkpoint of 105 groups per rule holds no long value (kept whole, it was tens of megabytes).
    await h.stage.stop();
    const state = await savedState(h.stateDir);
    expect(state.groups.length).toBeGreaterThanOrEqual(200);
    expect(JSON.stringify(state).length).toBeLessThan(1_000_000);
  });

  it('a checkpoint that kept a long value whole (written before values were cut) continues as the same group', async () => {
    const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'] };
    const ip = `203.0.113.7${'x'.repeat(5000)}`;
    const first = await harness(bruteForceOnly);
    expect(await first.feed([1, 2, 3, 4].map((k) => failed(T0 + k * SEC, ip)))).toHaveLength(0);
    await first.stage.stop();
    // As an earlier version wrote it: the value whole.
    const state = await savedState(first.stateDir);
    expect(state.groups).toHaveLength(1);
    state.groups[0]![1] = [ip];
    await writeFile(path.join(first.stateDir, 'correlation-state.json'), JSON.stringify(state));

    const again = await harness(bruteForceOnly, { stateDir: first.stateDir });
    expect((await again.feed([failed(T0 + 5 * SEC, ip)])).map(ruleOf)).toEqual(['rf_brute_force']);
    await again.stage.stop();
    // Written back cut, and once: the whole value's entry and the cut one are one group.
    const after = await savedState(first.stateDir);
    expect(after.groups).toHaveLength(1);
    expect(JSON.stringify(after).length).toBeLessThan(5000);
  });
});
