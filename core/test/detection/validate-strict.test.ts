import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/command.js';

/** The command as `fabric validate …` runs it: parsed by the CLI, errors thrown. */
const validate = { run: (argv: string[], io: CliIo) => runCommand(['validate', ...argv], io) };
const tmp: string[] = [];
afterEach(async () => {
  for (const d of tmp.splice(0)) await rm(d, { recursive: true, force: true });
});

function io(cwd: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  return { io: { stdout, stderr, env: {}, cwd }, out: () => out, err: () => err };
}

describe('fabric validate --strict', () => {
  it('refuses a config whose rule can never fire (naming rule, field and logsource); without --strict the config is valid', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'rf-validate-'));
    tmp.push(d);
    await mkdir(path.join(d, 'rules'));
    // sudo lines carry USER only through the built-in mapping's rename; this override drops it.
    await writeFile(
      path.join(d, 'rules/sudo_user.yml'),
      "title: Sudo To Negative Uid\nid: sudo-negative-uid\nlogsource:\n    product: linux\n    service: sudo\ndetection:\n    sel:\n        USER: '#-*'\n    condition: sel\nlevel: high\n",
    );
    await writeFile(
      path.join(d, 'fabric.yaml'),
      'detection:\n  rules: [./rules]\n  logsources:\n    - { name: my-sudo, product: linux, service: sudo, when: { process.name: [sudo] } }\n',
    );
    const lax = io(d);
    expect(await validate.run(['-c', 'fabric.yaml'], lax.io)).toBe(0);
    expect(lax.out()).toMatch(/fabric\.yaml: valid/);

    const strict = io(d);
    expect(await validate.run(['-c', 'fabric.yaml', '--strict'], strict.io)).toBe(1);
    expect(strict.err()).toMatch(/never fires: rule "Sudo To Negative Uid" \(.*sudo_user\.yml:6\) can never fire: it needs USER, .*logsource my-sudo/);
    expect(strict.err()).toMatch(/fabric\.yaml: 1 detection rule problem\(s\) \(--strict\)/);

    // With the built-in mapping (USER → user.target.name, written by the sudo extractor) it passes.
    await writeFile(path.join(d, 'fabric.yaml'), 'detection:\n  rules: [./rules]\n');
    const ok = io(d);
    expect(await validate.run(['-c', 'fabric.yaml', '--strict'], ok.io)).toBe(0);
    expect(ok.err()).toBe('');
  });
});
