import { findLeakedSecrets } from '../checks/secrets.js';
import { expectNone, fail } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

export function lifecycleChecks(s: SuiteContext): ConformanceCheck[] {
  const { definitionOk, host } = s;
  return [
    s.check('lifecycle', 'stop() before start(), start() twice and stop() twice do not throw', async () => {
      definitionOk();
      const h = await host(s.config);
      try {
        await h.stop();
        await h.start();
        await h.start();
        await h.stop();
        await h.stop();
      } catch (err) {
        s.thrown.push(err);
        fail(`lifecycle calls must be idempotent, but one threw: ${(err as Error)?.message ?? String(err)}`);
      } finally {
        await h.dispose();
      }
    }),
    s.check('lifecycle', 'describe() names the backend and carries no secret', async () => {
      definitionOk();
      const h = await host(s.config);
      try {
        const d = h.describe();
        if (d === undefined) fail('describe() is missing: operators need to see what each collector talks to (backend, target)');
        if (typeof d !== 'object' || d === null) fail(`describe() must return an object, got ${typeof d}`);
        const problems: string[] = [];
        if (typeof d.backend !== 'string' || d.backend.length === 0) problems.push('backend: must be a non-empty string such as "splunk"');
        for (const [k, v] of Object.entries(d)) {
          const ok = v === undefined || ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
          if (!ok) problems.push(`${k}: must be a string, number, boolean or string[]`);
        }
        problems.push(...findLeakedSecrets(s.secrets, { 'describe()': d }));
        if (typeof d.target === 'string' && /\/\/[^/@\s]+:[^/@\s]+@/.test(d.target)) problems.push('target: contains credentials (user:password@); strip them');
        expectNone('describe() problems', problems);
      } finally {
        await h.dispose();
      }
    }),
    s.check('lifecycle', 'healthCheck() (when present) reports a valid status for the valid config', async () => {
      definitionOk();
      const h = await host(s.config);
      try {
        await h.start();
        const report = await h.healthCheck();
        if (report === undefined) return;
        const problems: string[] = [];
        if (!['healthy', 'degraded', 'unhealthy'].includes(report.status)) problems.push(`status: must be healthy, degraded or unhealthy, got ${JSON.stringify(report.status)}`);
        else if (report.status !== 'healthy') problems.push(`status: the valid config should be healthy, got ${report.status} (${report.reason ?? 'no reason'})`);
        problems.push(...findLeakedSecrets(s.secrets, { 'healthCheck()': report }));
        expectNone('healthCheck() problems', problems);
      } finally {
        await h.dispose();
      }
    }),
  ];
}
