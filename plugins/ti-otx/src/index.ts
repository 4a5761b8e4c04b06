import { checkBaseUrl, configFingerprint, definePlugin, ErrorCodes, checkedIndicatorTypes, HealthTracker, PluginError, safeTarget } from '@reactive-fabric/core';
import type { EnricherInstance, Indicator, PluginContext, Verdict } from '@reactive-fabric/core';
import { OtxConfigSchema, type OtxConfig } from './config.js';
import { OtxClient } from './client.js';
import { generalPath, toVerdict } from './lookup.js';
import { OtxFeed } from './feed.js';
import { OtxCheckpointSchema } from './checkpoint.js';

export { OtxConfigSchema } from './config.js';
export type { OtxConfig } from './config.js';
export type { OtxCheckpoint } from './feed.js';
export { OtxCheckpointSchema } from './checkpoint.js';

const NAME = '@reactive-fabric/plugin-ti-otx';
const VERSION = '0.1.0';

export function createOtx(config: OtxConfig, context: PluginContext): EnricherInstance {
  checkBaseUrl(config.base_url, context.collectorId);
  const client = new OtxClient({ baseUrl: config.base_url, apiKey: config.api_key, timeoutMs: config.timeout_seconds * 1000 });
  const health = new HealthTracker(config.api_key);
  const supports = checkedIndicatorTypes(config);
  let initialSince: string;
  if (config.feed_since !== undefined) {
    if (Number.isNaN(Date.parse(config.feed_since))) {
      throw new PluginError(ErrorCodes.BAD_CONFIG, `collector "${context.collectorId}": feed_since "${config.feed_since}" is not an ISO 8601 time such as 2026-01-31T00:00:00Z`);
    }
    initialSince = new Date(Date.parse(config.feed_since)).toISOString();
  } else {
    initialSince = new Date(Date.now() - config.feed_lookback_days * 86_400_000).toISOString();
  }
  const feed = new OtxFeed(
    client,
    { baseUrl: config.base_url, pageSize: config.feed_page_size, initialSince, maxTlp: config.feed_max_tlp, collectorId: context.collectorId },
    context.logger,
  );

  async function lookupOne(indicator: Indicator, signal: AbortSignal): Promise<Verdict> {
    if (!supports.includes(indicator.type)) {
      throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `OTX collector "${context.collectorId}" does not look up ${indicator.type} indicators (check_* settings)`);
    }
    const answer = await client.get(generalPath(indicator), signal);
    return answer.found
      ? toVerdict(indicator, answer.body, config.min_reputation_score, config.malicious_pulses)
      : toVerdict(indicator, undefined, config.min_reputation_score, config.malicious_pulses, answer.reason);
  }

  return {
    supports,
    limits: { requestsPerMinute: config.requests_per_minute, requestsPerDay: config.requests_per_day, maxBatchSize: 1 },
    cacheKey: () =>
      configFingerprint(NAME, {
        api_key: config.api_key,
        base_url: config.base_url.replace(/\/+$/, ''),
        min_reputation_score: config.min_reputation_score,
        malicious_pulses: config.malicious_pulses,
      }),
    lookup: (indicators, { signal }) =>
      health.track(async () => {
        const out: Verdict[] = [];
        for (const i of indicators) out.push(await lookupOne(i, signal));
        return out;
      }),
    poll: (request) => health.track(() => feed.poll(request)),
    async healthCheck(signal) {
      if (health.lastCode === ErrorCodes.AUTH_FAILED || health.lastCode === ErrorCodes.UNAVAILABLE || health.lastCode === ErrorCodes.TIMEOUT) {
        // /users/me is OTX's cheapest authenticated call.
        await health.probe(() => client.get('/users/me', signal));
      }
      return health.report();
    },
    describe: () => ({
      backend: 'otx',
      target: safeTarget(config.base_url),
      checks: [...supports],
      requests_per_minute: config.requests_per_minute,
      requests_per_day: config.requests_per_day,
      cache_ttl_minutes: config.cache_ttl_minutes,
      min_reputation_score: config.min_reputation_score,
      feed_page_size: config.feed_page_size,
      feed_max_tlp: config.feed_max_tlp,
    }),
  };
}

export default definePlugin({
  name: NAME,
  version: VERSION,
  kind: 'enricher',
  apiVersion: '^1.0.0',
  description: 'AlienVault OTX indicator lookups (pulse counts) and the subscribed-pulse feed (modified_since + next paging)',
  configSchema: OtxConfigSchema,
  checkpointSchema: OtxCheckpointSchema,
  create: (config, context) => createOtx(config, context),
});
