import { mkdtemp, readFile, rm, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../core/src/cli/main.js';
import { PLUGIN_API_VERSION } from '../../core/src/plugin-api/index.js';

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'rf-plugin-new-'));
});
afterEach(() => rm(cwd, { recursive: true, force: true }));

async function run(...argv: string[]) {
  const out = sink();
  const err = sink();
  const code = await main(['plugin', 'new', ...argv], { stdout: out.stream, stderr: err.stream, env: {}, cwd });
  return { code, stdout: out.text(), stderr: err.text() };
}

async function files(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await files(join(dir, e.name), `${prefix}${e.name}/`)));
    else out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

describe('fabric plugin new', () => {
  it('creates a source package named after the plugin, with every placeholder filled', async () => {
    const r = await run('reactive-fabric-plugin-acme', '--kind', 'source');
    expect(r.code).toBe(0);
    const dir = join(cwd, 'reactive-fabric-plugin-acme');
    expect(await files(dir)).toEqual(['.gitignore', 'README.md', 'package.json', 'src/index.ts', 'test/plugin.test.ts', 'tsconfig.json']);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({
      name: 'reactive-fabric-plugin-acme',
      type: 'module',
      keywords: ['reactive-fabric-plugin', 'source'],
      reactiveFabric: { pluginApi: `^${PLUGIN_API_VERSION.split('.')[0]}.0.0`, kind: 'source' },
      peerDependencies: { '@reactive-fabric/core': expect.stringMatching(/^\^\d+\.\d+\.\d+$/) },
      scripts: { build: expect.stringContaining('tsc'), test: 'vitest run' },
    });
    expect(Object.keys(pkg.devDependencies)).toEqual(expect.arrayContaining(['@reactive-fabric/core', '@reactive-fabric/test-kit', 'typescript', 'vitest']));
    // Not on a registry: linked to the copies installed here (this core, the test kit beside it).
    for (const name of ['@reactive-fabric/core', '@reactive-fabric/test-kit']) {
      const link = pkg.devDependencies[name] as string;
      expect(link).toMatch(/^file:/);
      expect(JSON.parse(await readFile(join(link.slice('file:'.length), 'package.json'), 'utf8')).name).toBe(name);
    }
    const src = await readFile(join(dir, 'src/index.ts'), 'utf8');
    expect(src).toContain("name: 'reactive-fabric-plugin-acme'");
    expect(src).toContain("kind: 'source'");
    expect(src).toContain('acme: { record_id: r.id }');
    for (const f of await files(dir)) expect(await readFile(join(dir, f), 'utf8'), f).not.toMatch(/\{\{\w+\}\}/);
    expect(await readFile(join(dir, 'test/plugin.test.ts'), 'utf8')).toContain('runConformance(plugin');
    expect(r.stdout).toContain('npm install');
  });

  it('creates an enricher in --dir, with a scoped name', async () => {
    const r = await run('@acme/reactive-fabric-plugin-rep', '--kind', 'enricher', '--dir', 'rep');
    expect(r.code).toBe(0);
    const src = await readFile(join(cwd, 'rep/src/index.ts'), 'utf8');
    expect(src).toContain("name: '@acme/reactive-fabric-plugin-rep'");
    expect(src).toContain("kind: 'enricher'");
    expect(src).toContain('async lookup(');
    expect(await readFile(join(cwd, 'rep/README.md'), 'utf8')).toContain('enrichers:\n  - id: rep');
    expect(r.stdout).toContain('acme-reactive-fabric-plugin-rep-0.1.0.tgz');
  });

  it('refuses a folder that is not empty, and leaves it alone', async () => {
    await mkdir(join(cwd, 'taken'));
    await writeFile(join(cwd, 'taken/keep.txt'), 'mine');
    const r = await run('reactive-fabric-plugin-x', '--kind', 'source', '--dir', 'taken');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/taken already exists and is not empty: pick another --dir or remove it/);
    expect(await files(join(cwd, 'taken'))).toEqual(['keep.txt']);
  });

  it('explains bad arguments: invalid name, missing or unknown --kind', async () => {
    const bad = await run('My Plugin', '--kind', 'source');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"My Plugin" is not a valid npm package name');
    const noKind = await run('reactive-fabric-plugin-x');
    expect(noKind.stderr).toContain('missing --kind: source (produces events) or enricher (looks up indicators)');
    const wrongKind = await run('reactive-fabric-plugin-x', '--kind', 'sink');
    expect(wrongKind.stderr).toContain('--kind sink is not a plugin kind: use source or enricher');
    const noName = await run('--kind', 'source');
    expect(noName.stderr).toContain('missing <name>');
    expect(await readdir(cwd)).toEqual([]);
    expect((await run('--help')).code).toBe(0);
  });
});
