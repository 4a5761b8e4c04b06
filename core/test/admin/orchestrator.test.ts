import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import { composeFabric } from '../../src/compose/index.js';
import type { Orchestrator } from '../../src/orchestrator.js';
import { startAdminServer, type AdminServer } from '../../src/admin/index.js';
import { SecretAudit, captureLogger } from './harness.js';
import { SseReader } from './sse-client.js';
import { tempDir } from '../helpers.js';

/**
 * The admin API in front of the real orchestrator, xstate collector machines and the real
 * log-file plugin, started the way `fabric start` starts it (admin.enabled in the config).
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TOKEN = 'orchestrator-admin-token-5c4b3a2918';
const audit = new SecretAudit();
let orch: Orchestrator;
let admin: AdminServer | undefined;
let url: string;
let dir: string;
const auth = { authorization: `Bearer ${TOKEN}` };

async function get<T = Record<string, unknown>>(route: string): Promise<{ status: number; body: T; text: string }> {
  const res = await fetch(`${url}${route}`, { headers: auth });
  const text = await res.text();
  audit.record(text);
  return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T, text };
}

async function send(method: string, route: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  audit.record(text);
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function until(pred: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = tempDir('fabric-admin-orch-');
  await fs.writeFile(
    path.join(dir, 'auth.log'),
    [
      'Jan 10 10:00:01 web1 sshd[101]: Failed password for root from 203.0.113.9 port 50022 ssh2',
      'Jan 10 10:00:02 web1 sshd[101]: Failed password for root from 203.0.113.9 port 50023 ssh2',
      'Jan 10 10:00:03 web1 sshd[102]: Accepted password for deploy from 198.51.100.4 port 40000 ssh2',
    ].join('\n') + '\n',
  );
  const yaml = `
state_dir: ./state
log_level: info
orchestrator:
  collection_interval_seconds: 0.2
  health_check_interval_seconds: 1
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
pipeline: { publish: all }
admin:
  enabled: true
  port: 0
  token: \${FABRIC_ADMIN_TOKEN}
collectors:
  - id: auth-log
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [auth.log], format: syslog }
  - id: second
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [other.log], format: syslog }
sink:
  type: jsonl
`;
  const env = { ...process.env, FABRIC_ADMIN_TOKEN: TOKEN };
  const loaded = parseConfig(yaml, path.join(dir, 'fabric.yaml'), env);
  const { logger } = captureLogger(audit, 'info');
  orch = await composeFabric(loaded, { cwd: repoRoot, logger, env });
  await orch.start();
  admin = await startAdminServer(orch, loaded.config.admin, { logger, stateDir: loaded.stateDir, env });
  url = admin.url;
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  await until(async () => ((await get<{ collectors: Array<{ state: string }> }>('/collectors')).body.collectors ?? []).every((c) => c.state === 'running'));
}, 60_000);

afterAll(async () => {
  await orch?.stop();
  await admin?.close();
  audit.assertNoneOf([TOKEN]);
});

describe('admin API on the real orchestrator', () => {
  it('lists the configured collectors with their plugin and state', async () => {
    const { status, body } = await get<{ collectors: Array<Record<string, unknown>> }>('/collectors');
    expect(status).toBe(200);
    expect(body.collectors.map((c) => [c.id, c.plugin, c.state, c.kind])).toEqual([
      ['auth-log', '@reactive-fabric/plugin-log-file', 'running', 'source'],
      ['second', '@reactive-fabric/plugin-log-file', 'running', 'source'],
    ]);
  });

  it('shows a collector with metrics and its committed checkpoint', async () => {
    await until(async () => ((await get<{ metrics: { eventsCollected: number } }>('/collectors/auth-log')).body.metrics.eventsCollected ?? 0) >= 3);
    await until(async () => (await get<{ value?: unknown }>('/collectors/auth-log/checkpoint')).body.value !== undefined);
    const { status, body } = await get<Record<string, any>>('/collectors/auth-log');
    expect(status).toBe(200);
    expect(body.metrics.eventsCollected).toBe(3);
    expect(body.description.backend).toBeDefined();
    expect(body.restartCount).toBe(0);
    expect(body.checkpoint.value).toBeDefined();
  });

  it('draws the xstate machine and lists its transitions', async () => {
    const machine = await get<{ current: string; states: Array<{ name: string; transitions: Array<{ event: string; target: string }> }> }>('/collectors/auth-log/machine');
    expect(machine.status).toBe(200);
    expect(machine.body.current).toBe('running');
    const names = machine.body.states.map((s) => s.name);
    for (const s of ['idle', 'starting', 'running', 'degraded', 'paused', 'stopping', 'stopped', 'failed']) expect(names).toContain(s);
    const running = machine.body.states.find((s) => s.name === 'running')!;
    expect(running.transitions.some((t) => t.event === 'STOP')).toBe(true);
    const transitions = await get<{ transitions: Array<{ to: string }> }>('/collectors/auth-log/transitions');
    expect(transitions.body.transitions.map((t) => t.to)).toContain('running');
  });

  it('streams the transitions caused by POST /collectors/:id/stop on GET /events', async () => {
    const sse = await SseReader.open(`${url}/events?collector=auth-log`, auth);
    try {
      await sse.until((e) => e.some((x) => x.event === 'snapshot'));
      const stop = await send('POST', '/collectors/auth-log/stop?wait=10');
      expect(stop.status).toBe(200);
      expect(stop.body).toEqual({ id: 'auth-log', command: 'stop', state: 'stopped' });
      const events = await sse.until((e) => e.some((x) => x.event === 'transition' && (x.data as { to: string }).to === 'stopped'));
      const transitions = events.filter((e) => e.event === 'transition').map((e) => e.data as { collector: string; from: string; to: string; event: string });
      expect(transitions[0]).toMatchObject({ collector: 'auth-log', from: 'running', event: 'STOP' });
      expect(transitions.at(-1)).toMatchObject({ collector: 'auth-log', to: 'stopped' });
      expect(events.some((e) => e.event === 'status' && (e.data as { state: string }).state === 'stopped')).toBe(true);
    } finally {
      for (const e of sse.events) audit.record(JSON.stringify(e));
      sse.close();
    }
  });

  it('answers a second stop with 202 and the state (idempotent, as Kafka Connect), and refuses checkpoint writes while running', async () => {
    const again = await send('POST', '/collectors/auth-log/stop');
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ id: 'auth-log', command: 'stop', state: 'stopped' });
    const write = await send('PUT', '/collectors/second/checkpoint', { value: { files: {} } });
    expect(write.status).toBe(409);
    expect(write.body).toMatchObject({ code: 'CHECKPOINT_CONFLICT', state: 'running' });
  });

  it('resets the checkpoint of a stopped collector, which then re-reads the file from the start', async () => {
    const del = await fetch(`${url}/collectors/auth-log/checkpoint`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(204);
    expect((await get<{ value?: unknown }>('/collectors/auth-log/checkpoint')).body.value).toBeUndefined();
    const start = await send('POST', '/collectors/auth-log/start?wait=10');
    expect(start.body).toEqual({ id: 'auth-log', command: 'start', state: 'running' });
    await until(async () => (await get<{ metrics: { eventsCollected: number } }>('/collectors/auth-log')).body.metrics.eventsCollected >= 6);
  });

  it('pauses, resumes and restarts through the API', async () => {
    expect((await send('POST', '/collectors/second/pause')).body).toMatchObject({ state: 'paused' });
    expect((await send('POST', '/collectors/second/resume?wait=10')).body).toMatchObject({ state: 'running' });
    const restart = await send('POST', '/collectors/second/restart?wait=10');
    expect(restart.status).toBe(200);
    expect(restart.body.state).toBe('running');
    await until(async () => (await get<{ restartCount: number }>('/collectors/second')).body.restartCount === 1);
  });

  it('lists the installed log-file plugin and validates a config for it', async () => {
    const plugins = await get<{ plugins: Array<{ name: string; compatible: boolean }> }>('/plugins');
    expect(plugins.body.plugins).toContainEqual(expect.objectContaining({ name: '@reactive-fabric/plugin-log-file', compatible: true }));
    const v = await send('POST', `/plugins/${encodeURIComponent('@reactive-fabric/plugin-log-file')}/config/validate`, { paths: [], format: 'xml' });
    expect(v.status).toBe(200);
    expect(v.body.valid).toBe(false);
    expect([...new Set((v.body.errors as Array<{ path: string }>).map((e) => e.path))].sort()).toEqual(['/format', '/paths']);
  });

  it('serves readiness and metrics that pass promtool', async () => {
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(200);
    audit.record(await ready.text());
    const metrics = await get<string>('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('auth-log');
    const promtool = execFileSync('bash', [path.join(repoRoot, 'scripts/ensure-promtool.sh')], { encoding: 'utf8', timeout: 240_000 })
      .trim()
      .split('\n')
      .pop()!;
    const r = spawnSync(promtool, ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
    const stats = await get<Record<string, unknown>>('/stats');
    expect(stats.status).toBe(200);
  }, 300_000);

  it('answers 400 on false positives when enrichment is off, saying why', async () => {
    const res = await get<{ code: string; message: string }>('/false-positives');
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_REQUEST');
    expect(res.body.message).toContain('enrichment');
  });
});
