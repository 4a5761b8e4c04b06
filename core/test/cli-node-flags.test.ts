import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { missingNodeFlags, missingRuntimeV8Flags, NODE_FLAGS, RUNTIME_V8_FLAGS } from '../src/cli/node-flags.js';
import { repoRoot, tempDir, until, writeAuthLogConfig } from './helpers.js';

/** Subprocess tests run the built CLI (core/dist): build first. */
const bin = join(repoRoot, 'core/bin/fabric.js');
const ADVICE = /node runs without --max-semi-space-size=64/;
const V8_SET = /V8 set to --/;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the V8 flags fabric runs with (core/src/cli/node-flags.ts)', () => {
  it('are the ones the bin, the systemd unit and the quickstart start node with', () => {
    const shebang = readFileSync(bin, 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    const unit = readFileSync(join(repoRoot, 'deploy/systemd/reactive-fabric.service'), 'utf8');
    expect(unit).toContain(`Environment=NODE_OPTIONS=${NODE_FLAGS.join(' ')}\n`);
    expect(readFileSync(join(repoRoot, 'scripts/quickstart.mjs'), 'utf8')).toMatch(/spawn\(process\.execPath, \[\.\.\.NODE_FLAGS, join\(root, 'core\/bin\/fabric\.js'\)/);
  });

  it('count as given in either spelling, with another value, or through NODE_OPTIONS', () => {
    expect(missingNodeFlags([])).toEqual(['--max-semi-space-size=64']);
    expect(missingNodeFlags(['--max-semi-space-size=64'])).toEqual([]);
    expect(missingNodeFlags(['--max_semi_space_size=128'])).toEqual([]);
    expect(missingNodeFlags(['--expose-gc'], '--max-old-space-size=4096  --max-semi-space-size=32')).toEqual([]);
    expect(missingNodeFlags(['--max-old-space-size=4096'], 'max-semi-space-size=32')).toEqual(['--max-semi-space-size=64']);
  });

  it('runtime flags an operator gave, in either spelling or with any value, are not set over', () => {
    expect(missingRuntimeV8Flags([])).toEqual(RUNTIME_V8_FLAGS);
    expect(missingRuntimeV8Flags(['--incremental_marking_soft_trigger=0', '--heap-growing-percent=0', '--expose-gc'])).toEqual(['--incremental-marking-hard-trigger=95']);
    // A flag without a value, and arguments that are not flags, are read as they are.
    expect(missingRuntimeV8Flags(['--incremental-marking-hard-trigger', 'incremental-marking-soft-trigger=1', '--heap-growing-percent=100'])).toEqual([
      '--incremental-marking-soft-trigger=80',
    ]);
  });

  /** `fabric start` on a one-collector config at log level info; resolves with its log once it is running. */
  async function start(launch: 'as installed' | 'with a bare node' | 'with its own heap growth'): Promise<string> {
    const dir = tempDir('fabric-node-flags-');
    dirs.push(dir);
    const config = writeAuthLogConfig(
      dir,
      ['log_level: info', 'admin: { enabled: false }'],
      ['Jan  1 00:00:00 host sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2'],
    );
    const args = ['start', '-c', config];
    // The shebang's `env` finds node on PATH: the very node this test runs on.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`, NODE_OPTIONS: '', FABRIC_LOG_FORMAT: 'json' };
    const child =
      launch === 'as installed'
        ? spawn(bin, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn(process.execPath, [...(launch === 'with its own heap growth' ? ['--heap-growing-percent=50'] : []), bin, ...args], {
            cwd: dir,
            env,
            stdio: ['ignore', 'ignore', 'pipe'],
          });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await until(() => /"collector":"auth"[^\n]*running|running[^\n]*"collector":"auth"/.test(log) || readEvents(dir), 20_000);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    return log;
  }
  const readEvents = (dir: string) => {
    try {
      return readFileSync(join(dir, 'state/events.jsonl'), 'utf8').includes('203.0.113.9');
    } catch {
      return false;
    }
  };

  it('are set when fabric is started as installed (its shebang), and a bare `node fabric.js` is told how to add them', async () => {
    const installed = await start('as installed');
    expect(installed).not.toMatch(ADVICE);
    const bare = await start('with a bare node');
    expect(bare).toMatch(ADVICE);
    const line = JSON.parse(bare.split('\n').find((l) => ADVICE.test(l))!) as { level: number; missing: string[] };
    expect(line.missing).toEqual(['--max-semi-space-size=64']);
  }, 60_000);

  it('cap the heap growth and set when marking starts however fabric was started (Node refuses those flags in NODE_OPTIONS), keeping a value node was given', async () => {
    const triggers = ['--incremental-marking-soft-trigger=80', '--incremental-marking-hard-trigger=95'];
    expect(RUNTIME_V8_FLAGS).toEqual(['--heap-growing-percent=100', ...triggers]);
    const v8FlagsSet = (log: string) => (JSON.parse(log.split('\n').find((l) => V8_SET.test(l))!) as { v8_flags: string[] }).v8_flags;
    for (const launch of ['as installed', 'with a bare node'] as const) expect(v8FlagsSet(await start(launch))).toEqual(RUNTIME_V8_FLAGS);
    // Its own heap growth is kept; the flags it did not give are still set.
    expect(v8FlagsSet(await start('with its own heap growth'))).toEqual(triggers);
  }, 90_000);
});
