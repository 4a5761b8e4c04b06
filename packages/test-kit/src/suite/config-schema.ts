import { checkErrorAtPath, derivedInvalidConfigs, validateConfig } from '../checks/config.js';
import { findLeakedSecrets } from '../checks/secrets.js';
import { expectNone, fail } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

export function configSchemaChecks(s: SuiteContext): ConformanceCheck[] {
  const { plugin, options, definitionOk } = s;
  return [
    s.check('config schema', 'accepts the valid config (defaults applied)', async () => {
      definitionOk();
      const { errors } = validateConfig(plugin.configSchema, s.config);
      expectNone(
        'the valid config was refused',
        errors.map((e) => `${e.path}: ${e.message}`),
      );
    }),
    s.check('config schema', 'refuses bad configs with an error naming the field path', async () => {
      definitionOk();
      const cases = [...derivedInvalidConfigs(plugin.configSchema, s.config), ...(options.invalidConfigs ?? [])];
      const problems: string[] = [];
      let wrong = 0;
      for (const c of cases) {
        const { errors } = validateConfig(plugin.configSchema, c.config);
        const caseProblems = [
          ...checkErrorAtPath(errors, c.path).map((p) => `${c.name ?? c.path}: ${p}`),
          ...findLeakedSecrets(s.secrets, { [`errors for ${c.name ?? c.path}`]: errors }),
        ];
        if (caseProblems.length > 0) wrong++;
        problems.push(...caseProblems);
      }
      if (cases.length === 0) fail('no bad config to try: the schema has no fields and no additionalProperties: false; pass invalidConfigs');
      expectNone(`${wrong} of ${cases.length} bad configs were not refused at the right path (or leaked a secret)`, problems);
    }),
  ];
}
