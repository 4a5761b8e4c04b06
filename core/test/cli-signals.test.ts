import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { repoRoot, startFabric, tempDir, until } from './helpers.js';

/** Subprocess tests run the built CLI (core/dist): build first. */
const fabric = join(repoRoot, 'core/bin/fabric.js');
const dirs: string[] = [];
const servers: Array<{ server: net.Server; held: net.Socket[] }> = [];
afterAll(async () => {
  for (const { server, held } of servers) {
    for (const s of held) s.destroy();
    await new Promise((r) => server.close(r));
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A "broker" that accepts connections and never answers: the Kafka sink's start-up hangs on it. */
async function silentBroker(): Promise<{ port: number; connected: Promise<void> }> {
  const held: net.Socket[] = [];
  let onConnect: () => void = () => undefined;
  const connected = new Promise<void>((r) => (onConnect = r));
  const server = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
    onConnect();
  });
  servers.push({ server, held });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, connected };
}

describe('fabric start: signals during start-up', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} while the sink is still connecting stops gracefully and exits 0 instead of dying from the signal`, async () => {
      const broker = await silentBroker();
      const dir = tempDir('fabric-signal-');
      dirs.push(dir);
      writeFileSync(
        join(dir, 'fabric.yaml'),
        [
          'state_dir: ./state',
          'log_level: info',
          'detection: { enabled: false }',
          'admin: { enabled: true, port: 0, token: "signal-test-token-0123456789" }',
          `sink: { type: kafka, brokers: ["127.0.0.1:${broker.port}"], flush_timeout_seconds: 1, retry: { request_timeout_ms: 60000, connection_timeout_ms: 60000 } }`,
        ].join('\n'),
      );
      const child = spawn(process.execPath, [fabric, 'start', '-c', join(dir, 'fabric.yaml')], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
      // The sink is connecting: start-up is under way and has not finished.
      await Promise.race([broker.connected, exited.then(() => Promise.reject(new Error(`fabric exited before connecting: ${stderr}`)))]);
      expect(stderr).not.toMatch(/reactive fabric running/);
      child.kill(signal);
      const result = await exited;
      expect(result, stderr).toEqual({ code: 0, signal: null });
      expect(stderr).toContain(`${signal}: stopping gracefully`);
      expect(stderr).toMatch(/stopped during start-up/);
      // Nothing started after the signal: the admin API never listened.
      expect(stderr).not.toMatch(/admin API listening/);
    }, 60_000);
  }
});

describe('fabric start: its log output goes away', () => {
  it('stops gracefully and exits 74 when stderr stops taking lines, keeping what it had accepted', async () => {
    const dir = tempDir('fabric-log-lost-');
    dirs.push(dir);
    writeFileSync(join(dir, 'auth.log'), 'Dec  6 05:00:00 host sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2\n');
    writeFileSync(
      join(dir, 'fabric.yaml'),
      [
        'state_dir: ./state',
        'log_level: info',
        'orchestrator: { collection_interval_seconds: 1 }',
        'collectors:',
        '  - { id: auth, plugin: "@reactive-fabric/plugin-log-file", config: { base_dir: ".", paths: [auth.log], format: syslog } }',
        'sink: { type: jsonl }',
      ].join('\n'),
    );
    // The log as JSON on a pipe, like `fabric start 2>&1 | head` or a supervisor's log stream.
    const { child, stderr, exited } = startFabric(join(dir, 'fabric.yaml'), repoRoot);
    await until(() => existsSync(join(dir, 'state/events.jsonl')) && readFileSync(join(dir, 'state/events.jsonl'), 'utf8').includes('203.0.113.9'), 30_000);
    expect(stderr()).toMatch(/reactive fabric running/);
    // The reader goes away; the next line logged (SIGHUP logs one) finds no one to take it.
    child.stderr!.destroy();
    child.kill('SIGHUP');
    const result = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
    expect(result).toEqual({ code: 74, signal: null });
    // A graceful stop: the state folder's lock is released and the event it published is still there.
    expect(readdirSync(join(dir, 'state')).filter((f) => f.includes('lock'))).toEqual([]);
    expect(readFileSync(join(dir, 'state/events.jsonl'), 'utf8')).toContain('203.0.113.9');
  }, 60_000);
});
