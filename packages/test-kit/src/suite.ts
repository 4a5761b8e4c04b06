import { validateConfig } from './checks/config.js';
import { collectSecrets } from './checks/secrets.js';
import { resolveLazy, suiteContext } from './suite/context.js';
import { configSchemaChecks } from './suite/config-schema.js';
import { definitionChecks } from './suite/definition.js';
import { enricherChecks, feedDeclarationCheck } from './suite/enricher.js';
import { errorChecks } from './suite/errors.js';
import { isolationChecks } from './suite/isolation.js';
import { lifecycleChecks } from './suite/lifecycle.js';
import { secretChecks } from './suite/secrets.js';
import { sourceChecks } from './suite/source.js';
import type { AnyPlugin, ConformanceOptions, ConformanceSuite } from './suite/types.js';

export { ConformanceError } from './suite/context.js';
export { randomIndicator } from './suite/enricher.js';
export type { AnyPlugin, ConformanceCheck, ConformanceOptions, ConformanceSuite, EndpointScenario, FailureCase } from './suite/types.js';

/**
 * The conformance checks for one plugin, independent of any test runner. `runConformance`
 * registers them as vitest tests; this form lets other runners (and the test kit's own tests) use them.
 */
export function conformanceSuite(plugin: AnyPlugin, options: ConformanceOptions): ConformanceSuite {
  const s = suiteContext(plugin, options);
  const { kind } = s;
  // Enrichers run the source checks on their feed (poll()) only when they declare one.
  const sourceLike = kind === 'source' || (kind === 'enricher' && options.feed === true);
  let teardownFn: (() => unknown) | undefined;

  // The order is the report's: a runner groups checks by their first appearance. The errors
  // group ends with, and the secrets group is, a look back at everything the checks before did.
  const checks = [
    ...definitionChecks(s),
    ...(options.packageJson !== undefined && sourceLike ? isolationChecks(s, options.packageJson) : []),
    ...configSchemaChecks(s),
    ...lifecycleChecks(s),
    ...(kind === 'enricher' ? [feedDeclarationCheck(s)] : []),
    ...(sourceLike ? sourceChecks(s) : []),
    ...(kind === 'enricher' ? enricherChecks(s) : []),
    ...errorChecks(s),
    ...secretChecks(s),
  ];

  return {
    name: options.name ?? (typeof plugin?.name === 'string' ? plugin.name : 'plugin'),
    checks,
    async setup() {
      const t = await options.setup?.();
      if (typeof t === 'function') teardownFn = t;
      s.config = await resolveLazy(options.validConfig);
      const schemaOk = plugin && typeof plugin === 'object' && plugin.configSchema && typeof plugin.configSchema === 'object';
      s.secrets = schemaOk ? collectSecrets(plugin.configSchema, validateConfig(plugin.configSchema, s.config).value, options.secrets) : [...(options.secrets ?? [])];
    },
    async teardown() {
      await Promise.allSettled(s.hosts.map((h) => h.dispose()));
      await teardownFn?.();
    },
  };
}
