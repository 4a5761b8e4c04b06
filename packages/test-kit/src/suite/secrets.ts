import { findLeakedSecrets } from '../checks/secrets.js';
import { expectNone } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

/** Reads the logs of every host the suite created, so it must come after the other checks. */
export function secretChecks(s: SuiteContext): ConformanceCheck[] {
  return [
    s.check('secrets', 'no secret appears in any log record written during this suite', async () => {
      const records = s.hosts.flatMap((h) => h.logger.records);
      expectNone('secrets in logs', findLeakedSecrets(s.secrets, { logs: records }));
    }),
  ];
}
