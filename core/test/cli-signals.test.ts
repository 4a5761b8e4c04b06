import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers.js';

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
