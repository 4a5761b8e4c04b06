import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

describe('architecture rules', () => {
  it('core imports no plugin, plugins import only the plugin API, no test is skipped or focused', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts/lint.mjs')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('Biome finds no formatting difference and no lint error (biome ci; warnings are listed, not fatal)', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'ci', '.', '--colors=off'], { cwd: root, encoding: 'utf8' });
    expect(r.status, `${r.stdout}\n${r.stderr}`.slice(-4000)).toBe(0);
  });
});
