import { describe, expect, it } from 'vitest';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIN, SEC, T0, corr, failed, harness, ruleOf, savedState, success, tempDir } from './helpers.js';

const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'] };

describe('checkpointed correlation state', () => {
  it('a restart in the middle of an open window keeps it: the alert counts detections from before and after', async () => {
    const stateDir = await tempDir();
    const before = await harness(bruteForceOnly, { stateDir });
    await before.feed([0, 1, 2].map((i) => failed(T0 + i * SEC, '203.0.113.5', { id: `pre-${i}` })));
    await before.ack();
    await before.stage.stop();

    const after = await harness(bruteForceOnly, { stateDir });
    expect(await after.feed([failed(T0 + 3 * SEC, '203.0.113.5', { id: 'post-3' })])).toHaveLength(0);
    const out = await after.feed([failed(T0 + 4 * SEC, '203.0.113.5', { id: 'post-4' })]);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).count).toBe(5);
    expect(corr(out[0]!).members).toEqual(['pre-0', 'pre-1', 'pre-2', 'post-3', 'post-4']);
  });

  it('without the checkpoint the same restart loses the window (the test above is not vacuous)', async () => {
    const before = await harness(bruteForceOnly);
    await before.feed([0, 1, 2].map((i) => failed(T0 + i * SEC, '203.0.113.5')));
    const after = await harness(bruteForceOnly); // fresh state dir
    expect(await after.feed([3, 4].map((i) => failed(T0 + i * SEC, '203.0.113.5')))).toHaveLength(0);
  });

  it('a restart after an alert fired does not fire that window again, and the watermark survives', async () => {
    const stateDir = await tempDir();
    const first = await harness({ ...bruteForceOnly, allowed_lateness_seconds: 60 }, { stateDir });
    const fired = await first.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '198.51.100.23')));
    expect(fired).toHaveLength(1);
    await first.feed([failed(T0 + 10 * MIN, '198.51.100.99')]);
    await first.stage.stop();

    const second = await harness({ ...bruteForceOnly, allowed_lateness_seconds: 60 }, { stateDir });
    // Inside the fired window again: linked to the old alert, never a second one.
    const inside = failed(T0 + 9 * MIN + 30 * SEC, '198.51.100.99');
    expect(await second.feed([inside])).toHaveLength(0);
    // Older than the restored watermark (T0+9m): late, as before the restart.
    expect(await second.feed([5, 6, 7, 8, 9].map((i) => failed(T0 + i * SEC, '198.51.100.23')))).toHaveLength(0);
    expect(await second.metric('fabric_correlation_late_detections_total')).toBe(5);
  });

  it('replaying the detections of an acknowledged alert after a restart gives no second alert', async () => {
    const stateDir = await tempDir();
    const dets = () => [0, 1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, '198.51.100.40', { id: `r-${i}` }));
    const first = await harness(bruteForceOnly, { stateDir });
    expect(await first.feed(dets())).toHaveLength(1);
    await first.ack(); // the pipeline: sink acknowledged the batch
    await first.stage.stop();
    const second = await harness(bruteForceOnly, { stateDir });
    expect(await second.feed(dets())).toHaveLength(0);
  });

  it('an alert whose batch was never acknowledged is sent again, same id, when its detections are re-delivered', async () => {
    const stateDir = await tempDir();
    const dets = () => [0, 1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, '198.51.100.41', { id: `u-${i}` }));
    const first = await harness(bruteForceOnly, { stateDir });
    const [alert] = await first.feed(dets());
    // An earlier batch is acknowledged and checkpointed; the alert's own batch never is (crash).
    await first.stage.stop();

    const second = await harness(bruteForceOnly, { stateDir });
    const again = await second.feed(dets());
    expect(again).toHaveLength(1);
    expect(again[0]).toEqual(alert);
    expect(await second.metric('fabric_correlation_resent_alerts_total')).toBe(1);
    // Sent once per re-delivery: once acknowledged, a further replay stays quiet.
    await second.ack();
    await second.stage.stop();
    const third = await harness(bruteForceOnly, { stateDir });
    expect(await third.feed(dets())).toHaveLength(0);
  });

  it('acknowledgements are counted per batch: only alerts of batches not yet acknowledged are re-sent', async () => {
    const stateDir = await tempDir();
    const first = await harness({ ...bruteForceOnly, checkpoint_interval_seconds: 0 }, { stateDir });
    const a = [0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '192.0.2.91', { id: `a-${i}` }));
    const b = [0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '192.0.2.92', { id: `b-${i}` }));
    expect(await first.feed(a)).toHaveLength(1);
    expect(await first.feed(b)).toHaveLength(1);
    await first.ack(); // batch a acknowledged; b still in flight when the process dies
    const second = await harness({ ...bruteForceOnly, checkpoint_interval_seconds: 0 }, { stateDir });
    expect(await second.feed(a.map((d) => failed(Date.parse(d['@timestamp']), '192.0.2.91', { id: d.event.id })))).toHaveLength(0);
    const resent = await second.feed(b.map((d) => failed(Date.parse(d['@timestamp']), '192.0.2.92', { id: d.event.id })));
    expect(resent.map((x) => (x as unknown as { source: { ip: string } }).source.ip)).toEqual(['192.0.2.92']);
  });

  it('a chained rule keeps its half-done sequence across a restart', async () => {
    const stateDir = await tempDir();
    const cfg = { disabled: ['rf_password_spraying', 'rf_scanning_then_exploitation'] };
    const first = await harness(cfg, { stateDir });
    expect((await first.feed([1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, '192.0.2.8')))).length).toBe(1);
    await first.stage.stop();
    const second = await harness(cfg, { stateDir });
    const out = await second.feed([success(T0 + 30 * MIN, '192.0.2.8')]);
    expect(out.map((a) => ruleOf(a))).toEqual(['rf_brute_force_then_success']);
  });

  it('writes atomically (no temp file left), at most every checkpoint_interval_seconds, and always on close', async () => {
    const stateDir = await tempDir();
    let now = Date.parse('2026-11-27T12:00:00Z');
    const h = await harness({ ...bruteForceOnly, checkpoint_interval_seconds: 10 }, { stateDir, now: () => now });
    await h.feed([failed(T0, '10.0.0.1')]);
    await h.ack();
    const firstWrite = await savedState(stateDir);
    expect(firstWrite.groups).toHaveLength(1);
    await h.feed([failed(T0 + SEC, '10.0.0.2')]);
    now += 5_000;
    await h.ack();
    expect((await savedState(stateDir)).groups).toHaveLength(1); // within the interval: not rewritten
    now += 6_000;
    await h.ack();
    expect((await savedState(stateDir)).groups).toHaveLength(2);
    await h.feed([failed(T0 + 2 * SEC, '10.0.0.3')]);
    await h.stage.stop();
    expect((await savedState(stateDir)).groups).toHaveLength(3);
    expect((await readdir(stateDir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('a slow checkpoint spaces the next ones out (at most ~10% of the time spent writing)', async () => {
    const stateDir = await tempDir();
    let now = Date.parse('2026-11-27T12:00:00Z');
    const h = await harness({ ...bruteForceOnly, checkpoint_interval_seconds: 5 }, { stateDir, now: () => now });
    const groups = async () => (await savedState(stateDir)).groups.length;
    await h.feed([failed(T0, '10.0.0.1')]);
    const slow = h.ack();
    now += 2_000; // this write takes 2 s
    await slow;
    expect(await groups()).toBe(1);
    expect(await h.metric('fabric_correlation_checkpoint_seconds')).toBe(2);
    await h.feed([failed(T0 + SEC, '10.0.0.2')]);
    now += 10_000; // past the 5 s interval, but within 10 × 2 s of the slow write
    await h.ack();
    expect(await groups()).toBe(1);
    now += 9_000;
    await h.ack();
    expect(await groups()).toBe(2);
  });

  it('an unreadable checkpoint is moved aside and the stage starts empty instead of failing', async () => {
    const stateDir = await tempDir();
    await writeFile(path.join(stateDir, 'correlation-state.json'), '{"format":"reactive-fabric/correlation-state","version":1,"groups":[[');
    const h = await harness(bruteForceOnly, { stateDir });
    expect(await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '10.0.0.9')))).toHaveLength(1);
    const files = await readdir(stateDir);
    expect(files.some((f) => f.startsWith('correlation-state.json.invalid-'))).toBe(true);
  });

  it('state of a rule whose definition changed is not restored into the new definition', async () => {
    const stateDir = await tempDir();
    const rulesDir = await tempDir();
    const rule = (n: number) =>
      `title: Custom\nname: custom_bf\ncorrelation:\n  type: event_count\n  rules: [rf_failed_authentication]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: { gte: ${n} }\n`;
    await writeFile(path.join(rulesDir, 'custom.yml'), rule(4));
    const first = await harness({ builtin_rules: false, rules: ['custom.yml'] }, { stateDir, configDir: rulesDir });
    await first.feed([0, 1, 2].map((i) => failed(T0 + i * SEC, '10.2.2.2')));
    await first.stage.stop();
    await writeFile(path.join(rulesDir, 'custom.yml'), rule(2));
    const second = await harness({ builtin_rules: false, rules: ['custom.yml'] }, { stateDir, configDir: rulesDir });
    // With the old members carried over, this would already be 4 ≥ 2 on the first detection.
    const out = await second.feed([failed(T0 + 3 * SEC, '10.2.2.2', { id: 'only' })]);
    expect(out).toHaveLength(0);
    const next = await second.feed([failed(T0 + 4 * SEC, '10.2.2.2', { id: 'second' })]);
    expect(corr(next[0]!).members).toEqual(['only', 'second']);
  });
});
