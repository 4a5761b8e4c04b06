/**
 * What each published package would contain, from `npm pack --dry-run --json` (the same file list
 * npm and pnpm pack): the licence and README a user and a registry expect, every entry point its
 * package.json names (main, types, exports, bin), and none of the repository's working files
 * (tests, TypeScript sources, build caches, node_modules). Build first (`npx tsc -b`).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const repo = join(import.meta.dirname, '..');
const APACHE_2 = /Apache License\s+Version 2\.0, January 2004/;

const packages = ['core', 'packages/test-kit', ...readdirSync(join(repo, 'plugins')).map((d) => `plugins/${d}`), 'examples/plugin-cowrie'];

interface Manifest {
  name: string;
  license?: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
}

/** Every file a package.json names as an entry point. */
function entryPoints(m: Manifest): string[] {
  const out = new Set<string>();
  const add = (p: unknown) => {
    if (typeof p === 'string') out.add(p.replace(/^\.\//, ''));
    else if (p && typeof p === 'object') for (const v of Object.values(p)) add(v);
  };
  add(m.main);
  add(m.types);
  add(m.bin);
  add(m.exports);
  return [...out];
}

async function packedFiles(dir: string): Promise<string[]> {
  // --ignore-scripts: listing must not rebuild (a template's prepack would).
  const { stdout } = await exec('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: join(repo, dir), maxBuffer: 64 * 1024 * 1024 });
  const [result] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  return result!.files.map((f) => f.path);
}

describe('published package contents (npm pack)', () => {
  it('the repository states its licence: Apache-2.0 text at the root, declared by the root package', () => {
    expect(readFileSync(join(repo, 'LICENSE'), 'utf8')).toMatch(APACHE_2);
    expect((JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Manifest).license).toBe('Apache-2.0');
  });

  it.each(packages)(
    '%s: LICENSE, README, package.json and every entry point, and no tests, sources or build caches',
    async (dir) => {
      const manifest = JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8')) as Manifest;
      expect(manifest.license, `${dir}/package.json license`).toBe('Apache-2.0');
      expect(readFileSync(join(repo, dir, 'LICENSE'), 'utf8')).toMatch(APACHE_2);
      expect(readFileSync(join(repo, dir, 'README.md'), 'utf8')).toContain(`# ${manifest.name}`);

      const files = await packedFiles(dir);
      // core ships its kafkajs fix: cluster mode's refusal on an unpatched install names it.
      const extra = dir === 'core' ? ['patches/kafkajs@2.2.4.patch'] : [];
      for (const f of ['LICENSE', 'README.md', 'package.json', ...entryPoints(manifest), ...extra]) expect(files, `${manifest.name} must ship ${f}`).toContain(f);
      // core's plugin templates have a src/ and a test/ on purpose (they are what `fabric plugin new` writes).
      const junk = files.filter(
        (f) =>
          (!f.startsWith('templates/') && /(^|\/)(test|tests|__tests__|node_modules|src)\//.test(f)) ||
          /\.test\.[cm]?[jt]s$/.test(f) ||
          /\.tsbuildinfo$/.test(f) ||
          /^tsconfig.*\.json$/.test(f),
      );
      expect(junk, `${manifest.name} ships working files`).toEqual([]);
    },
    120_000,
  );
});
