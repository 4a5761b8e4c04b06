import { checkBaseUrl, configFingerprint, definePlugin, ErrorCodes, checkedIndicatorTypes, HealthTracker, PluginError, safeTarget } from '@reactive-fabric/core';
import type { EnricherInstance, Indicator, PluginContext, Verdict } from '@reactive-fabric/core';
import { VirusTotalConfigSchema, type VirusTotalConfig } from './config.js';
import { VtClient, pathFor } from './client.js';
import { toVerdict, referenceFor } from './verdict.js';

export { VirusTotalConfigSchema } from './config.js';
export type { VirusTotalConfig } from './config.js';
export { urlId } from './client.js';

const NAME = '@reactive-fabric/plugin-ti-virustotal';
const VERSION = '0.1.0';

export function createVirusTotal(config: VirusTotalConfig, context: PluginContext): EnricherInstance {
  checkBaseUrl(config.base_url, context.collectorId);
  const client = new VtClient({ baseUrl: config.base_url, apiKey: config.api_key, timeoutMs: config.timeout_seconds * 1000, requestsPerDay: config.requests_per_day });
  const health = new HealthTracker(config.api_key);
  const supports = checkedIndicatorTypes(config);

  async function lookupOne(indicator: Indicator, signal: AbortSignal): Promise<Verdict> {
    if (!supports.includes(indicator.type)) {
      throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `VirusTotal collector "${context.collectorId}" does not look up ${indicator.type} indicators (check_* settings)`);
    }
    const got = await client.get(pathFor(indicator), signal);
    if (got && 'invalid' in got) {
      return { indicator, status: 'unknown', evidence: { found: false, invalid: got.invalid }, reference: referenceFor(indicator) };
    }
    return toVerdict(indicator, got, config.min_reputation_score, config.malicious_engines);
  }

  return {
    supports,
    limits: { requestsPerMinute: config.requests_per_minute, requestsPerDay: config.requests_per_day, maxBatchSize: 1 },
    cacheKey: () =>
      configFingerprint(NAME, {
        api_key: config.api_key,
        base_url: config.base_url.replace(/\/+$/, ''),
        min_reputation_score: config.min_reputation_score,
        malicious_engines: config.malicious_engines,
      }),
    async lookup(indicators, { signal }) {
      // No bulk endpoint: one request per indicator, in order, so a quota hit stops the batch early.
      return health.track(async () => {
        const verdicts: Verdict[] = [];
        for (const indicator of indicators) verdicts.push(await lookupOne(indicator, signal));
        return verdicts;
      });
    },
    async healthCheck(signal) {
      // A probe costs quota (500/day), so only spend one to see whether refused credentials were fixed.
      if (health.lastCode === ErrorCodes.AUTH_FAILED) {
        await health.probe(() => client.get('/ip_addresses/8.8.8.8', signal));
      }
      return health.report();
    },
    describe: () => ({
      backend: 'virustotal',
      target: safeTarget(config.base_url),
      checks: [...supports],
      requests_per_minute: config.requests_per_minute,
      requests_per_day: config.requests_per_day,
      cache_ttl_minutes: config.cache_ttl_minutes,
      min_reputation_score: config.min_reputation_score,
    }),
  };
}

export default definePlugin({
  name: NAME,
  version: VERSION,
  kind: 'enricher',
  apiVersion: '^1.0.0',
  description: 'VirusTotal v3 reputation of IPs, domains, file hashes and URLs (public API: 4/min, 500/day)',
  configSchema: VirusTotalConfigSchema,
  create: (config, context) => createVirusTotal(config, context),
});
