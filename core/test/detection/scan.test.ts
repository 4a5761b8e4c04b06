import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineTime } from '../../src/cli/commands/scan.js';
import { runCommand } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/command.js';
import { UsageError } from '../../src/cli/args.js';
import { datasets, repoRoot } from './helpers.js';
import { tempDir } from '../helpers.js';

// The scan runs on the Piscina pool (dist/): build with `npx tsc -b` first.
/** The command as `fabric scan …` runs it: parsed by the CLI, errors thrown. */
const scan = { run: (argv: string[], io: CliIo) => runCommand(['scan', ...argv], io) };

function io(tty = false) {
  const stdout = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 });
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  return { io: { stdout, stderr, env: {}, cwd: repoRoot }, out: () => out, err: () => err };
}

/** Failed-authentication lines per the loghub labels (same template choice as openssh.test.ts). */
async function labelledFailures(): Promise<number> {
  const csv = await readFile(path.join(datasets, 'loghub/OpenSSH_2k.log_structured.csv'), 'utf8');
  return csv.split('\n').filter((l) => /,(E8|E9|E10|E13|E14|E19|E20),/.test(l)).length;
}

describe('fabric scan', () => {
  it('prints a summary whose failed-authentication count equals the labelled count', async () => {
    const t = io();
    const code = await scan.run(['../shared/datasets/loghub/OpenSSH_2k.log'], t.io);
    expect(code).toBe(0);
    const expected = await labelledFailures();
    expect(expected).toBe(1131);
    expect(t.out()).toMatch(/Scanned 1 file, 2,000 lines/);
    const row = t
      .out()
      .split('\n')
      .find((l) => l.startsWith('rf_failed_authentication'))!;
    expect(row.split(/\s{2,}/)).toEqual(['rf_failed_authentication', 'low', 'T1110', expected.toLocaleString('en-US')]);
    expect(t.out()).toMatch(/^RULE\s+LEVEL\s+ATT&CK\s+HITS$/m);
  });

  it('writes detections as JSON lines with extracted fields and ATT&CK, and draws progress on a TTY', async () => {
    const dir = tempDir('rf-scan-');
    const out = path.join(dir, 'det.jsonl');
    const t = io(true);
    const code = await scan.run([path.join(datasets, 'loghub'), '--json', out], t.io);
    expect(code).toBe(0);
    expect(t.out()).toContain('%');
    const lines = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const failed = lines.filter((d) => d.fabric.matches.some((m: { name: string }) => m.name === 'rf_failed_authentication'));
    const fromOpenSsh = failed.filter((d) => d.log.file.path.endsWith('OpenSSH_2k.log'));
    expect(fromOpenSsh).toHaveLength(await labelledFailures());
    const first = fromOpenSsh[0];
    expect(first).toMatchObject({
      event: { kind: 'alert', original: 'Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186' },
      source: { ip: '173.234.31.186' },
      user: { name: 'webmaster' },
      host: { name: 'LabSZ' },
      threat: { technique: { id: ['T1110'] } },
      log: { file: { line: 2 } },
    });
    // Only the CSV and the logs are in the folder: non-log files produce no detections, not errors.
    expect(t.err()).toBe('');
  });

  it('a line far longer than a chunk is cut, not buffered, and the lines after it are still scanned', async () => {
    const dir = tempDir('rf-scan-');
    const file = path.join(dir, 'huge.log');
    const failed = 'Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root from 198.51.100.7 port 1 ssh2\n';
    await writeFile(file, failed + 'x'.repeat(12 << 20) + '\n' + failed);
    const t = io();
    expect(await scan.run([file], t.io)).toBe(0);
    expect(t.out()).toMatch(/Scanned 1 file, 3 lines/);
    expect(
      t
        .out()
        .split('\n')
        .find((l) => l.startsWith('rf_failed_authentication')),
    ).toMatch(/\s2$/);
  });

  it('dates detections from the line: RFC 3339 as written, BSD syslog in the year of the file', () => {
    const written = new Date('2026-03-01T00:00:00Z');
    expect(lineTime('2026-02-27T10:00:00.5+01:00 host sshd[1]: x', written)).toBe('2026-02-27T09:00:00.500Z');
    expect(lineTime('Feb 27 10:00:00 host sshd[1]: x', written)).toBe('2026-02-27T10:00:00.000Z');
    // December lines in a file written in March come from the year before.
    expect(lineTime('Dec 10 06:55:46 LabSZ sshd[24200]: x', written)).toBe('2025-12-10T06:55:46.000Z');
    expect(lineTime('no time here', written)).toBeUndefined();
  });

  it('names a missing path and a bad flag', async () => {
    const t = io();
    expect(await scan.run(['no/such/file.log'], t.io)).toBe(1);
    expect(t.err()).toContain('no/such/file.log');
    await expect(scan.run(['--bogus', 'x'], io().io)).rejects.toThrow(UsageError);
    await expect(scan.run([], io().io)).rejects.toThrow(/at least one log file/);
  });

  it('a --json path it cannot write is one clear error before any work; a write failing mid-scan (a full disk) is reported, not a crash', async () => {
    const openSsh = path.join(datasets, 'loghub/OpenSSH_2k.log');
    const missing = path.join(tempDir('rf-scan-'), 'no/such/dir/det.jsonl');
    const t = io();
    expect(await scan.run([openSsh, '--json', missing], t.io)).toBe(1);
    expect(t.err()).toContain(`cannot write --json ${missing}: ENOENT`);
    expect(t.out()).not.toContain('Scanned');
    // Linux's /dev/full opens, and then fails every write with ENOSPC.
    const full = io();
    expect(await scan.run([openSsh, '--json', '/dev/full'], full.io)).toBe(1);
    expect(full.out()).toMatch(/Scanned 1 file, 2,000 lines/);
    expect(full.out()).toMatch(/^rf_failed_authentication\s/m);
    expect(full.err()).toContain('writing --json /dev/full failed (ENOSPC)');
  });

  it('--workers: wrong-typed values are usage errors, and a huge one starts no more workers than the input has chunks', async () => {
    const openSsh = path.join(datasets, 'loghub/OpenSSH_2k.log');
    for (const bad of ['abc', '-1', '1.5', '', '1e3']) await expect(scan.run([openSsh, '--workers', bad], io().io)).rejects.toThrow(UsageError);
    // 1e20 is a whole number: it used to reach the pool as its thread count.
    const t = io();
    expect(await scan.run([openSsh, '--workers', '100000000000000000000', '--no-cache'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^rf_failed_authentication\s+low\s+T1110\s+1,131$/m);
  });

  it('reports refused rules of --rules on stderr and still scans', async () => {
    const t = io();
    const code = await scan.run(['../shared/datasets/loghub/Linux_2k.log', '--rules', '../shared/datasets/sigma-rules/rules'], t.io);
    expect(code).toBe(0);
    expect(t.out()).toMatch(/with 83 rules/);
  });
});
