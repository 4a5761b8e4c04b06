import { describe, expect, it } from 'vitest';
import { SEC, T0, failed, harness, ruleOf, savedState } from './helpers.js';

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
});
