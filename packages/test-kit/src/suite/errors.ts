import { ErrorCodes } from '@reactive-fabric/core';
import type { ErrorCode, IndicatorType } from '@reactive-fabric/core';
import { findLeakedSecrets } from '../checks/secrets.js';
import { classifyError } from '../host.js';
import type { TestHostOptions } from '../host.js';
import { closedPortUrl, startScenarioServer } from '../scenario-server.js';
import type { Scenario } from '../scenario-server.js';
import { ConformanceError, expectNone, fail, resolveLazy } from './context.js';
import type { SuiteContext } from './context.js';
import { randomIndicator } from './enricher.js';
import type { ConformanceCheck, EndpointScenario } from './types.js';

const DEFAULT_ENDPOINT_CODES: Record<EndpointScenario, ErrorCode[]> = {
  hang: [ErrorCodes.ABORTED, ErrorCodes.TIMEOUT],
  '401': [ErrorCodes.AUTH_FAILED],
  '429': [ErrorCodes.RATE_LIMITED, ErrorCodes.QUOTA_EXHAUSTED],
  '500': [ErrorCodes.UNAVAILABLE],
  garbage: [ErrorCodes.BAD_RESPONSE],
  closed: [ErrorCodes.UNAVAILABLE, ErrorCodes.TIMEOUT],
};

const SCENARIOS: Record<Exclude<EndpointScenario, 'closed'>, { scenario: Scenario; what: string }> = {
  hang: { scenario: { kind: 'hang' }, what: 'a backend that never answers' },
  '401': { scenario: { kind: 'status', status: 401, body: '{"error":"invalid credentials"}' }, what: 'HTTP 401 (credentials refused)' },
  '429': { scenario: { kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: '{"error":"too many requests"}' }, what: 'HTTP 429 with Retry-After: 7' },
  '500': { scenario: { kind: 'status', status: 500, body: '{"error":"internal"}' }, what: 'HTTP 500' },
  garbage: {
    scenario: { kind: 'status', status: 200, headers: { 'content-type': 'text/html' }, body: '<html>this is not the API</html>' },
    what: 'a 200 response that is not the API (HTML)',
  },
};

/**
 * How the plugin fails: against misbehaving backends (options.configForEndpoint), under the
 * plugin's own failure configs, and, last, whether everything it threw during the suite was coded.
 */
export function errorChecks(s: SuiteContext): ConformanceCheck[] {
  const { options, kind, definitionOk, host } = s;
  const checks: ConformanceCheck[] = [];
  const add = (name: string, run: () => Promise<void>) => checks.push(s.check('errors', name, run));

  const exercise = async (config: unknown, hostOptions: TestHostOptions = {}): Promise<{ error?: unknown; requests?: number }> => {
    const h = await host(config, { strict: false, ...hostOptions });
    try {
      await h.start();
      if (kind === 'enricher') {
        const supports = (h.instance as { supports: readonly IndicatorType[] }).supports;
        const indicators = (options.indicators ?? []).filter((i) => supports.includes(i.type)).map(({ type, value }) => ({ type, value }));
        await h.lookup(indicators.length > 0 ? indicators.slice(0, 1) : [randomIndicator(supports[0] ?? 'ipv4')]);
      } else {
        await h.poll();
      }
      return {};
    } catch (err) {
      s.thrown.push(err);
      return { error: err };
    } finally {
      await h.dispose().catch(() => undefined);
    }
  };
  const expectCoded = (what: string, error: unknown, codes: readonly ErrorCode[]): void => {
    if (error === undefined) fail(`${what}: nothing failed — start(), ${kind === 'enricher' ? 'lookup()' : 'poll()'} all succeeded, so the problem was silently swallowed`);
    const { error: e, wasPluginError } = classifyError(error);
    if (e.detail?.ignoredAbort === true) fail(`${what}: ${e.message}`);
    const abortLike = e.code === ErrorCodes.ABORTED || e.code === ErrorCodes.TIMEOUT;
    if (!wasPluginError && !abortLike) {
      fail(
        `${what}: threw ${(error as Error)?.name ?? typeof error} "${(error as Error)?.message ?? String(error)}" instead of a PluginError; throw new PluginError(ErrorCodes.X, message) so supervision knows what to do`,
      );
    }
    if (!codes.includes(e.code)) fail(`${what}: expected error code ${codes.join(' or ')}, got ${e.code}: ${e.message}`);
    const leaks = findLeakedSecrets(s.secrets, { 'error message': e.message, 'error detail': e.detail ?? {} });
    expectNone(`${what}: the error leaks a secret`, leaks);
  };

  if (options.configForEndpoint) {
    const forEndpoint = options.configForEndpoint;
    const codesFor = (which: EndpointScenario) => options.endpointCodes?.[which] ?? DEFAULT_ENDPOINT_CODES[which];
    for (const [key, { scenario, what }] of Object.entries(SCENARIOS) as Array<[Exclude<EndpointScenario, 'closed'>, (typeof SCENARIOS)['hang']]>) {
      const name =
        key === 'hang'
          ? 'honours abort and timeout: against a backend that never answers it rejects with ABORTED/TIMEOUT once its deadline passes'
          : `fails with ${codesFor(key).join(' or ')} on ${what}`;
      add(name, async () => {
        definitionOk();
        const server = await startScenarioServer(scenario);
        try {
          const started = Date.now();
          const { error } = await exercise(forEndpoint(server.url), key === 'hang' ? { timeoutMs: 500, abortGraceMs: 3_000 } : {});
          if (server.requests.length === 0 && error !== undefined && classifyError(error).error.code === ErrorCodes.BAD_CONFIG) {
            fail(`the plugin refused the config from configForEndpoint(${server.url}): ${(error as Error).message}`);
          }
          if (server.requests.length === 0) fail(`the plugin never sent a request to ${server.url}: does configForEndpoint() set the backend URL?`);
          expectCoded(what, error, codesFor(key));
          const e = classifyError(error).error;
          // Vendors differ (VirusTotal sends no Retry-After and resets per minute), so any positive hint will do.
          if (key === '429' && e.code === ErrorCodes.RATE_LIMITED && !(typeof e.retryAfterMs === 'number' && e.retryAfterMs > 0)) {
            fail(`RATE_LIMITED must carry retryAfterMs (the backend said Retry-After: 7), got ${String(e.retryAfterMs)}; the host waits that long before retrying`);
          }
          if (key === 'hang' && Date.now() - started > 3_000 + 500 + 2_000) fail(`took ${Date.now() - started} ms to give up after a 500 ms deadline`);
        } finally {
          await server.close();
        }
      });
    }
    add(`fails with ${codesFor('closed').join(' or ')} when nothing listens at the backend address`, async () => {
      definitionOk();
      const url = await closedPortUrl();
      const { error } = await exercise(forEndpoint(url));
      expectCoded('connection refused', error, codesFor('closed'));
    });
  }
  for (const f of options.failures ?? []) {
    add(`fails with ${f.codes.join(' or ')}: ${f.name}`, async () => {
      definitionOk();
      const { error } = await exercise(await resolveLazy(f.config));
      expectCoded(f.name, error, f.codes);
    });
  }
  add('every error thrown during this suite was a PluginError with a code (or an abort)', async () => {
    const problems: string[] = [];
    for (const err of s.thrown) {
      if (err instanceof ConformanceError) continue;
      const { error, wasPluginError } = classifyError(err);
      if (!wasPluginError && error.code !== ErrorCodes.ABORTED && error.code !== ErrorCodes.TIMEOUT) {
        problems.push(`${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    expectNone('errors that were not PluginErrors (the host would report them as PLUGIN_CRASHED)', problems);
  });
  return checks;
}
