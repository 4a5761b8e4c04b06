import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

describe('docs/metrics.md', () => {
  it('lists every metric core registers, and no metric core does not have', () => {
    const inCode = new Set<string>();
    for (const f of sources(join(root, 'core/src'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/name: '(fabric_[a-z_]+)'|\('(fabric_[a-z_]+)', ['"]/g)) inCode.add((m[1] ?? m[2])!);
    }
    const doc = readFileSync(join(root, 'docs/metrics.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(fabric_[a-z_]+)` \|/gm)].map((m) => m[1]!));
    expect(inCode.size).toBeGreaterThan(40);
    expect([...inCode].filter((n) => !documented.has(n)).sort()).toEqual([]);
    expect([...documented].filter((n) => !inCode.has(n)).sort()).toEqual([]);
  });
});
