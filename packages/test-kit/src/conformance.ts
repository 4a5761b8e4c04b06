import { conformanceSuite } from './suite.js';
import type { AnyPlugin, ConformanceOptions } from './suite.js';

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

// vitest is an optional peer: createTestHost and the checks work without it, so load it only if present.
type Vitest = typeof import('vitest');

/**
 * The vitest of the project under test (where `npm test` runs), else the one this package
 * resolves. A plugin made by `fabric plugin new` links the test kit installed beside core: from
 * there, `import('vitest')` finds another copy than the one running the tests, or none at all.
 */
async function loadVitest(): Promise<Vitest | undefined> {
  try {
    const pkgFile = createRequire(join(process.cwd(), 'package.json')).resolve('vitest/package.json');
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: { '.'?: { import?: { default?: string } } } };
    const entry = pkg.exports?.['.']?.import?.default;
    if (entry) return (await import(pathToFileURL(join(dirname(pkgFile), entry)).href)) as Vitest;
  } catch {
    // not in the project under test: try our own resolution
  }
  try {
    return await import('vitest');
  } catch {
    return undefined;
  }
}

const vitest = await loadVitest();

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
