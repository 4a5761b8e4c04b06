import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIN, NOW, SEC, T0, corr, detection, failed, harness, ruleOf, success, tempDir } from './helpers.js';
import { isCorrelationAlert, isDetection } from '../../src/events/ecs.js';

const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'] };

describe('correlation windows in event time', () => {
  it('fires when the 5th failure is exactly 5m after the 1st (timespan is inclusive)', async () => {
    const h = await harness(bruteForceOnly);
    const times = [0, 1 * MIN, 2 * MIN, 3 * MIN, 5 * MIN];
    const out = await h.feed(times.map((t) => failed(T0 + t, '203.0.113.7')));
    expect(out).toHaveLength(1);
    const c = corr(out[0]!);
    expect(c.count).toBe(5);
    expect(c.window).toEqual({ start: new Date(T0).toISOString(), end: new Date(T0 + 5 * MIN).toISOString() });
    expect(c.first_seen).toBe(new Date(T0).toISOString());
    expect(c.last_seen).toBe(new Date(T0 + 5 * MIN).toISOString());
  });

  it('does not fire when the 5th failure is 1 ms past the timespan, and slides on to a later window', async () => {
    const h = await harness(bruteForceOnly);
    const times = [0, 1 * MIN, 2 * MIN, 3 * MIN, 5 * MIN + 1];
    expect(await h.feed(times.map((t) => failed(T0 + t, '203.0.113.7')))).toHaveLength(0);
    // The window anchored at the 2nd failure (1m .. 6m) holds 4; one more inside it completes 5.
    const out = await h.feed([failed(T0 + 6 * MIN, '203.0.113.7')]);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).window).toMatchObject({ start: new Date(T0 + 1 * MIN).toISOString() });
    expect(corr(out[0]!).count).toBe(5);
  });

  it('orders by @timestamp, not arrival: out-of-order detections within the lateness give the same alert', async () => {
    const ordered = await harness(bruteForceOnly);
    const shuffled = await harness(bruteForceOnly);
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const make = (i: number) => failed(T0 + i * 10 * SEC, '198.51.100.1', { id: ids[i]! });
    for (const i of [0, 1, 2, 3, 4]) await ordered.feed([make(i)]);
    for (const i of [3, 0, 4, 2, 1]) await shuffled.feed([make(i)]);
    expect(ordered.alerts).toHaveLength(1);
    expect(shuffled.alerts).toHaveLength(1);
    expect(shuffled.alerts[0]!.event.id).toBe(ordered.alerts[0]!.event.id);
    expect(corr(shuffled.alerts[0]!).window).toEqual(corr(ordered.alerts[0]!).window);
    expect([...(corr(shuffled.alerts[0]!).members as string[])].sort()).toEqual(ids);
  });

  it('drops detections that arrive later than allowed_lateness behind the newest one and counts them', async () => {
    const h = await harness({ ...bruteForceOnly, allowed_lateness_seconds: 60 });
    await h.feed([1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '192.0.2.50')));
    // Another address moves event time 10 minutes ahead: the watermark is now T0+9m.
    await h.feed([failed(T0 + 10 * MIN, '192.0.2.99')]);
    // The 5th failure for 192.0.2.50 would complete its window but is 10 minutes late.
    expect(await h.feed([failed(T0 + 5 * SEC, '192.0.2.50')])).toHaveLength(0);
    expect(await h.metric('fabric_correlation_late_detections_total')).toBe(1);
    // Within the lateness (59 s behind the newest) it still counts.
    const h2 = await harness({ ...bruteForceOnly, allowed_lateness_seconds: 60 });
    await h2.feed([1, 2, 3, 4].map((i) => failed(T0 + 9 * MIN + 2 * SEC + i * SEC, '192.0.2.50')));
    await h2.feed([failed(T0 + 10 * MIN, '192.0.2.99')]);
    expect(await h2.feed([failed(T0 + 9 * MIN + 1 * SEC, '192.0.2.50')])).toHaveLength(1);
    expect(await h2.metric('fabric_correlation_late_detections_total')).toBe(0);
  });

  it('raises one alert per fired window, links later members to it, and needs fresh detections for the next', async () => {
    const h = await harness(bruteForceOnly);
    const first = await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '203.0.113.9')));
    expect(first).toHaveLength(1);
    const alertId = first[0]!.event.id;
    // Still inside the fired window: no second alert, but the detection is tied to the incident.
    const late = failed(T0 + 2 * MIN, '203.0.113.9');
    expect(await h.feed([late])).toHaveLength(0);
    expect((late.fabric as { correlation?: { ids?: string[] } }).correlation?.ids).toEqual([alertId]);
    // After the window, four are not enough, the fifth fires a new alert with its own id.
    expect(await h.feed([1, 2, 3, 4].map((i) => failed(T0 + 6 * MIN + i * SEC, '203.0.113.9')))).toHaveLength(0);
    const second = await h.feed([failed(T0 + 7 * MIN, '203.0.113.9')]);
    expect(second).toHaveLength(1);
    expect(second[0]!.event.id).not.toBe(alertId);
  });

  it('ignores a re-delivered detection (same event.id) instead of counting it twice', async () => {
    const h = await harness(bruteForceOnly);
    const d = [0, 1, 2, 3].map((i) => failed(T0 + i * SEC, '203.0.113.10', { id: `dup-${i}` }));
    await h.feed(d);
    expect(await h.feed(d.map((x) => failed(Date.parse(x['@timestamp']), '203.0.113.10', { id: x.event.id })))).toHaveLength(0);
    expect(await h.metric('fabric_correlation_duplicates_total')).toBe(4);
  });

  it('groups by every group-by field: same address with different users stays apart', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'per_user.yml'),
      `title: Failed logins per address and user
name: per_user_failures
correlation:
  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip, user.name]
  timespan: 5m
  condition: { gte: 3 }
level: high
`,
    );
    const h = await harness({ builtin_rules: false, rules: ['per_user.yml'] }, { configDir: dir });
    const mixed = await h.feed([
      failed(T0, '10.0.0.1', { user: 'alice' }),
      failed(T0 + 1 * SEC, '10.0.0.1', { user: 'bob' }),
      failed(T0 + 2 * SEC, '10.0.0.1', { user: 'alice' }),
      failed(T0 + 3 * SEC, '10.0.0.2', { user: 'alice' }),
      failed(T0 + 4 * SEC, '10.0.0.1', { user: 'bob' }),
    ]);
    expect(mixed).toHaveLength(0);
    const out = await h.feed([failed(T0 + 5 * SEC, '10.0.0.1', { user: 'alice' })]);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).group_by).toEqual([
      { field: 'source.ip', value: '10.0.0.1' },
      { field: 'user.name', value: 'alice' },
    ]);
    expect((out[0] as unknown as { source: { ip: string }; user: { name: string } }).user.name).toBe('alice');
    expect((out[0] as unknown as { related: { ip: string[]; user: string[] } }).related).toMatchObject({ ip: ['10.0.0.1'], user: ['alice'] });
    expect(corr(out[0]!).count).toBe(3);
  });

  it('correlates across collectors: the same address seen by a log store and a log file', async () => {
    const h = await harness(bruteForceOnly);
    const out = await h.feed([
      failed(T0, '198.51.100.77', { collector: 'elastic-auth' }),
      failed(T0 + 10 * SEC, '198.51.100.77', { collector: 'syslog-file' }),
      failed(T0 + 20 * SEC, '198.51.100.77', { collector: 'elastic-auth' }),
      failed(T0 + 30 * SEC, '198.51.100.77', { collector: 'syslog-file' }),
      failed(T0 + 40 * SEC, '198.51.100.77', { collector: 'splunk' }),
    ]);
    expect(out).toHaveLength(1);
    expect([...(corr(out[0]!).collectors as string[])].sort()).toEqual(['elastic-auth', 'splunk', 'syslog-file']);
  });

  it('a collector lagging far behind another still correlates: lateness is judged per collector', async () => {
    const h = await harness({ ...bruteForceOnly, allowed_lateness_seconds: 60 });
    // A tailed file is at T0+1h; a log store polled an hour behind delivers T0.. afterwards.
    await h.feed([failed(T0 + 60 * MIN, '192.0.2.1', { collector: 'syslog-file' })]);
    const out = await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '198.51.100.200', { collector: 'elastic-auth' })));
    expect(out).toHaveLength(1);
    expect(await h.metric('fabric_correlation_late_detections_total')).toBe(0);
    // Out of order within its own collector beyond the lateness is still late.
    await h.feed([failed(T0 + 10 * MIN, '192.0.2.2', { collector: 'elastic-auth' })]);
    await h.feed([failed(T0 + 5 * MIN, '192.0.2.3', { collector: 'elastic-auth' })]);
    expect(await h.metric('fabric_correlation_late_detections_total')).toBe(1);
  });

  it('password spraying counts distinct user names, not attempts', async () => {
    const h = await harness({ disabled: ['rf_brute_force_then_success', 'rf_brute_force', 'rf_scanning_then_exploitation'] });
    // Twenty attempts on one account: brute force, but not spraying.
    expect(await h.feed(Array.from({ length: 20 }, (_, i) => failed(T0 + i * SEC, '203.0.113.20', { user: 'root' })))).toHaveLength(0);
    const users = ['admin', 'oracle', 'test', 'git', 'postgres'];
    const out = await h.feed(users.map((u, i) => failed(T0 + 30 * SEC + i * SEC, '203.0.113.21', { user: u })));
    expect(out).toHaveLength(1);
    expect(ruleOf(out[0]!)).toBe('rf_password_spraying');
    expect(corr(out[0]!).value_count).toBe(5);
    expect([...(out[0] as unknown as { related: { user: string[] } }).related.user].sort()).toEqual([...users].sort());
  });

  it('brute force followed by a success from the same address raises both alerts; a success first does not', async () => {
    const h = await harness({ disabled: ['rf_password_spraying', 'rf_scanning_then_exploitation'] });
    const ip = '203.0.113.66';
    const early = success(T0, ip);
    await h.feed([early]);
    const bf = await h.feed([1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, ip)));
    expect(bf.map(ruleOf)).toEqual(['rf_brute_force']);
    const ok = success(T0 + 20 * MIN, ip, { id: 'login-ok' });
    const chain = await h.feed([ok]);
    expect(chain.map(ruleOf)).toEqual(['rf_brute_force_then_success']);
    const c = corr(chain[0]!);
    expect(c.members).toEqual([bf[0]!.event.id, 'login-ok']);
    expect((ok.fabric as { correlation?: { ids?: string[] } }).correlation?.ids).toEqual([chain[0]!.event.id]);
    expect((chain[0] as unknown as { threat: { technique: { id: string[] } } }).threat.technique.id).toContain('T1078');
    // A success from another address after the same brute force does not correlate.
    expect(await h.feed([success(T0 + 21 * MIN, '203.0.113.67')])).toHaveLength(0);
  });

  it('chained alert and its brute force land in the same batch when all arrive together', async () => {
    const h = await harness({ disabled: ['rf_password_spraying', 'rf_scanning_then_exploitation'] });
    const ip = '192.0.2.200';
    const batch = [...[1, 2, 3, 4, 5].map((i) => failed(T0 + i * SEC, ip)), success(T0 + 10 * SEC, ip)];
    const out = await h.stage.process([...batch].reverse());
    expect(out.slice(0, batch.length).every((e) => isDetection(e))).toBe(true);
    const alerts = out.filter((e) => isCorrelationAlert(e));
    expect(alerts.map(ruleOf)).toEqual(['rf_brute_force', 'rf_brute_force_then_success']);
    // The brute-force alert is itself a member of the chained incident.
    expect((alerts[0]!.fabric as { correlation: { ids?: string[] } }).correlation.ids).toEqual([alerts[1]!.event.id]);
  });

  it('scanning followed by exploitation from the same address', async () => {
    const h = await harness({ disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_brute_force'] });
    const ip = '198.51.100.5';
    expect(await h.feed([detection({ t: T0 + 5 * MIN, ip, rules: ['rf_exploitation_attempt'] })])).toHaveLength(0);
    expect(await h.feed([detection({ t: T0 + 6 * MIN, ip, rules: ['rf_network_scanning'] })])).toHaveLength(0);
    const out = await h.feed([detection({ t: T0 + 30 * MIN, ip, rules: ['rf_exploitation_attempt'] })]);
    expect(out.map(ruleOf)).toEqual(['rf_scanning_then_exploitation']);
    expect((out[0] as unknown as { threat: { technique: { id: string[] } } }).threat.technique.id).toEqual(['T1046', 'T1190']);
  });
});

describe('generate and input hygiene', () => {
  it('a correlation rule used only by a generate: false chain feeds it without publishing its own alerts', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'chain.yml'),
      `title: Burst then success
name: burst_then_success
correlation:
  type: temporal_ordered
  rules: [burst, rf_successful_authentication]
  group-by: [source.ip]
  timespan: 30m
  generate: false
level: critical
---
title: Burst of failures
name: burst
correlation:
  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 1m
  condition: { gte: 3 }
`,
    );
    const h = await harness({ builtin_rules: false, rules: ['chain.yml'] }, { configDir: dir });
    expect(await h.feed([1, 2, 3].map((i) => failed(T0 + i * SEC, '192.0.2.33')))).toHaveLength(0);
    expect(await h.metric('fabric_correlation_alerts_total', { rule: 'burst', published: 'false' })).toBe(1);
    const out = await h.feed([success(T0 + 5 * MIN, '192.0.2.33')]);
    expect(out.map(ruleOf)).toEqual(['burst_then_success']);
    expect(out[0]!.fabric.priority).toBe('critical');
  });

  it('skips detections without a usable timestamp or group-by value, or stamped in the future, and counts why', async () => {
    const h = await harness({ disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'], max_clock_skew_seconds: 300 });
    const broken = failed(T0, '10.3.3.3');
    broken['@timestamp'] = 'yesterday';
    const noIp = detection({ t: T0, rules: ['rf_failed_authentication'] });
    // Far in the future (wall clock pinned at NOW): if it counted, it would push the watermark and make everything late.
    const future = failed(NOW + 3600 * SEC, '10.3.3.4');
    const plain = { ...failed(T0, '10.3.3.5'), event: { id: 'plain', kind: 'event' } } as typeof broken;
    const out = await h.stage.process([broken, noIp, future, plain]);
    expect(out).toHaveLength(4);
    expect(await h.metric('fabric_correlation_skipped_detections_total', { reason: 'invalid_timestamp' })).toBe(1);
    expect(await h.metric('fabric_correlation_skipped_detections_total', { reason: 'missing_group_by' })).toBe(1);
    expect(await h.metric('fabric_correlation_skipped_detections_total', { reason: 'future_timestamp' })).toBe(1);
    // The watermark did not move: detections at T0 still correlate.
    expect(await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '10.3.3.6')))).toHaveLength(1);
  });
  it('group-by values named like object internals, or deep and wrong-typed, are groups like any other', async () => {
    const h = await harness(bruteForceOnly);
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 30; i++) at = (at.next = { pad: 'p'.repeat(20) }) as Record<string, unknown>;
    const values: unknown[] = ['__proto__', 'constructor', 'toString', 42, true, deep];
    // Four of each, interleaved: no group reaches five, so nothing fires and no value leaks into another's group.
    const batch = [0, 1, 2, 3].flatMap((k) => values.map((ip, i) => failed(T0 + k * SEC + i, '', { extra: { source: { ip } } })));
    expect(await h.feed(batch)).toHaveLength(0);
    // The fifth of each fires its own alert, with its own value.
    const out = await h.feed(values.map((ip, i) => failed(T0 + 5 * SEC + i, '', { extra: { source: { ip } } })));
    expect(out).toHaveLength(values.length);
    const shown = out.map((a) => (corr(a).group_by as Array<{ value: string }>)[0]!.value);
    expect(shown.slice(0, 5)).toEqual(['__proto__', 'constructor', 'toString', '42', 'true']);
    // The deep object's JSON is longer than 256 characters: kept as its start and digest.
    expect(shown[5]).toMatch(/^\{"next":.*…\[\d+ chars, sha256:[0-9a-f]{64}\]$/);
  });

  it("a forged group-by string that spells another value as JSON does not join that value's group", async () => {
    const h = await harness(bruteForceOnly);
    // Three detections whose source.ip is a list (one address), then two whose source.ip is the
    // string an attacker can write to look like that list's key.
    const listed = [0, 1, 2].map((i) => failed(T0 + i * SEC, '', { extra: { source: { ip: ['203.0.113.5'] } } }));
    const forged = [3, 4].map((i) => failed(T0 + i * SEC, '[["203.0.113.5"]]'));
    expect(await h.feed([...listed, ...forged])).toHaveLength(0);
    // Each on its own still fires at five.
    const more = [5, 6].map((i) => failed(T0 + i * SEC, '', { extra: { source: { ip: ['203.0.113.5'] } } }));
    const out = await h.feed(more);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).group_by).toEqual([{ field: 'source.ip', value: '["203.0.113.5"]' }]);
    const forgedToo = [7, 8, 9].map((i) => failed(T0 + i * SEC, '[["203.0.113.5"]]'));
    const out2 = await h.feed(forgedToo);
    expect(out2).toHaveLength(1);
    expect(corr(out2[0]!).group_by).toEqual([{ field: 'source.ip', value: '[["203.0.113.5"]]' }]);
  });
});

describe('replacing a built-in rule', () => {
  it('a rule of the same name replaces a built-in disabled by id, and chains follow it', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'stricter.yml'),
      `title: Brute force (ten)
id: 0b7c9a52-1111-4e7e-9a8a-3f0e0d7c0001
name: rf_brute_force
correlation:
  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 5m
  condition: { gte: 10 }
level: high
`,
    );
    const h = await harness(
      { rules: ['stricter.yml'], disabled: ['7e585e14-2158-4ee9-a73a-af2b637a288f', 'rf_password_spraying', 'rf_scanning_then_exploitation'] },
      { configDir: dir },
    );
    expect(h.stage.rules.filter((r) => r.name === 'rf_brute_force').map((r) => r.id)).toEqual(['0b7c9a52-1111-4e7e-9a8a-3f0e0d7c0001']);
    const ip = '203.0.113.44';
    expect(await h.feed([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => failed(T0 + i * SEC, ip)))).toHaveLength(0);
    const out = await h.feed([failed(T0 + 10 * SEC, ip), success(T0 + 11 * SEC, ip)]);
    expect(out.map(ruleOf)).toEqual(['rf_brute_force', 'rf_brute_force_then_success']);
    expect(out[0]!.event.severity).toBe(73);
  });

  it('without disabling the built-in, the same name twice is refused', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'dup.yml'),
      `title: Dup\nname: rf_brute_force\ncorrelation:\n  type: event_count\n  rules: [rf_failed_authentication]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: { gte: 10 }\n`,
    );
    await expect(harness({ rules: ['dup.yml'] }, { configDir: dir })).rejects.toThrow(/"rf_brute_force" is already used by the rule in .*; ids and names must be unique/);
  });
});

describe('conditions decided at window close', () => {
  it('eq fires only for windows holding exactly that many, once the watermark passes the window end', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'exactly.yml'),
      `title: Exactly three failures
id: 5d3e1f7a-0000-4000-8000-000000000003
correlation:
  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 1m
  condition: { eq: 3 }
`,
    );
    const h = await harness({ builtin_rules: false, rules: [dir], allowed_lateness_seconds: 10 }, { configDir: dir });
    await h.feed([0, 1, 2].map((i) => failed(T0 + i * SEC, '10.1.1.3')));
    await h.feed([0, 1, 2, 3].map((i) => failed(T0 + i * SEC, '10.1.1.4')));
    // Not decided yet: more could still arrive within the window plus lateness.
    expect(h.alerts).toHaveLength(0);
    // Event time moves to T0+1m+11s: watermark T0+1m+1s is past both windows' end (T0+1m).
    await h.feed([failed(T0 + 71 * SEC, '10.9.9.9')]);
    expect(h.alerts).toHaveLength(1);
    expect(corr(h.alerts[0]!).group_by).toEqual([{ field: 'source.ip', value: '10.1.1.3' }]);
    expect(corr(h.alerts[0]!).count).toBe(3);
    expect((h.alerts[0] as unknown as { rule: { id: string } }).rule.id).toBe('5d3e1f7a-0000-4000-8000-000000000003');
  });

  it('windows wait for the slowest collector, until it has been idle for idle_collector_seconds', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'exactly.yml'),
      `title: Exactly three failures
name: exactly_three
correlation:
  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 1m
  condition: { eq: 3 }
`,
    );
    let now = NOW;
    const h = await harness({ builtin_rules: false, rules: [dir], allowed_lateness_seconds: 10, idle_collector_seconds: 300 }, { configDir: dir, now: () => now });
    await h.feed([failed(T0, '10.5.5.5', { collector: 'slow' })]);
    await h.feed([10, 11, 12].map((i) => failed(T0 + i * SEC, '10.1.1.3', { collector: 'fast' })));
    await h.feed([failed(T0 + 5 * MIN, '10.6.6.6', { collector: 'fast' })]);
    // "slow" may still deliver detections for that window: not decided yet.
    expect(h.alerts).toHaveLength(0);
    now += 301 * SEC;
    await h.feed([]);
    expect(h.alerts).toHaveLength(1);
    expect(corr(h.alerts[0]!).group_by).toEqual([{ field: 'source.ip', value: '10.1.1.3' }]);
  });

  it('temporal (any order) needs every referenced rule within the timespan', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'recon.yml'),
      `title: Recon then privilege escalation
name: recon_escalation
correlation:
  type: temporal
  rules: [rf_suspicious_command, rf_privilege_escalation]
  group-by: [host.name]
  timespan: 10m
level: critical
tags: [attack.privilege_escalation, attack.t1068]
`,
    );
    // The second detection for web-1 arrives 4 minutes behind the newest: within a 10 minute lateness.
    const h = await harness({ builtin_rules: false, rules: [dir], allowed_lateness_seconds: 600 }, { configDir: dir });
    const host = (t: number, rule: string, name: string) => detection({ t, rules: [rule], extra: { host: { name } } });
    expect(await h.feed([host(T0 + 5 * MIN, 'rf_privilege_escalation', 'web-1'), host(T0, 'rf_suspicious_command', 'web-2')])).toHaveLength(0);
    const out = await h.feed([host(T0 + 1 * MIN, 'rf_suspicious_command', 'web-1')]);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).rules_matched).toBe(2);
    expect(out[0]!.event.severity).toBe(99);
    expect(out[0]!.fabric.priority).toBe('critical');
    expect((out[0] as unknown as { host: { name: string } }).host.name).toBe('web-1');
  });

  it('aliases group different fields of different rules', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'alias.yml'),
      `title: Exfiltration to the host that was scanned
name: scan_exfil
correlation:
  type: temporal_ordered
  rules: [rf_network_scanning, rf_data_exfiltration]
  group-by: [peer]
  timespan: 30m
  aliases:
    peer:
      rf_network_scanning: source.ip
      rf_data_exfiltration: destination.ip
`,
    );
    const h = await harness({ builtin_rules: false, rules: [dir] }, { configDir: dir });
    await h.feed([detection({ t: T0, ip: '198.51.100.9', rules: ['rf_network_scanning'] })]);
    const out = await h.feed([detection({ t: T0 + 5 * MIN, rules: ['rf_data_exfiltration'], extra: { destination: { ip: '198.51.100.9' } } })]);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).group_by).toEqual([{ field: 'peer', value: '198.51.100.9' }]);
    expect((out[0] as unknown as { related: { ip: string[] } }).related.ip).toEqual(['198.51.100.9']);
  });
});

describe('arrival order does not change which groups fire', () => {
  it('random streams shuffled within the lateness fire for exactly the groups with a satisfying window', async () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
    for (let round = 0; round < 8; round++) {
      const h = await harness({ disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'], allowed_lateness_seconds: 120 });
      const byIp = new Map<string, number[]>();
      const stream: Array<{ t: number; ip: string }> = [];
      for (let k = 0; k < 40; k++) {
        const ip = `10.77.${round}.${k}`;
        const n = 1 + Math.floor(rand() * 9);
        const start = T0 + Math.floor(rand() * 30 * MIN);
        const spread = Math.floor(rand() * 12 * MIN);
        const times = Array.from({ length: n }, () => start + Math.floor(rand() * spread));
        byIp.set(ip, times);
        for (const t of times) stream.push({ t, ip });
      }
      stream.sort((a, b) => a.t - b.t);
      // Displace each detection by up to 100 s of event time: inside the 120 s lateness.
      const arrival = stream.map((s) => ({ ...s, key: s.t + rand() * 100 * SEC })).sort((a, b) => a.key - b.key);
      for (let i = 0; i < arrival.length; ) {
        const size = 1 + Math.floor(rand() * 20);
        await h.feed(arrival.slice(i, i + size).map((s) => failed(s.t, s.ip)));
        i += size;
      }
      const expected = [...byIp].filter(([, ts]) => ts.some((a) => ts.filter((t) => t >= a && t <= a + 5 * MIN).length >= 5)).map(([ip]) => ip);
      // Both outcomes occur in every round, or the comparison would prove little.
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(byIp.size);
      const fired = [...new Set(h.alerts.map((a) => (a as unknown as { source: { ip: string } }).source.ip))];
      expect(fired.sort()).toEqual(expected.sort());
      expect(await h.metric('fabric_correlation_late_detections_total')).toBe(0);
      for (const a of h.alerts) {
        const c = corr(a);
        expect(c.count as number).toBeGreaterThanOrEqual(5);
        expect(Date.parse(c.last_seen as string) - Date.parse(c.first_seen as string)).toBeLessThanOrEqual(5 * MIN);
      }
    }
  });
});

describe('value_count windows slide', () => {
  it('values seen only before a window starts do not count toward it', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'three.yml'),
      `title: Three users in two minutes
name: three_users
correlation:
  type: value_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 2m
  condition: { field: user.name, gte: 3 }
`,
    );
    const h = await harness({ builtin_rules: false, rules: [dir], allowed_lateness_seconds: 300 }, { configDir: dir });
    const ip = '10.4.4.4';
    // Windows: [10s,130s] holds a and c; [100s,220s] holds c and d; never three users within 2 minutes.
    await h.feed([failed(T0 + 10 * SEC, ip, { user: 'a' }), failed(T0 + 200 * SEC, ip, { user: 'd' })]);
    expect(await h.feed([failed(T0 + 100 * SEC, ip, { user: 'c' })])).toHaveLength(0);
    // A third user inside [100s,220s] completes it.
    const out = await h.feed([failed(T0 + 150 * SEC, ip, { user: 'e' })]);
    expect(out).toHaveLength(1);
    expect(corr(out[0]!).window).toMatchObject({ start: new Date(T0 + 100 * SEC).toISOString() });
    expect(corr(out[0]!).value_count).toBe(3);
  });
});

describe('temporal_ordered edges', () => {
  it('the sequence must fit the timespan (inclusive) and be in order', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'seq.yml'),
      `title: Scan, exploit, exfiltrate within 5 minutes
name: three_steps
correlation:
  type: temporal_ordered
  rules: [rf_network_scanning, rf_exploitation_attempt, rf_data_exfiltration]
  group-by: [source.ip]
  timespan: 5m
`,
    );
    const h = await harness({ builtin_rules: false, rules: [dir], allowed_lateness_seconds: 600 }, { configDir: dir });
    const d = (t: number, rule: string, ip: string) => detection({ t, ip, rules: [rule] });
    // 1 ms too long, all in one batch.
    expect(
      await h.feed([d(T0, 'rf_network_scanning', '10.7.0.1'), d(T0 + MIN, 'rf_exploitation_attempt', '10.7.0.1'), d(T0 + 5 * MIN + 1, 'rf_data_exfiltration', '10.7.0.1')]),
    ).toHaveLength(0);
    // Out of order: exfiltration before exploitation.
    expect(
      await h.feed([d(T0, 'rf_network_scanning', '10.7.0.2'), d(T0 + MIN, 'rf_data_exfiltration', '10.7.0.2'), d(T0 + 2 * MIN, 'rf_exploitation_attempt', '10.7.0.2')]),
    ).toHaveLength(0);
    // The middle step arriving last, each half within 5 minutes but the whole 1 ms too long.
    await h.feed([d(T0, 'rf_network_scanning', '10.7.0.4'), d(T0 + 5 * MIN + 1, 'rf_data_exfiltration', '10.7.0.4')]);
    expect(await h.feed([d(T0 + 3 * MIN, 'rf_exploitation_attempt', '10.7.0.4')])).toHaveLength(0);
    // Exactly 5 minutes, the middle step arriving last.
    await h.feed([d(T0, 'rf_network_scanning', '10.7.0.3'), d(T0 + 5 * MIN, 'rf_data_exfiltration', '10.7.0.3')]);
    const out = await h.feed([d(T0 + 3 * MIN, 'rf_exploitation_attempt', '10.7.0.3')]);
    expect(out.map((a) => (a as unknown as { source: { ip: string } }).source.ip)).toEqual(['10.7.0.3']);
    expect(corr(out[0]!).rules_matched).toBe(3);
  });
});

describe('arrival order does not change which groups fire (value_count, temporal_ordered)', () => {
  it('random streams: distinct-value and ordered-sequence rules fire for exactly the groups an exhaustive check finds', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'random.yml'),
      `title: Three users in two minutes
name: three_users
correlation:
  type: value_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 2m
  condition: { field: user.name, gte: 3 }
---
title: Scan then exploit in five minutes
name: scan_exploit_5m
correlation:
  type: temporal_ordered
  rules: [rf_network_scanning, rf_exploitation_attempt]
  group-by: [source.ip]
  timespan: 5m
`,
    );
    let seed = 11;
    const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
    for (let round = 0; round < 6; round++) {
      const h = await harness({ builtin_rules: false, rules: [dir], allowed_lateness_seconds: 120 }, { configDir: dir });
      const stream: Array<{ t: number; ip: string; kind: 'fail' | 'scan' | 'exploit'; user: string }> = [];
      let unique = 0;
      for (let k = 0; k < 30; k++) {
        const ip = `10.88.${round}.${k}`;
        const start = T0 + Math.floor(rand() * 20 * MIN);
        const spread = 1 + Math.floor(rand() * 8 * 60);
        const n = 1 + Math.floor(rand() * 12);
        for (let i = 0; i < n; i++) {
          // Distinct milliseconds: "in order" is then unambiguous.
          const t = start + Math.floor(rand() * spread) * SEC + (unique++ % 1000);
          const kind = rand() < 0.5 ? 'fail' : rand() < 0.5 ? 'scan' : 'exploit';
          stream.push({ t, ip, kind, user: `u${Math.floor(rand() * 4)}` });
        }
      }
      const arrival = stream.map((s) => ({ ...s, key: s.t + rand() * 100 * SEC })).sort((a, b) => a.key - b.key);
      const rule = { fail: 'rf_failed_authentication', scan: 'rf_network_scanning', exploit: 'rf_exploitation_attempt' } as const;
      for (let i = 0; i < arrival.length; ) {
        const size = 1 + Math.floor(rand() * 15);
        await h.feed(arrival.slice(i, i + size).map((s) => detection({ t: s.t, ip: s.ip, user: s.user, rules: [rule[s.kind]] })));
        i += size;
      }
      const ips = [...new Set(stream.map((s) => s.ip))];
      const threeUsers = ips.filter((ip) => {
        const f = stream.filter((s) => s.ip === ip && s.kind === 'fail');
        return f.some((a) => new Set(f.filter((s) => s.t >= a.t && s.t <= a.t + 2 * MIN).map((s) => s.user)).size >= 3);
      });
      const scanExploit = ips.filter((ip) => {
        const mine = stream.filter((s) => s.ip === ip);
        return mine.some((a) => a.kind === 'scan' && mine.some((b) => b.kind === 'exploit' && b.t > a.t && b.t - a.t <= 5 * MIN));
      });
      for (const expected of [threeUsers, scanExploit]) {
        expect(expected.length).toBeGreaterThan(0);
        expect(expected.length).toBeLessThan(ips.length);
      }
      const firedBy = (name: string) => [...new Set(h.alerts.filter((a) => ruleOf(a) === name).map((a) => (a as unknown as { source: { ip: string } }).source.ip))].sort();
      expect(firedBy('three_users')).toEqual([...threeUsers].sort());
      expect(firedBy('scan_exploit_5m')).toEqual([...scanExploit].sort());
      expect(await h.metric('fabric_correlation_late_detections_total')).toBe(0);
    }
  });
});
