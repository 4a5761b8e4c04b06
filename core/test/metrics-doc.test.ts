import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FabricMetrics, PROMTOOL_REJECTED } from '../src/metrics/fabric-metrics.js';

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

  it('process metrics use the standard Node.js names, each one the page lists is exported', async () => {
    const exported = new Set((await new FabricMetrics(undefined, { defaultMetrics: true }).registry.getMetricsAsJSON()).map((m) => m.name));
    const doc = readFileSync(join(root, 'docs/metrics.md'), 'utf8');
    const listed = [...doc.matchAll(/`((?:process|nodejs)_[a-z0-9_]+)`/g)].map((m) => m[1]!).filter((n) => !(PROMTOOL_REJECTED as readonly string[]).includes(n));
    // What stock Node.js dashboards query.
    for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds'])
      expect(listed).toContain(n);
    expect(listed.filter((n) => !exported.has(n))).toEqual([]);
    expect([...exported].filter((n) => n.startsWith('fabric_process_'))).toEqual([]);
    for (const n of PROMTOOL_REJECTED) expect(exported.has(n)).toBe(false);
  });
});
