import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { repoRoot, startFabric, tempDir, until, writeAuthLogConfig } from './helpers.js';

/** Subprocess tests run the built CLI (core/dist): build first. */
const fabric = join(repoRoot, 'core/bin/fabric.js');
const dirs: string[] = [];
const servers: net.Server[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A config reading one log file with lines the rules detect, on the embedded sink. */
function setup(admin: string): { dir: string; config: string; state: string } {
  const dir = tempDir('fabric-startup-');
  dirs.push(dir);
  const lines = Array.from({ length: 20 }, (_, i) => `Jan  1 00:00:${String(i).padStart(2, '0')} host sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2`);
  const config = writeAuthLogConfig(dir, ['log_level: warn', 'orchestrator: { collection_interval_seconds: 1 }', `admin: ${admin}`], lines);
  return { dir, config, state: join(dir, 'state') };
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [fabric, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FABRIC_LOG_FORMAT: '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** Lines a person reads (log lines are JSON when stderr is not a terminal). */
const textLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !l.startsWith('{'));

describe('fabric start is all or nothing', () => {
  it('with the admin port taken it exits non-zero with one line naming the port, having read and written nothing', async () => {
    const taken = net.createServer();
    servers.push(taken);
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const { dir, config, state } = setup(`{ enabled: true, port: ${port}, token: "startup-test-token-0123456789" }`);
    const r = await run(['start', '-c', config], dir);
    expect(r.code, r.stderr).toBe(1);
    const lines = textLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${port}`);
    expect(lines[0]).toMatch(/^error: could not start/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // No collector polled: no checkpoint, no event.
    expect(existsSync(join(state, 'checkpoints')) ? readdirSync(join(state, 'checkpoints')) : []).toEqual([]);
    const events = join(state, 'events.jsonl');
    expect(existsSync(events) ? statSync(events).size : 0).toBe(0);
    // The lock went with the process.
    expect(existsSync(join(state, 'instance.lock'))).toBe(false);
  }, 60_000);
});

describe('one instance per state_dir', () => {
  it('a second fabric start and fabric run on the same state_dir are refused with the holder pid; the lock is freed on SIGTERM', async () => {
    const { dir, config, state } = setup('{ enabled: false }');
    const first = startFabric(config, dir);
    await until(() => /reactive fabric running/.test(first.stderr()), 30_000, 50);
    expect(JSON.parse(readFileSync(join(state, 'instance.pid'), 'utf8')).pid).toBe(first.child.pid);

    for (const args of [
      ['start', '-c', config],
      ['run', '--once', '-c', config],
    ]) {
      const second = await run(args, dir);
      expect(second.code, second.stderr).toBe(1);
      expect(second.stderr).toContain(`in use by another fabric instance (pid ${first.child.pid}`);
      expect(textLines(second.stderr)).toHaveLength(1);
    }

    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(join(state, 'instance.lock'))).toBe(false);
    expect(existsSync(join(state, 'instance.pid'))).toBe(false);
    // Free again: a run --once now works.
    const after = await run(['run', '--once', '-c', config], dir);
    expect(after.code, after.stderr).toBe(0);
  }, 90_000);

  it('a lock left by a killed process (SIGKILL) is taken over at once when its pid is gone', async () => {
    const { dir, config, state } = setup('{ enabled: false }');
    const first = startFabric(config, dir);
    await until(() => /reactive fabric running/.test(first.stderr()), 30_000, 50);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(join(state, 'instance.lock'))).toBe(true);
    const after = await run(['run', '--once', '-c', config], dir);
    expect(after.code, after.stderr).toBe(0);
  }, 90_000);
});

describe('log format', () => {
  it('--log-format pretty and FABRIC_LOG_FORMAT=pretty print human-readable lines; json (the default off a terminal) prints JSON; anything else is refused', async () => {
    const { dir, config } = setup('{ enabled: false }');
    writeFileSync(config, readFileSync(config, 'utf8').replace('log_level: warn', 'log_level: debug'));
    const isPretty = (stderr: string) => {
      const logLines = stderr.split('\n').filter((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+:/.test(l));
      return logLines.length > 0 && !stderr.split('\n').some((l) => l.startsWith('{'));
    };
    const pretty = await run(['run', '--once', '-c', config, '--log-format', 'pretty'], dir);
    expect(pretty.code, pretty.stderr).toBe(0);
    expect(isPretty(pretty.stderr), pretty.stderr).toBe(true);
    const fromEnv = await run(['run', '--once', '-c', config], dir, { FABRIC_LOG_FORMAT: 'pretty' });
    expect(isPretty(fromEnv.stderr), fromEnv.stderr).toBe(true);

    const json = await run(['run', '--once', '-c', config], dir);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    // The flag wins over the environment.
    const flagWins = await run(['run', '--once', '-c', config, '--log-format', 'json'], dir, { FABRIC_LOG_FORMAT: 'pretty' });
    expect(isPretty(flagWins.stderr)).toBe(false);

    const bad = await run(['run', '--once', '-c', config, '--log-format', 'xml'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--log-format "xml" is not one of pretty, json');
  }, 90_000);
});
