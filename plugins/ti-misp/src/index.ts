import { checkBaseUrl, configFingerprint, definePlugin, ErrorCodes, checkedIndicatorTypes, HealthTracker, HttpTransport, PluginError, safeTarget } from '@reactive-fabric/core';
import type { EnricherInstance, PluginContext, Verdict } from '@reactive-fabric/core';
import { MispConfigSchema, type MispConfig } from './config.js';
import { MispClient } from './client.js';
import { matches } from './attributes.js';
import { toVerdict } from './verdict.js';
import { MispFeed } from './feed.js';
import { MispCheckpointSchema } from './checkpoint.js';

export { MispConfigSchema } from './config.js';
export type { MispConfig } from './config.js';
export type { MispCheckpoint } from './feed.js';
export { MispCheckpointSchema } from './checkpoint.js';

const NAME = '@reactive-fabric/plugin-ti-misp';
const VERSION = '0.1.0';

export function createMisp(config: MispConfig, context: PluginContext): EnricherInstance {
  checkBaseUrl(config.base_url, context.collectorId);
  // Opened once per instance (start(), or the first request): reads the tls files, and says once that verification is off.
  let transport: Promise<HttpTransport> | undefined;
  const openTransport = (): Promise<HttpTransport> => {
    if (transport) return transport;
    const opening = HttpTransport.open({ caFile: config.tls.ca_file, certFile: config.tls.cert_file, keyFile: config.tls.key_file, verify: config.tls.verify }).then((t) => {
      if (!config.tls.verify) {
        context.logger.warn(
          { collector: context.collectorId, base_url: safeTarget(config.base_url) },
          'MISP tls.verify is false: the server certificate is not checked, so anyone on the path can read the API key and forge answers; use tls.ca_file instead',
        );
      }
      return t;
    });
    // A failed open (unreadable file) is tried again by the next request or start, not remembered.
    opening.catch(() => {
      if (transport === opening) transport = undefined;
    });
    transport = opening;
    return opening;
  };
  const client = new MispClient({ baseUrl: config.base_url, apiKey: config.api_key, timeoutMs: config.timeout_seconds * 1000, transport: openTransport });
  const health = new HealthTracker(config.api_key);
  const supports = checkedIndicatorTypes(config);
  let initialSinceMs = Date.now() - config.feed_lookback_days * 86_400_000;
  if (config.feed_since !== undefined) {
    initialSinceMs = Date.parse(config.feed_since);
    if (Number.isNaN(initialSinceMs)) {
      throw new PluginError(ErrorCodes.BAD_CONFIG, `collector "${context.collectorId}": feed_since "${config.feed_since}" is not an ISO 8601 time such as 2026-01-31T00:00:00Z`);
    }
  }
  const feed = new MispFeed(
    client,
    {
      baseUrl: config.base_url,
      pageSize: config.feed_page_size,
      initialSince: Math.floor(initialSinceMs / 1000),
      toIdsOnly: config.feed_to_ids_only,
      maxTlp: config.feed_max_tlp,
      collectorId: context.collectorId,
    },
    context.logger,
  );

  return {
    supports,
    limits: { requestsPerMinute: config.requests_per_minute, requestsPerDay: config.requests_per_day, maxBatchSize: config.max_batch_size },
    cacheKey: () =>
      configFingerprint(NAME, {
        api_key: config.api_key,
        base_url: config.base_url.replace(/\/+$/, ''),
        min_reputation_score: config.min_reputation_score,
        enforce_warninglist: config.enforce_warninglist,
      }),
    lookup: (indicators, { signal }) =>
      health.track(async () => {
        for (const i of indicators) {
          if (!supports.includes(i.type))
            throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `MISP collector "${context.collectorId}" does not look up ${i.type} indicators (check_* settings)`);
        }
        if (indicators.length === 0) return [];
        // One request for the whole batch: restSearch takes a value list.
        const values = [...new Set(indicators.map((i) => i.value))];
        const attrs = await client.searchAttributes(
          { returnFormat: 'json', value: values, limit: config.lookup_limit, page: 1, includeEventTags: true, ...(config.enforce_warninglist ? { enforceWarninglist: true } : {}) },
          signal,
        );
        if (attrs.length >= config.lookup_limit) {
          context.logger.warn(
            { lookup_limit: config.lookup_limit, indicators: indicators.length },
            'MISP lookup hit lookup_limit; verdicts may miss attributes: raise lookup_limit or lower max_batch_size',
          );
        }
        return indicators.map(
          (i): Verdict =>
            toVerdict(
              i,
              attrs.filter((a) => matches(a, i)),
              config.min_reputation_score,
              config.base_url,
            ),
        );
      }),
    poll: (request) => health.track(() => feed.poll(request)),
    async start() {
      await openTransport();
    },
    async stop() {
      const t = transport;
      transport = undefined;
      await (await t?.catch(() => undefined))?.close();
    },
    async healthCheck(signal) {
      if (health.lastCode === ErrorCodes.AUTH_FAILED || health.lastCode === ErrorCodes.UNAVAILABLE || health.lastCode === ErrorCodes.TIMEOUT) {
        await health.probe(() => client.version(signal));
      }
      return health.report();
    },
    describe: () => ({
      backend: 'misp',
      target: safeTarget(config.base_url),
      checks: [...supports],
      requests_per_minute: config.requests_per_minute,
      cache_ttl_minutes: config.cache_ttl_minutes,
      min_reputation_score: config.min_reputation_score,
      max_batch_size: config.max_batch_size,
      feed_to_ids_only: config.feed_to_ids_only,
      feed_max_tlp: config.feed_max_tlp,
      tls_verify: config.tls.verify,
      ...(config.tls.ca_file ? { tls_ca_file: config.tls.ca_file } : {}),
      ...(config.tls.cert_file ? { tls_client_certificate: true } : {}),
    }),
  };
}

export default definePlugin({
  name: NAME,
  version: VERSION,
  kind: 'enricher',
  apiVersion: '^1.0.0',
  description: 'MISP attribute lookups (batched value lists) and an attributes/restSearch feed by timestamp',
  configSchema: MispConfigSchema,
  checkpointSchema: MispCheckpointSchema,
  create: (config, context) => createMisp(config, context),
});
