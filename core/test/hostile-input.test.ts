import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { buildAdminApp } from '../src/admin/index.js';
import { repoRoot, silentLogger, tempDir } from './helpers.js';

/**
 * Hostile lines read by the real log-file plugin (default `format: auto`) through the whole
 * pipeline to the jsonl sink and the dead-letter file.
 */
const syslog = (i: number) => `Dec 10 06:55:${String(i % 60).padStart(2, '0')} LabSZ sshd[${i}]: Accepted publickey for user${i} from 10.0.0.${i % 250} port 22 ssh2`;
const TOKEN = 'hostile-input-admin-token-0123456789';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(lines: string[], extra = '', detection = false): { dir: string; config: string } {
  const dir = tempDir('fabric-hostile-');
  dirs.push(dir);
  writeFileSync(join(dir, 'app.log'), lines.join('\n') + '\n');
  const config = join(dir, 'fabric.yaml');
  writeFileSync(
    config,
    `state_dir: ./state
detection: { enabled: ${detection} }
pipeline: { publish: all }
orchestrator: { event_batch_size: 20 }
collectors:
  - id: app
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [app.log] }
${extra}`,
  );
  return { dir, config };
}

const jsonl = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('hostile log lines through the whole pipeline', () => {
  it('a JSON line nested ~10,700 deep among 120 syslog lines: the 120 reach the sink, the deep one is dead-lettered (TOO_DEEP), the checkpoint is at the end of the file', async () => {
    const lines = Array.from({ length: 120 }, (_, i) => syslog(i));
    const deep = `{"@timestamp":"2026-01-01T00:00:00Z","message":"deep","a":${'{"a":'.repeat(10_700)}1${'}'.repeat(10_700)}}`;
    lines.splice(20, 0, deep);
    const { dir, config } = setup(lines);
    const orch = await composeFabric(loadConfig(config, {}), { cwd: repoRoot, logger: silentLogger(), once: { maxPolls: 10_000 } });
    const report = await orch.runOnce();
    expect(report.collectors[0]).toMatchObject({ events: 121, published: 120 });
    const published = jsonl(join(dir, 'state/events.jsonl'));
    expect(published).toHaveLength(120);
    expect(new Set(published.map((e) => e.message)).size).toBe(120);
    const dead = jsonl(join(dir, 'state/dead-letters.jsonl'));
    expect(dead).toEqual([
      expect.objectContaining({ collector: 'app', plugin: '@reactive-fabric/plugin-log-file', reason: expect.objectContaining({ code: 'TOO_DEEP' }), original_truncated: true }),
    ]);
    // The checkpoint covers the whole file: every line was delivered or dead-lettered.
    const checkpoint = readFileSync(join(dir, 'state/checkpoints/app.json'), 'utf8');
    expect(checkpoint).toContain(String(Buffer.byteLength(lines.join('\n') + '\n')));
    const metrics = await orch.metrics.metrics();
    expect(metrics).toContain('fabric_events_dead_lettered_total{collector="app",reason="TOO_DEEP"} 1');
  });

  it('"__proto__" and "constructor.prototype" keys in a JSON line do not touch Object.prototype; the events are delivered with the key renamed; metrics still render', async () => {
    const lines = [
      syslog(1),
      '{"@timestamp":"2026-01-01T00:00:00Z","message":"x","__proto__":{"pwned":"yes"}}',
      '{"@timestamp":"2026-01-01T00:00:01Z","message":"y","__proto__.polluted":"yes","constructor.prototype.polluted2":"yes"}',
      '{"@timestamp":"2026-01-01T00:00:02Z","message":"z","log":{"__proto__":{"pwned3":"yes"}}}',
      syslog(2),
    ];
    // The whole pipeline: detection (flattening, worker pool) and correlation included.
    const { dir, config } = setup(lines, 'admin: { enabled: false }\n', true);
    const orch = await composeFabric(loadConfig(config, {}), { cwd: repoRoot, logger: silentLogger(), once: { maxPolls: 10_000 } });
    await orch.runOnce();
    const probe = {} as Record<string, unknown>;
    expect([probe.pwned, probe.polluted, probe.polluted2, probe.pwned3]).toEqual([undefined, undefined, undefined, undefined]);
    const published = jsonl(join(dir, 'state/events.jsonl'));
    expect(published.map((e) => e.message)).toEqual(expect.arrayContaining(['x', 'y', 'z']));
    expect(published).toHaveLength(5);
    expect(published.find((e) => e.message === 'x')).toMatchObject({ __proto___: { pwned: 'yes' } });
    expect(published.find((e) => e.message === 'y')).toMatchObject({ __proto___: { polluted: 'yes' }, constructor: { prototype: { polluted2: 'yes' } } });
    // prom-client threw (and the process exited) when Object.prototype carried a label.
    await expect(orch.metrics.metrics()).resolves.toContain('fabric_events_published_total');
  });

  it('GET /dead-letters shows the newest records; GET /collectors/:id counts them', async () => {
    const lines = [
      syslog(1),
      `{"@timestamp":"2026-01-01T00:00:00Z","message":"deep","a":${'['.repeat(50)}${']'.repeat(50)}}`,
      '{"@timestamp":"2026-01-01T00:00:00Z","message":"ok"}',
    ];
    const { config } = setup(lines);
    const orch = await composeFabric(loadConfig(config, {}), { cwd: repoRoot, logger: silentLogger(), once: { maxPolls: 10_000 } });
    await orch.runOnce();
    const app = await buildAdminApp(orch, { enabled: true }, { logger: silentLogger(), token: TOKEN });
    try {
      const auth = { authorization: `Bearer ${TOKEN}` };
      const list = await app.inject({ method: 'GET', url: '/dead-letters?limit=10', headers: auth });
      expect(list.statusCode).toBe(200);
      const body = list.json();
      expect(body).toMatchObject({ total: 1, writeFailures: 0, target: expect.stringContaining('dead-letters.jsonl') });
      expect(body.records).toEqual([
        expect.objectContaining({
          collector: 'app',
          stage: 'normalize',
          reason: expect.objectContaining({ code: 'TOO_DEEP' }),
          original: expect.stringContaining('"message":"deep"'),
        }),
      ]);
      const detail = await app.inject({ method: 'GET', url: '/collectors/app', headers: auth });
      expect(detail.json().metrics.eventsDeadLettered).toBe(1);
    } finally {
      await app.close();
    }
  });
});
