import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/command.js';

// The scan runs on the Piscina pool (dist/): build with `npx tsc -b` first.
/** The command as `fabric scan …` runs it: parsed by the CLI, errors thrown. */
const scan = { run: (argv: string[], io: CliIo) => runCommand(['scan', ...argv], io) };

const tmp: string[] = [];
afterEach(async () => {
  for (const d of tmp.splice(0)) await rm(d, { recursive: true, force: true });
});

function io(cwd: string, env: NodeJS.ProcessEnv = {}) {
  const stdout = Object.assign(new PassThrough(), { isTTY: false, columns: 100 });
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  return { io: { stdout, stderr, env, cwd }, out: () => out, err: () => err };
}

/** A folder with a log of a made-up product, a rule for it, and a logsource file mapping it. */
async function fixture(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'rf-scan-ls-'));
  tmp.push(d);
  await mkdir(path.join(d, 'rules'));
  await writeFile(
    path.join(d, 'app.log'),
    [
      'Dec  3 10:00:00 web1 acmed[42]: login user=root from=203.0.113.9',
      'Dec  3 10:00:01 web1 acmed[42]: login user=alice from=203.0.113.10',
      'Dec  3 10:00:02 web1 other[7]: login user=root from=203.0.113.11',
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(d, 'rules/acme_root.yml'),
    'title: Acme Root Login\nid: acme-root-login\nlogsource:\n    product: acme\ndetection:\n    sel:\n        Who: root\n    condition: sel\nlevel: high\n',
  );
  await writeFile(path.join(d, 'acme.yml'), 'logsources:\n  - name: acme\n    product: acme\n    when: { process.name: [acmed] }\n    fields: { Who: acme.user }\n');
  return d;
}

describe('fabric scan --logsources / --config', () => {
  it('a rule for an unmapped product is refused; --logsources maps it, and a field only an extractor could write is reported when none does', async () => {
    const d = await fixture();
    const without = io(d);
    expect(await scan.run(['app.log', '--rules', 'rules', '--no-builtin', '--no-cache', '--json', 'a.jsonl'], without.io)).toBe(1);
    expect(without.err()).toMatch(/refused .*acme_root\.yml:3 \[logsource\] "Acme Root Login": no logsource mapping for product=acme.*--logsources/);

    // The mapping renames Who → acme.user, which only an extractor can write: without one the rule can never fire.
    const noExtractor = io(d);
    expect(await scan.run(['app.log', '--rules', 'rules', '--no-builtin', '--no-cache', '--logsources', 'acme.yml'], noExtractor.io)).toBe(0);
    expect(noExtractor.err()).toMatch(/warning: rule "Acme Root Login" .* can never fire: it needs Who \(acme\.user\), .* logsource acme/);
    expect(noExtractor.out()).toMatch(/with 1 rules \(1 can never fire on text lines: see stderr\)/);
    expect(noExtractor.out()).toContain('No rule matched.');
  });

  it('--config brings detection.logsources (relative to the config) and extractors; only the acmed root line matches', async () => {
    const d = await fixture();
    await mkdir(path.join(d, 'conf'));
    await writeFile(
      path.join(d, 'conf/fabric.yaml'),
      [
        'detection:',
        '  builtin_rules: false',
        '  rules: [../rules]',
        '  logsources: [../acme.yml]',
        '  extractors:',
        '    - { name: acme_kv, type: kv, when: { process.name: [acmed] }, source: [message], prefix: acme., fields: { from: source.ip } }',
        '',
      ].join('\n'),
    );
    const t = io(d);
    expect(await scan.run(['app.log', '--config', 'conf/fabric.yaml', '--no-cache', '--json', 'det.jsonl'], t.io)).toBe(0);
    expect(t.err()).toBe('');
    const row = t
      .out()
      .split('\n')
      .find((l) => l.startsWith('acme-root-login'))!;
    expect(row.split(/\s{2,}/)).toEqual(['acme-root-login', 'high', '-', '1']);
    const det = (await import('node:fs/promises')).readFile(path.join(d, 'det.jsonl'), 'utf8');
    const lines = (await det)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ acme: { user: 'root' }, source: { ip: '203.0.113.9' }, log: { file: { line: 1 } } });
  });

  it('Windows rules on text lines are reported once per logsource; the parse cache lands in --cache-dir', async () => {
    const d = await fixture();
    await writeFile(
      path.join(d, 'rules/win.yml'),
      'title: Win Certutil\nid: win-certutil\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        CommandLine|contains: urlcache\n    condition: sel\nlevel: high\n',
    );
    const cache = path.join(d, 'cache');
    const t = io(d);
    expect(await scan.run(['app.log', '--rules', 'rules', '--logsources', 'acme.yml', '--cache-dir', 'cache'], t.io)).toBe(0);
    expect(t.err()).toMatch(
      /warning: 1 rule of logsource windows-process_creation can never fire on text lines: the logsource selects events by winlog\.channel, event\.code.*"Win Certutil"/,
    );
    expect(t.out()).toMatch(/\(2 can never fire on text lines: see stderr\)/);
    expect((await readdir(cache)).some((f) => /^rules-[0-9a-f]+\.json$/.test(f))).toBe(true);
    // Same answer from the cache.
    const again = io(d);
    expect(await scan.run(['app.log', '--rules', 'rules', '--logsources', 'acme.yml', '--cache-dir', 'cache'], again.io)).toBe(0);
    expect(again.err()).toBe(t.err());
    expect(again.out().replace(/in [\d.]+ s \([\d,]+ lines\/s\)/, '')).toBe(t.out().replace(/in [\d.]+ s \([\d,]+ lines\/s\)/, ''));
  });

  it('flags are checked: --cache-dir with --no-cache, a broken logsource file', async () => {
    const d = await fixture();
    await expect(scan.run(['app.log', '--cache-dir', 'x', '--no-cache'], io(d).io)).rejects.toThrow(/exclude each other/);
    await writeFile(path.join(d, 'bad.yml'), '- { product: acme, colour: blue }\n');
    await expect(scan.run(['app.log', '--logsources', 'bad.yml', '--no-cache'], io(d).io)).rejects.toThrow(/bad\.yml: not a logsource file/);
  });
});
