import { afterAll, beforeAll, describe, it } from 'vitest';
import { conformanceSuite } from './suite.js';
import type { AnyPlugin, ConformanceOptions } from './suite.js';

/**
 * Register the plugin conformance suite as vitest tests. Call it at the top level of a test file:
 *
 *   runConformance(plugin, { validConfig: { path: sampleFile } });
 *
 * Every check is its own test, grouped by what it covers (definition, config schema,
 * lifecycle, source/enricher, errors, secrets), so a failure names the broken rule.
 */
export function runConformance(plugin: AnyPlugin, options: ConformanceOptions): void {
  const suite = conformanceSuite(plugin, options);
  describe(`plugin conformance: ${suite.name}`, () => {
    beforeAll(() => suite.setup(), 120_000);
    afterAll(() => suite.teardown(), 60_000);
    const groups = new Map<string, typeof suite.checks>();
    for (const check of suite.checks) groups.set(check.group, [...(groups.get(check.group) ?? []), check]);
    for (const [group, checks] of groups) {
      describe(group, () => {
        for (const check of checks) it(check.name, () => check.run(), check.timeoutMs);
      });
    }
  });
}
