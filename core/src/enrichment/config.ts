import Type from 'typebox';
import type { Static } from 'typebox';
import { spanLimit, timerLimit } from '../plugin-api/schema.js';

const Priority = Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low'), Type.Literal('info')]);

const CacheConfigSchema = Type.Object(
  {
    ttl_minutes: Type.Number({
      ...spanLimit('minutes'),
      exclusiveMinimum: 0,
      default: 60,
      description: "How long a source's verdict is reused. An enricher's own `cache_ttl_minutes` overrides it.",
    }),
    negative_ttl_minutes: Type.Number({
      ...spanLimit('minutes'),
      minimum: 0,
      default: 15,
      description: 'How long an "unknown" (never seen) answer is reused; 0 disables negative caching.',
    }),
    max_entries: Type.Integer({ minimum: 1, default: 100000, description: 'Least recently used verdicts are evicted past this.' }),
    file: Type.String({
      minLength: 1,
      default: 'enrichment/verdict-cache.json',
      description: 'Where the cache survives restarts, relative to state_dir.',
    }),
  },
  { additionalProperties: false, default: {} },
);

const SeverityStepSchema = Type.Object(
  {
    min_score: Type.Number({ minimum: 0, maximum: 1 }),
    priority: Priority,
  },
  { additionalProperties: false },
);

const AggregationConfigSchema = Type.Object(
  {
    weights: Type.Record(Type.String(), Type.Number({ minimum: 0 }), {
      default: {},
      description: 'Weight of each source by enricher id (or plugin name); 1 when absent.',
    }),
    default_confidence: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Confidence assumed for a verdict that carries none.',
    }),
    malicious_at: Type.Number({ minimum: 0, maximum: 1, default: 0.7, description: 'Score from which the verdict is "malicious".' }),
    suspicious_at: Type.Number({ minimum: 0, maximum: 1, default: 0.4, description: 'Score from which the verdict is "suspicious".' }),
  },
  { additionalProperties: false, default: {} },
);

/** `enrichment:` section. Owned by the enrichment stage (issue 7). */
export const EnrichmentConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    warninglists: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Allow-lists in MISP warninglist format: folders (searched for list.json) or list.json files, relative to the config file. Indicators on them are never looked up.',
    }),
    skip_private_addresses: Type.Boolean({
      default: true,
      description: 'Never look up private, loopback, link-local, documentation and other reserved addresses and reserved TLDs.',
    }),
    lookup_documentation_ranges: Type.Boolean({
      default: false,
      description:
        'Look up documentation addresses and names (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, .test, .example, example.com) even though they are reserved. For demos and the test fakes; leave off in production.',
    }),
    max_indicators_per_event: Type.Integer({
      minimum: 1,
      default: 32,
      description: 'Indicators looked up per event, in field order; the rest are listed as skipped (over_limit), so one event with a huge related.ip cannot flood the queues.',
    }),
    deadline_ms: Type.Integer({
      minimum: 0,
      default: 2000,
      ...timerLimit('ms'),
      description: 'Longest an event waits for answers. Unanswered sources are listed in the verdict; their lookups go on and fill the cache.',
    }),
    request_timeout_ms: Type.Integer({ exclusiveMinimum: 0, default: 30000, ...timerLimit('ms'), description: 'Longest one lookup request may take.' }),
    max_concurrent_requests_per_source: Type.Integer({ minimum: 1, default: 2 }),
    max_queue_per_source: Type.Integer({
      minimum: 1,
      default: 10000,
      description: 'Indicators waiting for one source; past it the oldest lowest-priority ones are given up.',
    }),
    max_attempts: Type.Integer({ minimum: 1, default: 3, description: 'Tries for one indicator when its source is unavailable.' }),
    daily_budget_reserve: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.2,
      description: "Fraction of each source's daily request budget kept for high and critical detections.",
    }),
    min_reputation_score: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.3,
      description: 'Detections whose reputation score is below this are routed as low priority (never dropped).',
    }),
    severity: Type.Array(SeverityStepSchema, {
      default: [
        { min_score: 0.9, priority: 'critical' },
        { min_score: 0.7, priority: 'high' },
      ],
      description: 'Priority a detection is raised to (never lowered) when its reputation score reaches min_score.',
    }),
    cache: CacheConfigSchema,
    aggregation: AggregationConfigSchema,
  },
  { additionalProperties: false, default: {} },
);

export type EnrichmentConfig = Static<typeof EnrichmentConfigSchema>;
