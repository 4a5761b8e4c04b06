import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { attackFromTags, attackMappingFromTags, tacticOf } from '../../src/detection/sigma/attack.js';
import { datasets } from './helpers.js';

const sigmahq = path.join(datasets, 'sigmahq');

function ymlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? ymlFiles(p) : /\.ya?ml$/.test(n) ? [p] : [];
  });
}

describe('the one ATT&CK tactic table', () => {
  it('maps every tactic tag of every SigmaHQ rule (../shared/datasets/sigmahq)', () => {
    const unmapped = new Map<string, string>();
    const seen = new Set<string>();
    for (const file of ymlFiles(sigmahq)) {
      const doc = parse(readFileSync(file, 'utf8')) as { tags?: unknown } | null;
      const tags = Array.isArray(doc?.tags) ? doc.tags.map(String) : [];
      for (const tag of tags) {
        const m = /^attack\.(.+)$/i.exec(tag);
        // Techniques (t1059), groups (g0032) and software (s0002) are ids, not tactics.
        if (!m || /^[tgs]\d{4}(\.\d{3})?$/i.test(m[1]!)) continue;
        seen.add(m[1]!);
        if (!tacticOf(m[1]!)) unmapped.set(m[1]!, file);
      }
    }
    expect([...unmapped]).toEqual([]);
    // The split Defense Evasion is what the rules use now: the table must know both halves.
    expect(seen).toContain('stealth');
    expect(seen).toContain('defense-impairment');
    expect(seen.size).toBeGreaterThanOrEqual(14);
  });

  it('gives detections names and correlations ids, from the same rows', () => {
    const tags = ['attack.stealth', 'attack.t1070.002', 'attack.defense_impairment', 'attack.credential-access', 'attack.T1110', 'attack.stealth', 'cve.2021-4034'];
    expect(attackFromTags(tags)).toEqual({ techniques: ['T1070.002', 'T1110'], tactics: ['Stealth', 'Defense Impairment', 'Credential Access'] });
    expect(attackMappingFromTags(tags).tactics).toEqual([
      { id: 'TA0005', name: 'Stealth' },
      { id: 'TA0112', name: 'Defense Impairment' },
      { id: 'TA0006', name: 'Credential Access' },
    ]);
    // Rules written before the split keep their tactic.
    expect(attackMappingFromTags(['attack.defense-evasion']).tactics).toEqual([{ id: 'TA0005', name: 'Defense Evasion' }]);
    expect(tacticOf('__proto__')).toBeUndefined();
    expect(tacticOf('constructor')).toBeUndefined();
  });
});
