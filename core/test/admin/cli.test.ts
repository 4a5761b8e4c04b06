import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startAdminServer } from '../../src/admin/index.js';
import type { AdminServer } from '../../src/admin/index.js';
import { main } from '../../src/cli/main.js';
import { age } from '../../src/cli/commands/status.js';
import { standardHost } from './fake-host.js';
import type { FakeHost } from './fake-host.js';
import { SecretAudit, TOKEN, captureLogger } from './harness.js';
import { tempDir } from '../helpers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const audit = new SecretAudit();
let host: FakeHost;
let server: AdminServer;
let stateDir: string;
let workDir: string;
const generated: string[] = [];

beforeEach(async () => {
  host = standardHost();
  workDir = tempDir('fabric-cli-');
  stateDir = path.join(workDir, '.fabric');
  const { logger } = captureLogger(audit, 'info');
  // No token configured: the server generates one into .fabric/admin-token, as in a quickstart.
  server = await startAdminServer(host, { port: 0 }, { logger, stateDir, env: {} });
  generated.push(server.token);
});
afterEach(() => server.close());
afterAll(() => audit.assertNoneOf([TOKEN, ...generated]));

async function fabric(argv: string[], env: NodeJS.ProcessEnv = {}, cwd = workDir): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdout, stderr, env, cwd });
  audit.record(out + err);
  return { code, out, err };
}

describe('fabric status', () => {
  it('finds the instance through .fabric/admin-url and admin-token in the working directory and prints a table', async () => {
    host.force('es-prod', 'failed', 'GIVE_UP', 'restart intensity exceeded');
    const { code, out, err } = await fabric(['status']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+PLUGIN\s+VERSION\s+KIND\s+STATE\s+SINCE\s+HEALTH$/);
    expect(lines[1]).toMatch(/^auth-log\s+@reactive-fabric\/plugin-log-file\s+0\.1\.0\s+source\s+running\s+\S+\s+healthy$/);
    expect(out).toMatch(/\nes-prod\s+@reactive-fabric\/plugin-log-elasticsearch\s+0\.1\.0\s+source\s+failed\s+/);
    expect(out).toContain('5 collector(s): 1 running, 2 failed, 1 stopped, 1 paused');
  });

  it('prints JSON and filters by state', async () => {
    const { code, out } = await fabric(['status', '--json', '--state', 'paused']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([expect.objectContaining({ id: 'paused-one', state: 'paused' })]);
    const bad = await fabric(['status', '--state', 'asleep']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--state must be one of idle, starting');
  });

  it('reads the URL and state dir from the config file given with -c', async () => {
    const other = tempDir('fabric-cli-other-');
    const port = new URL(server.url).port;
    await fs.writeFile(path.join(workDir, 'fabric.yaml'), `state_dir: ./.fabric\nadmin:\n  enabled: true\n  port: ${port}\n`);
    await fs.rm(path.join(stateDir, 'admin-url'));
    const { code, out, err } = await fabric(['status', '-c', path.join(workDir, 'fabric.yaml')], {}, other);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('paused-one');
  });

  it('says how to give a token when none is found, and that a wrong one was refused', async () => {
    const elsewhere = tempDir('fabric-cli-none-');
    const none = await fabric(['status', '--url', server.url], {}, elsewhere);
    expect(none.code).toBe(1);
    expect(none.err).toContain('needs a token and none was found: pass --token, set FABRIC_ADMIN_TOKEN');
    const wrong = await fabric(['status'], { FABRIC_ADMIN_TOKEN: 'not-the-token-0000000000' });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('refused the token from FABRIC_ADMIN_TOKEN');
    expect(wrong.err).not.toContain('not-the-token');
  });

  it('explains an unreachable instance with exit code 3', async () => {
    const url = server.url;
    await server.close();
    const { code, err } = await fabric(['status', '--url', url, '--token', 'x'.repeat(20)]);
    expect(code).toBe(3);
    expect(err).toContain(`cannot reach the admin API at ${url}`);
    expect(err).toContain('admin.enabled: true');
  });
});

describe('fabric collector', () => {
  it('restarts a collector and prints the state it settled in', async () => {
    const { code, out } = await fabric(['collector', 'restart', 'broken']);
    expect(code).toBe(0);
    expect(out).toBe('broken: running\n');
    expect(host.getCollector('broken')!.restartCount).toBe(1);
  });

  it('stops, starts, pauses and resumes', async () => {
    for (const [cmd, state] of [
      ['stop', 'stopped'],
      ['start', 'running'],
      ['pause', 'paused'],
      ['resume', 'running'],
    ] as const) {
      const { code, out } = await fabric(['collector', cmd, 'auth-log']);
      expect(code, cmd).toBe(0);
      expect(out).toBe(`auth-log: ${state}\n`);
    }
  });

  it('reports a refused transition and an unknown collector with the API error code', async () => {
    const refused = await fabric(['collector', 'pause', 'stopped-one']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('cannot pause collector "stopped-one" while it is stopped');
    expect(refused.err).toContain('[TRANSITION_NOT_ALLOWED]');
    const unknown = await fabric(['collector', 'stop', 'ghost']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('[COLLECTOR_NOT_FOUND]');
  });

  it('restarts every failed collector with --failed', async () => {
    const { code, out } = await fabric(['collector', 'restart', '--failed']);
    expect(code).toBe(0);
    expect(out).toBe('broken: restarting\n');
  });

  it('rejects bad usage with exit code 2', async () => {
    expect((await fabric(['collector', 'stop'])).err).toContain('missing the collector id');
    expect((await fabric(['collector', 'restart', 'a', '--all'])).code).toBe(2);
    expect((await fabric(['collector', 'stop', 'a', '--wait', 'soon'])).err).toContain('--wait takes 0 to 60 seconds');
  });
});

describe('installed binary', () => {
  it('runs `fabric status` from dist against the instance', async () => {
    const bin = path.join(repoRoot, 'core/bin/fabric.js');
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'status'], { cwd: workDir, env: { PATH: process.env.PATH ?? '' } });
    audit.record(stdout);
    expect(stdout).toMatch(/^ID\s+PLUGIN/);
    expect(stdout).toContain('stopped-one');
  });
});

describe('age', () => {
  it('formats how long ago', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(age('2026-01-01T11:59:55Z', now)).toBe('5s');
    expect(age('2026-01-01T11:57:48Z', now)).toBe('2m12s');
    expect(age('2026-01-01T09:30:00Z', now)).toBe('2h30m');
    expect(age('2025-12-30T10:00:00Z', now)).toBe('2d02h');
    expect(age('garbage', now)).toBe('-');
  });
});
