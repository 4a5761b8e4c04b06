import { checkBaseUrl, configFingerprint, definePlugin, ErrorCodes, HealthTracker, isPluginError, PluginError, safeTarget } from '@reactive-fabric/core';
import type { EnricherInstance, Indicator, IndicatorType, PluginContext, Verdict } from '@reactive-fabric/core';
import { AbuseIpdbConfigSchema, type AbuseIpdbConfig } from './config.js';
import { AbuseIpdbClient } from './client.js';
import { fromBlock, fromCheck, reference } from './verdict.js';
import { BlacklistFeed } from './feed.js';
import { BlacklistCheckpointSchema } from './checkpoint.js';

export { AbuseIpdbConfigSchema } from './config.js';
export type { AbuseIpdbConfig } from './config.js';
export type { BlacklistCheckpoint } from './feed.js';
export { BlacklistCheckpointSchema } from './checkpoint.js';

const NAME = '@reactive-fabric/plugin-ti-abuseipdb';
const VERSION = '0.1.0';
/** The largest batch lookup() takes when check-block is on (a /24 holds 256 addresses). */
const BLOCK_BATCH = 64;

/** "a.b.c.0/24" of an IPv4 address. */
export function slash24(ip: string): string {
  const p = ip.split('.');
  return `${p[0]}.${p[1]}.${p[2]}.0/24`;
}

export function createAbuseIpdb(config: AbuseIpdbConfig, context: PluginContext): EnricherInstance {
  checkBaseUrl(config.base_url, context.collectorId);
  const client = new AbuseIpdbClient({ baseUrl: config.base_url, apiKey: config.api_key, timeoutMs: config.timeout_seconds * 1000 });
  const health = new HealthTracker(config.api_key);
  const supports: IndicatorType[] = config.check_ips ? ['ipv4', 'ipv6'] : [];
  const feed = new BlacklistFeed(
    client,
    {
      confidenceMinimum: config.blacklist_confidence_minimum,
      limit: config.blacklist_limit,
      intervalMs: config.blacklist_interval_minutes * 60_000,
      collectorId: context.collectorId,
    },
    context.logger,
  );
  // check-block has its own daily quota (100 on the free tier); once it is spent, /check serves alone.
  let blockQuotaUntil = 0;

  async function checkOne(indicator: Indicator, signal: AbortSignal): Promise<Verdict> {
    const answer = await client.check(indicator.value, config.max_age_days, signal);
    if ('invalid' in answer) return { indicator, status: 'unknown', evidence: { invalid: answer.invalid }, reference: reference(indicator.value) };
    return fromCheck(indicator, answer.data, config.min_reputation_score);
  }

  async function lookupAll(indicators: Indicator[], signal: AbortSignal): Promise<Verdict[]> {
    for (const i of indicators) {
      if (!supports.includes(i.type)) {
        throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `AbuseIPDB collector "${context.collectorId}" looks up IP addresses only, not ${i.type} (${i.value})`);
      }
    }
    const out = new Map<Indicator, Verdict>();
    if (config.use_check_block && Date.now() >= blockQuotaUntil) {
      const groups = new Map<string, Indicator[]>();
      for (const i of indicators) {
        if (i.type !== 'ipv4') continue;
        const net = slash24(i.value);
        groups.set(net, [...(groups.get(net) ?? []), i]);
      }
      for (const [network, members] of groups) {
        if (members.length < config.check_block_min_ips) continue;
        try {
          const answer = await client.checkBlock(network, config.max_age_days, signal);
          if ('invalid' in answer) continue; // fall back to /check per address
          for (const m of members) out.set(m, fromBlock(m, answer.data, config.min_reputation_score, network));
        } catch (err) {
          if (isPluginError(err) && err.code === ErrorCodes.QUOTA_EXHAUSTED) {
            blockQuotaUntil = Date.now() + (err.retryAfterMs ?? 3_600_000);
            context.logger.warn({ network, retryAfterMs: err.retryAfterMs }, 'AbuseIPDB check-block daily quota used up; using /check per address until it resets');
            break;
          }
          throw err;
        }
      }
    }
    const verdicts: Verdict[] = [];
    for (const i of indicators) verdicts.push(out.get(i) ?? (await checkOne(i, signal)));
    return verdicts;
  }

  return {
    supports,
    limits: { requestsPerMinute: config.requests_per_minute, requestsPerDay: config.requests_per_day, maxBatchSize: config.use_check_block ? BLOCK_BATCH : 1 },
    cacheKey: () =>
      configFingerprint(NAME, {
        api_key: config.api_key,
        base_url: config.base_url.replace(/\/+$/, ''),
        max_age_days: config.max_age_days,
        min_reputation_score: config.min_reputation_score,
      }),
    lookup: (indicators, { signal }) => health.track(() => lookupAll(indicators, signal)),
    poll: (request) => health.track(() => feed.poll(request)),
    async healthCheck(signal) {
      if (health.lastCode === ErrorCodes.AUTH_FAILED || health.lastCode === ErrorCodes.UNAVAILABLE) {
        // A loopback address costs one of 1,000 daily checks and tells whether the key works again.
        await health.probe(() => client.check('127.0.0.1', 1, signal));
      }
      return health.report();
    },
    describe: () => ({
      backend: 'abuseipdb',
      target: safeTarget(config.base_url),
      checks: [...supports],
      requests_per_minute: config.requests_per_minute,
      requests_per_day: config.requests_per_day,
      cache_ttl_minutes: config.cache_ttl_minutes,
      min_reputation_score: config.min_reputation_score,
      max_age_days: config.max_age_days,
      check_block: config.use_check_block,
    }),
  };
}

export default definePlugin({
  name: NAME,
  version: VERSION,
  kind: 'enricher',
  apiVersion: '^1.0.0',
  description: 'AbuseIPDB v2 IP reputation (/check, optional /check-block) and the /blacklist as a periodic feed',
  configSchema: AbuseIpdbConfigSchema,
  checkpointSchema: BlacklistCheckpointSchema,
  create: (config, context) => createAbuseIpdb(config, context),
});
