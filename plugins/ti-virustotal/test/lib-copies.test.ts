import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The four TI plugins each carry a copy of src/lib (a plugin may depend on @reactive-fabric/core
// only). A fix made in one copy must reach all four: this fails when they drift apart.
const plugins = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const names = ['ti-virustotal', 'ti-abuseipdb', 'ti-otx', 'ti-misp'];

describe('shared src/lib copies of the threat-intel plugins', () => {
  it('the test support file (stage scenarios) is the same in all four', () => {
    const copies = new Set(names.map((p) => readFileSync(path.join(plugins, p, 'test/support.ts'), 'utf8')));
    expect(copies.size).toBe(1);
  });

  it('every file present in several plugins is identical in all of them', () => {
    const byFile = new Map<string, Map<string, string>>();
    for (const p of names) {
      const dir = path.join(plugins, p, 'src/lib');
      for (const f of readdirSync(dir)) {
        const m = byFile.get(f) ?? new Map<string, string>();
        m.set(p, readFileSync(path.join(dir, f), 'utf8'));
        byFile.set(f, m);
      }
    }
    expect([...byFile.keys()].sort()).toEqual(['config.ts', 'fingerprint.ts', 'health.ts', 'http.ts', 'indicator-event.ts', 'verdict.ts']);
    for (const [file, copies] of byFile) {
      const distinct = new Set(copies.values());
      expect(distinct.size, `${file} differs between ${[...copies.keys()].join(', ')}`).toBe(1);
      expect(copies.size, `${file} is missing somewhere`).toBe(file === 'indicator-event.ts' ? 3 : 4);
    }
  });
});
