import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/command.js';
import { main } from '../src/cli/main.js';
import { repoRoot, tempDir } from './helpers.js';

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers.splice(0)) await c();
});

async function fabric(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => ((out += s), true), once: () => undefined } as unknown as CliIo['stdout'],
    stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'],
    env: {},
    cwd: repoRoot,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/** A "broker" that accepts and never answers, counting who connected. */
async function silentBroker(): Promise<{ port: number; connections: () => number }> {
  const held: net.Socket[] = [];
  const srv = net.createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return { port: (srv.address() as net.AddressInfo).port, connections: () => held.length };
}

const line = (n: number) => `Dec 10 06:55:${String(40 + n).padStart(2, '0')} host sshd[${n}]: Failed password for root from 10.0.0.${n} port 22 ssh2\n`;

function setup(sink: string): { dir: string; config: string; log: string } {
  const dir = tempDir('fabric-dry-');
  mkdirSync(join(dir, 'logs'));
  const log = join(dir, 'logs', 'auth.log');
  writeFileSync(log, line(1) + line(2));
  const config = join(dir, 'fabric.yaml');
  const write = (s: string) =>
    writeFileSync(
      config,
      [
        'state_dir: ./state',
        'admin: { enabled: false }',
        'collectors:',
        '  - id: auth',
        '    plugin: "@reactive-fabric/plugin-log-file"',
        '    config: { base_dir: ./logs, paths: [auth.log], format: syslog }',
        `sink: ${s}`,
      ].join('\n'),
    );
  write(sink);
  return { dir, config, log };
}

/** Every file under the state folder and its content: checkpoints, correlation state, sink files. */
function stateFiles(dir: string, root = join(dir, 'state'), prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(root)) {
    const full = join(root, name);
    if (statSync(full).isDirectory()) Object.assign(out, stateFiles(dir, full, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = readFileSync(full, 'base64');
  }
  return out;
}

function checkpoints(dir: string): Record<string, string> {
  const folder = join(dir, 'state', 'checkpoints');
  return Object.fromEntries(readdirSync(folder).map((f) => [f, readFileSync(join(folder, f), 'utf8')]));
}

describe('fabric run --once --dry-run', () => {
  it('prints the events after the stored checkpoint as JSON lines, commits nothing and never contacts the Kafka sink', async () => {
    const { dir, config, log } = setup('{ type: jsonl }');
    // A real run first: its checkpoint is the position the dry runs start from.
    const real = await fabric(['run', '--once', '-c', config]);
    expect(real.code, real.err).toBe(0);
    expect(real.out).toContain('auth: 2 events in');
    const before = checkpoints(dir);
    expect(Object.keys(before)).toEqual(['auth.json']);
    const state = stateFiles(dir);
    expect(Object.keys(state)).toEqual(expect.arrayContaining(['checkpoints/auth.json', 'events.jsonl', expect.stringMatching(/^correlation-state\.json/)]));

    appendFileSync(log, line(3) + line(4));
    const broker = await silentBroker();
    writeFileSync(config, readFileSync(config, 'utf8').replace('sink: { type: jsonl }', `sink: { type: kafka, brokers: ["127.0.0.1:${broker.port}"] }`));
    for (let i = 0; i < 2; i++) {
      const dry = await fabric(['run', '--once', '--dry-run', '-c', config]);
      expect(dry.code, dry.err).toBe(0);
      const events = dry.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { message: string; fabric: { collector: string } });
      // The same two new lines both times: the first dry run moved no checkpoint.
      expect(events.map((e) => e.message)).toEqual(['Failed password for root from 10.0.0.3 port 22 ssh2', 'Failed password for root from 10.0.0.4 port 22 ssh2']);
      expect(events.every((e) => e.fabric.collector === 'auth')).toBe(true);
      expect(dry.err).toContain('auth: 2 events in 1 poll(s), 2 printed');
      expect(dry.err).toContain('dry run: printed 2 event(s); nothing was written to the kafka sink and no checkpoint moved');
    }
    expect(checkpoints(dir)).toEqual(before);
    // Nothing else in the state folder moved either: sink files, correlation state.
    expect(stateFiles(dir)).toEqual(state);
    expect(broker.connections()).toBe(0);
  }, 60_000);

  it('without --dry-run, a Kafka sink that does not answer ends the run with one clear line, before anything is read', async () => {
    const broker = await silentBroker();
    const { dir, config } = setup(`{ type: kafka, brokers: ["127.0.0.1:${broker.port}"], retry: { connection_timeout_ms: 200 } }`);
    const r = await fabric(['run', '--once', '-c', config]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      new RegExp(
        `^error: the Kafka sink did not accept a connection \\(brokers 127\\.0\\.0\\.1:${broker.port}\\): .+\\. Nothing was read and no checkpoint moved; .*--dry-run\\n$`,
      ),
    );
    expect(broker.connections()).toBeGreaterThan(0);
    expect(() => checkpoints(dir)).toThrow(/ENOENT/);
  }, 60_000);

  it('a reader that goes away (`| head`) ends the printing, not the process: the run finishes, says so, and moves nothing', async () => {
    const { dir, config, log } = setup('{ type: jsonl }');
    appendFileSync(log, line(3) + line(4));
    // As a pipe whose reader closed: every write fails with EPIPE, reported as the stream's 'error' event.
    let writes = 0;
    const stdout = new Writable({
      write(_chunk, _enc, done) {
        writes++;
        done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    let err = '';
    const io: CliIo = { stdout, stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'], env: {}, cwd: repoRoot };
    const code = await main(['run', '--once', '--dry-run', '-c', config], io);
    expect(code, err).toBe(0);
    expect(writes).toBe(1);
    // The one write failed: none of the 4 events reached the reader, and the summary must not claim they did.
    expect(err).toContain('auth: 4 events in 1 poll(s), 4 sent to stdout\n');
    expect(err).toContain("dry run: stdout's reader went away (EPIPE) after 0 of 4 event(s) had been written to it; the rest were not printed");
    expect(() => checkpoints(dir)).toThrow(/ENOENT/);
  }, 60_000);

  it('a stdout that fails (`> file` on a full disk) ends the printing too, and the exit code says the output is incomplete', async () => {
    const { config } = setup('{ type: jsonl }');
    const stdout = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' }));
      },
    });
    let err = '';
    const io: CliIo = { stdout, stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'], env: {}, cwd: repoRoot };
    expect(await main(['run', '--once', '--dry-run', '-c', config], io)).toBe(1);
    expect(err).toContain('dry run: writing to stdout failed (ENOSPC) after 0 of 2 event(s)');
  }, 60_000);

  it('run without --once is a usage error', async () => {
    const r = await fabric(['run', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('fabric run needs --once');
  });
});
