import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Value } from 'typebox/value';
import { createDetectionStage } from '../../src/detection/index.js';
import { DetectionConfigSchema, type DetectionConfig } from '../../src/detection/config.js';
import { detection, harness, ruleOf, corr } from './helpers.js';
import { isCorrelationAlert, isDetection } from '../../src/events/ecs.js';

/*
 * LogPAI loghub OpenSSH_2k (https://github.com/logpai/loghub; see ../shared/datasets/loghub/CITATION).
 * Expected set: from the loghub authors' labelling (EventId + template per line), independently of
 * the stage (loghub-openssh.ts). Detections: from the raw log lines, as a syslog collector would see them.
 */
import {
  addressesWithBurst,
  datasets,
  expectedBruteForce,
  FAILED_ATTEMPT_EVENT_IDS,
  FAILED_AUTH_ADDRESS_SLOT,
  IPV4,
  parseStructuredCsv,
  syslogTime,
  templateValue,
} from './loghub-openssh.js';

/** What a syslog collector plus the detection engine produce for one raw sshd line. */
function eventFromRawLine(raw: string, lineNo: number): FabricEvent {
  const header = /^(\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\S+) sshd\[(\d+)\]: (.*)$/.exec(raw);
  if (!header) throw new Error(`unparsed line ${lineNo}: ${raw}`);
  const t = syslogTime(header[1]!, header[2]!, header[3]!);
  const message = header[6]!;
  const id = `openssh-${lineNo}`;
  const failedAttempt = /^Failed (\S+) for (?:invalid user )?(.*) from (\S+) port \d+ ssh2$/.exec(message);
  if (failedAttempt)
    return detection({ t, id, ip: failedAttempt[3]!, user: failedAttempt[2]!, rules: ['rf_failed_authentication'], collector: 'openssh-file', extra: { message } });
  const accepted = /^Accepted (\S+) for (\S+) from (\S+) port \d+ ssh2$/.exec(message);
  if (accepted) return detection({ t, id, ip: accepted[3]!, user: accepted[2]!, rules: ['rf_successful_authentication'], collector: 'openssh-file', extra: { message } });
  // Everything else reaches the stage as a plain event, which it must pass through untouched.
  return {
    '@timestamp': new Date(t).toISOString(),
    message,
    event: { id, kind: 'event' },
    fabric: { collector: 'openssh-file', plugin: '@reactive-fabric/plugin-log-file', fingerprint: id, schema_version: '1.0.0' },
  } as FabricEvent;
}

describe('OpenSSH_2k (loghub)', () => {
  // A missing dataset is a failure with the fix, never a silent skip.
  it('finds the dataset beside the repository', () => {
    expect(existsSync(path.join(datasets, 'OpenSSH_2k.log')), `${datasets}/OpenSSH_2k.log is missing: put shared/datasets beside the repository`).toBe(true);
  });

  it('brute force fires for exactly the addresses with ≥ N failed attempts within the timespan (detections from the labelled lines)', async () => {
    const h = await harness({ disabled: ['rf_password_spraying', 'rf_scanning_then_exploitation'] });
    const rule = h.stage.rules.find((r) => r.name === 'rf_brute_force')!;
    const n = rule.condition.gte!;
    const span = rule.timespanMs;

    const labelled = parseStructuredCsv(await readFile(path.join(datasets, 'OpenSSH_2k.log_structured.csv'), 'utf8'));
    expect(labelled).toHaveLength(2000);
    const byIp = new Map<string, number[]>();
    for (const row of labelled) {
      if (!FAILED_ATTEMPT_EVENT_IDS.has(row.eventId)) continue;
      const ip = templateValue(row.template, row.content, 2);
      byIp.set(ip, [...(byIp.get(ip) ?? []), row.t]);
    }
    const expected = addressesWithBurst(byIp, n, span);
    // The data must separate the cases, or the comparison below proves nothing.
    expect(expected.size).toBeGreaterThanOrEqual(3);
    expect([...byIp.keys()].filter((ip) => !expected.has(ip)).length).toBeGreaterThanOrEqual(3);
    const atLeastNOverall = [...byIp].filter(([ip, ts]) => ts.length >= n && !expected.has(ip));
    // Some addresses have N failures in total but not within one timespan: the window matters.
    expect(atLeastNOverall.length).toBeGreaterThanOrEqual(1);

    const raw = (await readFile(path.join(datasets, 'OpenSSH_2k.log'), 'utf8')).split(/\r?\n/).filter((l) => l.length > 0);
    expect(raw).toHaveLength(2000);
    const events = raw.map((line, i) => eventFromRawLine(line, i + 1));
    const passedThrough: FabricEvent[] = [];
    for (let i = 0; i < events.length; i += 100) {
      const out = await h.stage.process(events.slice(i, i + 100));
      passedThrough.push(...out.filter((e) => !isCorrelationAlert(e)));
      h.alerts.push(...out.filter((e) => isCorrelationAlert(e)));
    }
    expect(passedThrough).toHaveLength(2000);

    const bruteForce = h.alerts.filter((a) => ruleOf(a) === 'rf_brute_force');
    const fired = new Set(bruteForce.map((a) => (a as unknown as { source: { ip: string } }).source.ip));
    expect([...fired].sort()).toEqual([...expected].sort());

    for (const a of bruteForce) {
      const c = corr(a);
      expect(c.count as number).toBeGreaterThanOrEqual(n);
      expect(Date.parse(c.last_seen as string) - Date.parse(c.first_seen as string)).toBeLessThanOrEqual(span);
      expect(a.event.severity).toBe(47);
      expect((a as unknown as { threat: { technique: { id: string[] } } }).threat.technique.id).toContain('T1110.001');
    }
    // Every member detection handed to the stage in the alert's batch or later carries the alert's id.
    const tagged = passedThrough.filter((e) => ((e.fabric as { correlation?: { ids?: string[] } }).correlation?.ids ?? []).length > 0);
    expect(tagged.length).toBeGreaterThanOrEqual(bruteForce.length * n);

    // The one accepted login (119.137.62.142) had no failures before it: no brute-force-then-success.
    const accepted = labelled.filter((r) => r.eventId === 'E1').map((r) => templateValue(r.template, r.content, 3));
    expect(accepted.some((ip) => expected.has(ip))).toBe(false);
    expect(h.alerts.filter((a) => ruleOf(a) === 'rf_brute_force_then_success')).toHaveLength(0);
  });
  it('through the detection engine: brute force fires for exactly the addresses with ≥ N failed-authentication lines within the timespan', async () => {
    const detectionConfig = { ...(Value.Default(DetectionConfigSchema, {}) as DetectionConfig), pool_size: 1 };
    const detect = await createDetectionStage(detectionConfig, { logger: pino({ level: 'silent' }), metrics: new Registry(), configDir: datasets });
    try {
      const h = await harness({ disabled: ['rf_password_spraying', 'rf_scanning_then_exploitation'] });
      const rule = h.stage.rules.find((r) => r.name === 'rf_brute_force')!;
      const n = rule.condition.gte!;
      const span = rule.timespanMs;

      const labelled = parseStructuredCsv(await readFile(path.join(datasets, 'OpenSSH_2k.log_structured.csv'), 'utf8'));
      const { expected, byAddress } = expectedBruteForce(labelled, n, span);
      expect(expected.size).toBeGreaterThanOrEqual(3);
      expect([...byAddress.keys()].filter((a) => IPV4.test(a) && !expected.has(a)).length).toBeGreaterThanOrEqual(3);
      // Addresses with N lines in all but never N within one timespan: they must not fire.
      const spreadOut = [...byAddress].filter(([a, ts]) => IPV4.test(a) && ts.length >= n && !expected.has(a)).map(([a]) => a);
      expect(spreadOut.length).toBeGreaterThanOrEqual(1);

      // As the log-file source emits them: syslog header parsed, the raw line kept in event.original.
      const raw = (await readFile(path.join(datasets, 'OpenSSH_2k.log'), 'utf8')).split(/\r?\n/).filter((l) => l.length > 0);
      const events = raw.map((line, i) => {
        const m = /^(\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\S+) ([^\s[:]+)\[(\d+)\]: (.*)$/.exec(line)!;
        const id = `openssh-${i + 1}`;
        return {
          '@timestamp': new Date(syslogTime(m[1]!, m[2]!, m[3]!)).toISOString(),
          message: m[7]!,
          host: { name: m[4]! },
          process: { name: m[5]!, pid: Number(m[6]) },
          event: { id, kind: 'event', original: line },
          fabric: { collector: 'openssh-file', plugin: '@reactive-fabric/plugin-log-file', fingerprint: id, schema_version: '1.0.0' },
        } as FabricEvent;
      });
      for (let i = 0; i < events.length; i += 200) {
        const out = await h.stage.process(await detect.process(events.slice(i, i + 200)));
        h.alerts.push(...out.filter((e) => isCorrelationAlert(e)));
      }
      const failedDetections = events.filter((e) => isDetection(e) && (e.fabric.matches as Array<{ name: string }>).some((m) => m.name === 'rf_failed_authentication'));
      // One detection per labelled failed-authentication line.
      expect(failedDetections.length).toBe(labelled.filter((r) => r.eventId in FAILED_AUTH_ADDRESS_SLOT).length);

      const fired = new Set(
        h.alerts
          .filter((a) => ruleOf(a) === 'rf_brute_force')
          .map((a) => (a as unknown as { source: { ip: string } }).source.ip)
          .filter((a) => IPV4.test(a)),
      );
      expect([...fired].sort()).toEqual([...expected].sort());
      for (const a of spreadOut) expect(fired.has(a)).toBe(false);
    } finally {
      await detect.stop();
    }
  });
});
