import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfigWithOverlay, overlayPath } from '../../src/config/overlay.js';
import { composeFabric } from '../../src/compose/index.js';
import type { Orchestrator } from '../../src/orchestrator.js';
import { buildAdminApp, startAdminServer, type AdminApp } from '../../src/admin/index.js';
import { reloadOnSighup } from '../../src/cli/reload-signal.js';
import { main } from '../../src/cli/main.js';
import { MemorySink, tempDir, until, writePlugin } from '../helpers.js';
import { SecretAudit, TOKEN, captureLogger, expectError } from './harness.js';

/**
 * Runtime config changes (Kafka Connect's connector config routes) on the real composition:
 * orchestrator, xstate collectors, overlay file, admin API. The plugins are written into the
 * test's folder: `plugin-ticker` emits one event per poll whose message says its label and
 * whether it got the right password; `plugin-failing` fails every poll.
 */
const PASSWORD = 'tick-pass-5c81d0e2a9';
const audit = new SecretAudit();
const running: Array<{ orch: Orchestrator; app: AdminApp }> = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app.close();
    await r.orch.stop();
  }
});
afterAll(() => audit.assertNoneOf([TOKEN, PASSWORD]));

function writePlugins(dir: string): void {
  writePlugin(dir, 'plugin-ticker', {
    body: `configSchema: { type: 'object', properties: { label: { type: 'string' }, password: { type: 'string', writeOnly: true, 'x-secret': true } }, required: ['label'], additionalProperties: false },
  create(config) {
    return {
      async poll({ checkpoint }) {
        const n = checkpoint ? checkpoint.n : 0;
        return { events: [{ '@timestamp': new Date().toISOString(), message: config.label + ' ' + n + ' password-ok=' + (config.password === ${JSON.stringify(PASSWORD)}) }], checkpoint: { n: n + 1 } };
      },
    };
  },`,
  });
  writePlugin(dir, 'plugin-failing', {
    body: `configSchema: { type: 'object' },
  create() {
    return { async poll() { throw new Error('backend refused the connection'); } };
  },`,
  });
}

const BASE = `state_dir: ./state
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
pipeline: { publish: all }
orchestrator: { collection_interval_seconds: 0.05, isolation: inline, health_check_interval_seconds: 1 }
`;

function ticker(id: string, label: string, password = false): string {
  return `  - id: ${id}\n    plugin: plugin-ticker\n    config: { label: ${label}${password ? ', password: "${TICK_PASSWORD}"' : ''} }\n`;
}

async function instance(dir: string, collectors: string, sink = new MemorySink()) {
  const file = join(dir, 'fabric.yaml');
  if (collectors) writeFileSync(file, `${BASE}collectors:\n${collectors}`);
  const env = { TICK_PASSWORD: PASSWORD };
  const { logger, lines } = captureLogger(audit, 'info');
  const orch = await composeFabric(loadConfigWithOverlay(file, env), { cwd: dir, logger, env, sink });
  await orch.start();
  const app = await buildAdminApp(orch, {}, { logger, token: TOKEN });
  running.push({ orch, app });
  const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await app.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
    audit.record(`${method} ${url} -> ${res.statusCode} ${res.body}`);
    return res;
  };
  const messages = (label: string) => sink.events.filter((e) => String(e.message).startsWith(`${label} `)).map((e) => String(e.message));
  return { orch, app, call, sink, file, lines, messages };
}

describe('GET and PUT /collectors/:id/config', () => {
  it('shows the effective config with secrets redacted, and applies a change by restarting only that collector', async () => {
    const dir = tempDir('fabric-runtime-config-');
    writePlugins(dir);
    const fab = await instance(dir, ticker('a', 'A') + ticker('b', 'B') + ticker('c', 'C', true));
    await until(() => fab.messages('A').length > 0 && fab.messages('B').length > 0 && fab.messages('C').length > 0);

    const shown = await fab.call('GET', '/collectors/c/config');
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toEqual({ id: 'c', plugin: 'plugin-ticker', enabled: true, config: { label: 'C', password: '[redacted]' } });
    expect(shown.body).not.toContain(PASSWORD);

    const bBefore = fab.orch.getCollector('b')!;
    const bTransitions = fab.orch.transitions('b')!.length;
    const res = await fab.call('PUT', '/collectors/a/config', { plugin: 'plugin-ticker', config: { label: 'A2' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ id: 'a', plugin: 'plugin-ticker', enabled: true, config: { label: 'A2' } });
    // The new config polls on from the stored checkpoint.
    await until(() => fab.messages('A2').length > 0);
    const aNumbers = [...fab.messages('A'), ...fab.messages('A2')].map((m) => Number(m.split(' ')[1]));
    expect(new Set(aNumbers).size).toBeGreaterThan(1);
    expect(Number(fab.messages('A2')[0]!.split(' ')[1])).toBeGreaterThan(0);
    // The others kept polling through it, and were never restarted.
    const bCount = fab.orch.getCollector('b')!.metrics.eventsCollected;
    await until(() => fab.orch.getCollector('b')!.metrics.eventsCollected > bCount);
    const bAfter = fab.orch.getCollector('b')!;
    expect(bAfter.restartCount).toBe(bBefore.restartCount);
    expect(bAfter.since).toBe(bBefore.since);
    expect(fab.orch.transitions('b')!.length).toBe(bTransitions);
    expect(bAfter.state).toBe('running');
  });

  it('keeps the stored secret when the redacted placeholder is sent back, and stores it in a 0600 overlay', async () => {
    const dir = tempDir('fabric-runtime-secret-');
    writePlugins(dir);
    const fab = await instance(dir, ticker('c', 'C', true));
    const shown = (await fab.call('GET', '/collectors/c/config')).json();
    const res = await fab.call('PUT', '/collectors/c/config', { ...shown, config: { ...shown.config, label: 'C2' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().config).toEqual({ label: 'C2', password: '[redacted]' });
    await until(() => fab.messages('C2').length > 0);
    expect(fab.messages('C2').every((m) => m.endsWith('password-ok=true'))).toBe(true);
    const overlay = overlayPath(join(dir, 'state'));
    expect(JSON.parse(readFileSync(overlay, 'utf8')).collectors.c.config).toEqual({ label: 'C2', password: PASSWORD });
    expect(statSync(overlay).mode & 0o777).toBe(0o600);
    // A new value replaces it.
    await fab.call('PUT', '/collectors/c/config', { plugin: 'plugin-ticker', config: { label: 'C3', password: 'another-one-4821' } });
    await until(() => fab.messages('C3').length > 0);
    expect(fab.messages('C3').every((m) => m.endsWith('password-ok=false'))).toBe(true);
  });

  it('keeps a stopped collector stopped and a paused one paused, as Kafka Connect keeps a target state', async () => {
    const dir = tempDir('fabric-runtime-target-');
    writePlugins(dir);
    const fab = await instance(dir, ticker('s', 'S') + ticker('p', 'P'));
    await until(() => fab.orch.getCollector('s')?.state === 'running' && fab.orch.getCollector('p')?.state === 'running');
    await fab.call('POST', '/collectors/s/stop?wait=5');
    await fab.call('POST', '/collectors/p/pause');
    expect((await fab.call('PUT', '/collectors/s/config', { plugin: 'plugin-ticker', config: { label: 'S2' } })).statusCode).toBe(200);
    expect((await fab.call('PUT', '/collectors/p/config', { plugin: 'plugin-ticker', config: { label: 'P2' } })).statusCode).toBe(200);
    expect(fab.orch.getCollector('s')!.state).toBe('stopped');
    await until(() => fab.orch.getCollector('p')!.state === 'paused');
    // Started again, it runs with the new config.
    await fab.call('POST', '/collectors/s/start');
    await until(() => fab.messages('S2').length > 0);
  });

  it('shows a disabled collector (plugin not loaded: its secret fields unknown) with every string redacted, and enables it from that view', async () => {
    const dir = tempDir('fabric-runtime-disabled-');
    writePlugins(dir);
    const fab = await instance(dir, `${ticker('a', 'A')}  - id: off\n    plugin: plugin-ticker\n    enabled: false\n    config: { label: OFF, password: ${PASSWORD} }\n`);
    expect(fab.orch.getCollector('off')).toBeUndefined();
    const shown = await fab.call('GET', '/collectors/off/config');
    expect(shown.json()).toEqual({ id: 'off', plugin: 'plugin-ticker', enabled: false, config: { label: '[redacted]', password: '[redacted]' } });
    const res = await fab.call('PUT', '/collectors/off/config', { ...shown.json(), enabled: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().config).toEqual({ label: 'OFF', password: '[redacted]' });
    await until(() => fab.messages('OFF').length > 0);
    expect(fab.messages('OFF').every((m) => m.endsWith('password-ok=true'))).toBe(true);
    // Disabled again: no collector, and the view is of the entry as now configured.
    const disabled = await fab.call('PUT', '/collectors/off/config', { plugin: 'plugin-ticker', enabled: false, config: { label: 'OFF2' } });
    expect(disabled.json()).toEqual({ id: 'off', plugin: 'plugin-ticker', enabled: false, config: { label: '[redacted]' } });
    expect(fab.orch.getCollector('off')).toBeUndefined();
    expect(JSON.parse(readFileSync(overlayPath(join(dir, 'state')), 'utf8')).collectors.off.config).toEqual({ label: 'OFF2' });
  });

  it('refuses an invalid config with 400 naming the field, and changes nothing', async () => {
    const dir = tempDir('fabric-runtime-refuse-');
    writePlugins(dir);
    const fab = await instance(dir, ticker('a', 'A'));
    await until(() => fab.messages('A').length > 0);
    const transitions = fab.orch.transitions('a')!.length;
    const wrongType = expectError(await fab.call('PUT', '/collectors/a/config', { plugin: 'plugin-ticker', config: { label: 5 } }), 400, 'CONFIG_REFUSED');
    expect(wrongType.details).toEqual([expect.objectContaining({ path: 'config.label' })]);
    const unknownField = expectError(await fab.call('PUT', '/collectors/a/config', { plugin: 'plugin-ticker', config: { label: 'x', lable: 'y' } }), 400, 'CONFIG_REFUSED');
    expect(JSON.stringify(unknownField.details)).toContain('lable');
    const missing = expectError(await fab.call('PUT', '/collectors/a/config', { plugin: 'plugin-nowhere', config: {} }), 400, 'CONFIG_REFUSED');
    expect(missing.details).toEqual([expect.objectContaining({ path: 'plugin' })]);
    expectError(await fab.call('PUT', '/collectors/a/config', { plugin: 'plugin-ticker', id: 'b', config: { label: 'x' } }), 400, 'CONFIG_REFUSED');
    expectError(await fab.call('PUT', '/collectors/a/config', { plugin: 'plugin-ticker', interval_seconds: -1 }), 400, 'VALIDATION_FAILED');
    expectError(await fab.call('PUT', '/collectors/ghost/config', { plugin: 'plugin-ticker', config: { label: 'x' } }), 404, 'COLLECTOR_NOT_FOUND');
    expect(fab.orch.transitions('a')!.length).toBe(transitions);
    expect(fab.orch.getCollector('a')!.state).toBe('running');
    expect(() => readFileSync(overlayPath(join(dir, 'state')))).toThrow();
  });
});

describe('POST /collectors and DELETE /collectors/:id', () => {
  it('creates and removes collectors, persisted to the overlay that the next start applies', async () => {
    const dir = tempDir('fabric-runtime-crud-');
    writePlugins(dir);
    const first = await instance(dir, ticker('a', 'A') + ticker('b', 'B'));
    const created = await first.call('POST', '/collectors', { id: 'd', plugin: 'plugin-ticker', config: { label: 'D' } });
    expect(created.statusCode, created.body).toBe(201);
    await until(() => first.messages('D').length > 0);
    expectError(await first.call('POST', '/collectors', { id: 'b', plugin: 'plugin-ticker', config: { label: 'B' } }), 409, 'COLLECTOR_EXISTS');
    expectError(await first.call('POST', '/collectors', { id: 'e', plugin: 'plugin-ticker', config: {} }), 400, 'CONFIG_REFUSED');
    const bRestarts = first.orch.getCollector('b')!.restartCount;
    const removed = await first.call('DELETE', '/collectors/a');
    expect(removed.statusCode).toBe(204);
    expect(first.orch.listCollectors().map((c) => c.id)).toEqual(['b', 'd']);
    expectError(await first.call('DELETE', '/collectors/a'), 404, 'COLLECTOR_NOT_FOUND');
    // Its state series are gone from /metrics (an alert on a stopped collector must not fire for it).
    const metrics = (await first.call('GET', '/metrics')).body;
    expect(metrics).toContain('fabric_collector_state{collector="d",state="running"} 1');
    expect(metrics).not.toContain('fabric_collector_state{collector="a"');
    expect(first.orch.getCollector('b')!.restartCount).toBe(bRestarts);
    expect(first.orch.getCollector('b')!.state).toBe('running');
    const r = running.pop()!;
    await r.app.close();
    await r.orch.stop();

    // The next start (same file, same state folder) has the changes.
    const second = await instance(dir, '');
    expect(second.orch.listCollectors().map((c) => c.id)).toEqual(['b', 'd']);
    await until(() => second.messages('D').length > 0);
  });
});

describe('POST /reload and SIGHUP', () => {
  it('restarts only the collectors whose config changed, adds and removes, and refuses an invalid file whole', async () => {
    const dir = tempDir('fabric-runtime-reload-');
    writePlugins(dir);
    const fab = await instance(dir, ticker('a', 'A') + ticker('b', 'B') + ticker('c', 'C'));
    await until(() => fab.messages('A').length > 0 && fab.messages('B').length > 0);
    const aSince = fab.orch.getCollector('a')!.since;
    const aTransitions = fab.orch.transitions('a')!.length;

    writeFileSync(fab.file, `${BASE}log_level: debug\nsink: { type: jsonl, path: ./elsewhere.jsonl }\ncollectors:\n${ticker('a', 'A')}${ticker('b', 'B2')}${ticker('e', 'E')}`);
    const res = await fab.call('POST', '/reload');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ added: ['e'], removed: ['c'], restarted: ['b'], unchanged: ['a'], restartRequired: ['sink'], logLevel: 'debug' });
    expect(
      fab.orch
        .listCollectors()
        .map((c) => c.id)
        .sort(),
    ).toEqual(['a', 'b', 'e']);
    await until(() => fab.messages('B2').length > 0 && fab.messages('E').length > 0);
    expect(fab.orch.getCollector('a')!.since).toBe(aSince);
    expect(fab.orch.transitions('a')!.length).toBe(aTransitions);
    expect(fab.orch.logLevel()).toBe('debug');

    // Invalid: one bad collector and one bad top-level key; nothing of it is applied.
    writeFileSync(fab.file, `${BASE}bogus_key: 1\ncollectors:\n${ticker('a', 'A9')}  - id: z\n    plugin: plugin-ticker\n    config: { label: 7 }\n`);
    const refused = expectError(await fab.call('POST', '/reload'), 400, 'CONFIG_REFUSED');
    expect(refused.message).toContain('the running config stays');
    expect(refused.details!.length).toBeGreaterThan(0);
    expect(
      fab.orch
        .listCollectors()
        .map((c) => c.id)
        .sort(),
    ).toEqual(['a', 'b', 'e']);
    // Plugin-level problems are refused too, with the field named.
    writeFileSync(fab.file, `${BASE}collectors:\n${ticker('a', 'A9')}  - id: z\n    plugin: plugin-ticker\n    config: { label: 7 }\n`);
    const pluginLevel = expectError(await fab.call('POST', '/reload'), 400, 'CONFIG_REFUSED');
    expect(pluginLevel.details).toEqual([expect.objectContaining({ path: 'collectors[1].config.label' })]);
    expect(fab.orch.transitions('a')!.length).toBe(aTransitions);
    expect(
      fab.orch
        .listCollectors()
        .map((c) => c.id)
        .sort(),
    ).toEqual(['a', 'b', 'e']);

    // SIGHUP reloads the same way.
    writeFileSync(fab.file, `${BASE}collectors:\n${ticker('a', 'A')}${ticker('b', 'B2')}`);
    const stop = reloadOnSighup(fab.orch.configControl, fab.orch.logger);
    try {
      process.emit('SIGHUP', 'SIGHUP');
      await until(() => fab.orch.getCollector('e') === undefined);
    } finally {
      stop();
    }
    expect(
      fab.orch
        .listCollectors()
        .map((c) => c.id)
        .sort(),
    ).toEqual(['a', 'b']);
  });
});

describe('health reflects failing polls', () => {
  it('shows a running collector whose polls all fail as degraded with the code, in the API, /health and fabric status', async () => {
    const dir = tempDir('fabric-runtime-health-');
    writePlugins(dir);
    writeFileSync(
      join(dir, 'fabric.yaml'),
      // The machine stays `running` (it degrades only after many errors): health must still say so.
      `${BASE.replace('health_check_interval_seconds: 1', 'health_check_interval_seconds: 1, degraded_after_errors: 1000, stalled_after_intervals: 1000')}collectors:\n${ticker('ok', 'OK')}  - id: down\n    plugin: plugin-failing\n`,
    );
    const fab = await instance(dir, '');
    await until(() => (fab.orch.getCollector('down')?.metrics.pollErrors ?? 0) > 0 && fab.messages('OK').length > 0);
    const list = (await fab.call('GET', '/collectors')).json().collectors as Array<Record<string, unknown>>;
    const down = list.find((c) => c.id === 'down')!;
    expect(down).toMatchObject({ state: 'running', health: 'degraded' });
    expect(down.lastErrorCode).toBe(fab.orch.getCollector('down')!.lastError!.code);
    expect(list.find((c) => c.id === 'ok')).toMatchObject({ state: 'running', health: 'healthy' });
    expect(list.find((c) => c.id === 'ok')!.lastErrorCode).toBeUndefined();
    const health = await fab.app.inject({ url: '/health' });
    expect(health.json().collectors).toEqual({ healthy: 1, degraded: 1, unhealthy: 0, unknown: 0 });

    const { logger } = captureLogger(audit, 'info');
    const server = await startAdminServer(fab.orch, { port: 0, token: TOKEN }, { logger, stateDir: join(dir, 'state'), env: {} });
    try {
      const stdout = new PassThrough();
      let out = '';
      stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await main(['status', '--url', server.url, '--token', TOKEN], { stdout, stderr: new PassThrough(), env: {}, cwd: dir });
      expect(code).toBe(0);
      expect(out).toMatch(new RegExp(`\\ndown\\s+plugin-failing\\s+1\\.2\\.3\\s+source\\s+running\\s+\\S+\\s+degraded \\(${down.lastErrorCode}\\)\\n`));
      expect(out).toMatch(/\nok\s+plugin-ticker\s+1\.2\.3\s+source\s+running\s+\S+\s+healthy\n/);
    } finally {
      await server.close();
    }
  });
});

describe('GET /version and PUT /admin/loggers', () => {
  it('names the versions in use and changes the log level at runtime', async () => {
    const dir = tempDir('fabric-runtime-version-');
    writePlugins(dir);
    const fab = await instance(dir, ticker('a', 'A') + ticker('b', 'B'));
    const version = (await fab.call('GET', '/version')).json();
    expect(version).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.version, pluginApi: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(version.plugins).toEqual([{ name: 'plugin-ticker', version: '1.2.3', collectors: ['a', 'b'] }]);

    expect((await fab.call('GET', '/admin/loggers')).json()).toEqual({ level: 'info' });
    const set = await fab.call('PUT', '/admin/loggers', { level: 'debug' });
    expect(set.json()).toEqual({ level: 'debug', previous: 'info' });
    expect(fab.orch.logger.isLevelEnabled('debug')).toBe(true);
    expectError(await fab.call('PUT', '/admin/loggers', { level: 'verbose' }), 400, 'VALIDATION_FAILED');
    expectError(await fab.call('PUT', '/admin/loggers', { level: 'info', extra: 1 }), 400, 'VALIDATION_FAILED');
    expect(fab.orch.logLevel()).toBe('debug');
  });
});

describe('the overlay file is read as hostile input', () => {
  it('refuses a broken, foreign or invalid overlay with a ConfigError naming the file, never half-applied', async () => {
    const dir = tempDir('fabric-runtime-overlay-');
    writePlugins(dir);
    const file = join(dir, 'fabric.yaml');
    writeFileSync(file, `${BASE}collectors:\n${ticker('a', 'A')}`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'state'), { recursive: true });
    const overlay = overlayPath(join(dir, 'state'));
    for (const [text, message] of [
      ['{"version":1,"collectors":', 'not valid JSON'],
      ['{"version":2,"collectors":{}}', 'not an overlay of this version'],
      ['[1,2,3]', 'not an overlay of this version'],
      ['{"version":1,"collectors":{"b":{"id":"b","plugin":"plugin-ticker","interval_seconds":"soon"}}}', 'collectors.b.interval_seconds'],
      ['{"version":1,"collectors":{"b":{"id":"c","plugin":"plugin-ticker"}}}', 'names id "c"'],
      [`{"version":1,"collectors":{"b":${JSON.stringify({ id: 'b', plugin: 'x', config: {}, pad: 'x'.repeat(1024 * 1024) })}}}`, 'larger than'],
    ] as const) {
      writeFileSync(overlay, text);
      expect(() => loadConfigWithOverlay(file, {}), text.slice(0, 60)).toThrow(message);
      try {
        loadConfigWithOverlay(file, {});
      } catch (err) {
        expect((err as Error).message).toContain(overlay);
      }
    }
    // Removing a collector the file does not have, and a __proto__ id, change nothing else.
    writeFileSync(overlay, '{"version":1,"collectors":{"ghost":null,"__proto__":null}}');
    expect(loadConfigWithOverlay(file, {}).config.collectors.map((c) => c.id)).toEqual(['a']);
    expect(({} as Record<string, unknown>).collectors).toBeUndefined();
  });
});
