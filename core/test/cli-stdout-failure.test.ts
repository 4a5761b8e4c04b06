// stdout failing for real (a full disk: /dev/full), in the built CLI (core/dist: build first): the
// process-level listener (cli/main.ts) and a command's own report must not both speak, and the
// exit code must say the output is incomplete even when the write fails after the command returned.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from './helpers.js';

const fabric = join(repoRoot, 'core/bin/fabric.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the CLI with stdout on /dev/full, where every write fails with ENOSPC. */
async function onFullDisk(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const full = openSync('/dev/full', 'w');
  try {
    const child = spawn(process.execPath, [fabric, ...args], { cwd: repoRoot, stdio: ['ignore', full, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { code, stderr };
  } finally {
    closeSync(full);
  }
}

describe('the CLI with stdout on a full disk', () => {
  it('a command that only prints (`fabric plugins list > file`) exits 1 and says once that the output is incomplete', async () => {
    const { code, stderr } = await onFullDisk(['plugins', 'list']);
    expect(code).toBe(1);
    expect(stderr.match(/writing to stdout failed \(ENOSPC\)/g)).toHaveLength(1);
    expect(stderr).toContain('the output is incomplete');
  }, 60_000);

  it('the dry run reports the failure once, in its own summary', async () => {
    const dir = tempDir('fabric-full-');
    dirs.push(dir);
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'auth.log'), 'Dec 10 06:55:41 host sshd[1]: Failed password for root from 10.0.0.1 port 22 ssh2\n');
    writeFileSync(
      join(dir, 'fabric.yaml'),
      [
        'state_dir: ./state',
        'admin: { enabled: false }',
        'collectors:',
        '  - { id: auth, plugin: "@reactive-fabric/plugin-log-file", config: { base_dir: ./logs, paths: [auth.log], format: syslog } }',
        'sink: { type: jsonl }',
      ].join('\n'),
    );
    const { code, stderr } = await onFullDisk(['run', '--once', '--dry-run', '-c', join(dir, 'fabric.yaml')]);
    expect(code).toBe(1);
    expect(stderr.match(/writing to stdout failed \(ENOSPC\)/g)).toHaveLength(1);
    expect(stderr).toContain('dry run: writing to stdout failed (ENOSPC)');
    expect(stderr).not.toContain('the output is incomplete');
  }, 60_000);
});
