import { conformanceSuite } from './suite.js';
import type { AnyPlugin, ConformanceOptions } from './suite.js';

// vitest is an optional peer: createTestHost and the checks work without it, so load it only if present.
type Vitest = typeof import('vitest');
let vitest: Vitest | undefined;
try {
  vitest = await import('vitest');
} catch {
  vitest = undefined;
}

/**
 * Register the plugin conformance suite as vitest tests. Call it at the top level of a test file:
 *
 *   runConformance(plugin, { validConfig: { path: sampleFile } });
 *
 * Every check is its own test, grouped by what it covers (definition, config schema,
 * lifecycle, source/enricher, errors, secrets), so a failure names the broken rule.
 */
export function runConformance(plugin: AnyPlugin, options: ConformanceOptions): void {
  if (!vitest) {
    throw new Error(
      'runConformance() registers vitest tests, but vitest is not installed: npm install --save-dev vitest (or run conformanceSuite(plugin, options).checks with your own test runner)',
    );
  }
  const { afterAll, beforeAll, describe, it } = vitest;
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
