import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from 'typebox/value';
import { SEC, T0, corr, failed, harness } from './helpers.js';
import { isCorrelationAlert } from '../../src/events/ecs.js';
import { ECS_VERSION } from '../../src/events/ecs.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const publishedEventSchema = JSON.parse(readFileSync(path.join(repoRoot, 'core/schemas/threat-detected.v2.json'), 'utf8')) as Record<string, unknown>;
const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'] };

describe('correlated alert event', () => {
  it('is its own event, valid against the published event schema, with rule, ATT&CK, group, window and members', async () => {
    const h = await harness(bruteForceOnly);
    const members = [0, 10, 20, 30, 40].map((s, i) =>
      failed(T0 + s * SEC, '203.0.113.7', { id: `m${i}`, user: i % 2 ? 'root' : 'admin', collector: i < 3 ? 'auth-log' : 'elastic-auth' }),
    );
    const [alert] = await h.feed(members);
    expect(alert).toBeDefined();
    const a = alert as unknown as Record<string, any>;
    expect([...Value.Errors(publishedEventSchema, a)].map((e) => `${e.instancePath} ${e.message}`)).toEqual([]);
    expect(a.event).toMatchObject({ kind: 'alert', severity: 47, start: new Date(T0).toISOString(), end: new Date(T0 + 40 * SEC).toISOString() });
    expect(a.event.id).toMatch(/^corr-[0-9a-f]{32}$/);
    expect(a['@timestamp']).toBe(new Date(T0 + 40 * SEC).toISOString());
    expect(a.ecs).toEqual({ version: ECS_VERSION });
    // Only ECS rule fields: the Sigma title is rule.name; the Sigma name and level are the product's own.
    expect(a.rule).toEqual({
      id: '7e585e14-2158-4ee9-a73a-af2b637a288f',
      name: 'Brute Force From One Address',
      description: expect.any(String),
      ruleset: 'sigma-correlation',
      category: 'event_count',
    });
    expect(a.fabric).toMatchObject({ alert_type: 'correlation', rule: { name: 'rf_brute_force', level: 'medium' } });
    expect(a.threat).toEqual({
      framework: 'MITRE ATT&CK',
      technique: { id: ['T1110', 'T1110.001'] },
      tactic: { id: ['TA0006'], name: ['Credential Access'] },
    });
    expect(a.source).toEqual({ ip: '203.0.113.7' });
    expect(a.related).toEqual({ ip: ['203.0.113.7'] });
    expect(a.fabric).toMatchObject({ priority: 'medium', collector: 'correlation', fingerprint: a.event.id });
    expect(a.fabric.matches).toEqual([
      {
        id: '7e585e14-2158-4ee9-a73a-af2b637a288f',
        name: 'rf_brute_force',
        title: 'Brute Force From One Address',
        level: 'medium',
        techniques: ['T1110', 'T1110.001'],
        tactics: ['Credential Access'],
      },
    ]);
    expect(corr(alert!)).toMatchObject({
      id: a.event.id,
      rule: { id: '7e585e14-2158-4ee9-a73a-af2b637a288f', name: 'rf_brute_force', type: 'event_count' },
      group_by: [{ field: 'source.ip', value: '203.0.113.7' }],
      timespan: '5m',
      condition: 'gte 5',
      window: { start: new Date(T0).toISOString(), end: new Date(T0 + 5 * 60 * SEC).toISOString() },
      first_seen: new Date(T0).toISOString(),
      last_seen: new Date(T0 + 40 * SEC).toISOString(),
      count: 5,
      members: ['m0', 'm1', 'm2', 'm3', 'm4'],
      collectors: ['auth-log', 'elastic-auth'],
    });
    // Every member in the batch points back at the incident.
    for (const m of members) expect((m.fabric as { correlation?: { ids?: string[] } }).correlation?.ids).toEqual([a.event.id]);
    expect(a.message).toMatch(/^Brute Force From One Address: 5 detections for source\.ip=203\.0\.113\.7 within 5m/);
  });

  it('has the same id whenever the same rule, group and window fire, and a different one otherwise', async () => {
    const run = async (ip: string, offset = 0) => {
      const h = await harness(bruteForceOnly);
      const [a] = await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + offset + i * SEC, ip)));
      return a!.event.id;
    };
    const first = await run('198.51.100.1');
    expect(await run('198.51.100.1')).toBe(first);
    expect(await run('198.51.100.2')).not.toBe(first);
    expect(await run('198.51.100.1', 1)).not.toBe(first);
  });

  it('lists at most max_members_in_alert member ids and says so', async () => {
    const h = await harness({ ...bruteForceOnly, max_members_in_alert: 3 });
    const batch = [0, 1, 2, 3, 4, 5, 6].map((i) => failed(T0 + i * SEC, '192.0.2.7'));
    const [a] = (await h.stage.process(batch)).filter((e) => isCorrelationAlert(e));
    expect(corr(a!).members).toHaveLength(3);
    expect(corr(a!).members_truncated).toBe(true);
    // Detections are taken one by one in time order: the fifth completes the window and fires it...
    expect(corr(a!).count).toBe(5);
    // ...and the two after it, inside the same window, are linked to the same incident.
    for (const d of batch) expect((d.fabric as { correlation?: { ids?: string[] } }).correlation?.ids).toEqual([a!.event.id]);
  });
});
