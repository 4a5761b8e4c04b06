import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/command.js';
import { allCommands, main } from '../src/cli/main.js';
import { repoRoot } from './helpers.js';

async function fabric(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => ((out += s), true) } as unknown as CliIo['stdout'],
    stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'],
    env: {},
    cwd: repoRoot,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/** Every command and every word path above one ("collector", "collector stop", …). */
const paths = [...new Set(allCommands.flatMap((c) => c.name.map((_, i) => c.name.slice(0, i + 1).join(' '))))];

describe('fabric --help', () => {
  it('lists every command under its group, in a fixed order', async () => {
    const { code, out } = await fabric(['--help']);
    expect(code).toBe(0);
    const groups = ['Run:', 'Watch and control a running instance:', 'Detection:', 'Plugins:'].map((g) => out.indexOf(`\n${g}\n`));
    expect(groups.every((i) => i > 0)).toBe(true);
    expect([...groups].sort((a, b) => a - b)).toEqual(groups);
    for (const p of ['start', 'run', 'validate', 'status', 'collector <command>', 'tap', 'top', 'scan', 'false-positive <command>', 'plugins list', 'plugin new'])
      expect(out).toMatch(new RegExp(`\\n  ${p.replace(/[<>]/g, '\\$&')}\\s{2,}\\S`));
  });

  for (const p of paths) {
    for (const flag of ['--help', '-h']) {
      it(`fabric ${p} ${flag} exits 0 and shows its usage`, async () => {
        const { code, out, err } = await fabric([...p.split(' '), flag]);
        expect(err).toBe('');
        expect(code).toBe(0);
        expect(out).toContain(`Usage: fabric ${p} `);
      });
    }
  }

  it('help <command> shows the same as <command> --help', async () => {
    expect((await fabric(['help', 'collector'])).out).toBe((await fabric(['collector', '--help'])).out);
  });

  it('--version prints the version in core/package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'core/package.json'), 'utf8')) as { version: string };
    const r = await fabric(['--version']);
    expect(r).toEqual({ code: 0, out: `${version}\n`, err: '' });
  });

  it('a command without its subcommand shows that command’s help and exits 2', async () => {
    const r = await fabric(['collector']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Usage: fabric collector');
    for (const sub of ['start', 'stop', 'pause', 'resume', 'restart']) expect(r.err).toMatch(new RegExp(`\\n  ${sub}\\s`));
  });
});

describe('fabric: usage errors', () => {
  it('suggests the command a typo meant, at every level, exit 2', async () => {
    expect(await fabric(['valdate'])).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'valdate'\n(Did you mean validate?)") });
    expect(await fabric(['collector', 'restrat'])).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'restrat'\n(Did you mean restart?)") });
  });

  it('names an unknown flag, suggests the close one and points at the command’s help', async () => {
    const r = await fabric(['validate', '--stirct']);
    expect(r.code).toBe(2);
    expect(r.err).toBe("error: unknown option '--stirct'\n(Did you mean --strict?)\n(fabric validate --help shows the usage)\n");
    const sub = await fabric(['collector', 'stop', 'x', '--wiat', '3']);
    expect(sub.err).toContain("unknown option '--wiat'\n(Did you mean --wait?)\n(fabric collector stop --help");
  });

  it('a command that takes no arguments refuses a stray word instead of ignoring it (validate fabric.yaml without -c)', async () => {
    const r = await fabric(['validate', 'examples/quickstart.yaml']);
    expect(r.code).toBe(2);
    expect(r.err).toBe("error: too many arguments for 'validate'. Expected 0 arguments but got 1.\n(fabric validate --help shows the usage)\n");
  });

  it('a flag without its value is a usage error naming the flag', async () => {
    const r = await fabric(['status', '--state']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("option '--state <state>' argument missing");
  });

  it('a user error (FabricError) is one line without a stack, exit 1', async () => {
    const r = await fabric(['validate', '-c', 'no/such/fabric.yaml']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: invalid configuration in .*no\/such\/fabric\.yaml \(1 problem\):\n {2}.*file not found\n {6}fix: .*\n$/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
