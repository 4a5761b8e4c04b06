import { Secret, spanLimit, timerLimit, Type, type Static } from '@reactive-fabric/core';

export const SplunkConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Splunk search head host name or IP (no scheme, no credentials).' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 8089, description: 'Management (REST) port.' }),
    scheme: Type.Union([Type.Literal('https'), Type.Literal('http')], { default: 'https' }),
    index: Type.String({ minLength: 1, pattern: '^[^"\\s|]+$', default: 'main', description: 'Index to pull (wildcards allowed, e.g. "os_*").' }),
    query: Type.Optional(Type.String({ minLength: 1, description: 'SPL search terms added after index=…, e.g. sourcetype=linux_secure. No pipes.' })),
    mode: Type.Union([Type.Literal('export'), Type.Literal('jobs')], {
      default: 'export',
      description: '"export" streams results from /services/search/jobs/export; "jobs" creates a search job, polls it and pages its results.',
    }),
    results_api: Type.Union([Type.Literal('v1'), Type.Literal('v2')], { default: 'v1', description: 'Jobs mode: v2 results endpoints exist from Splunk 9.0.1.' }),
    query_window_minutes: Type.Number({
      ...spanLimit('minutes'),
      exclusiveMinimum: 0,
      default: 5,
      description: 'First poll looks back this far in index time; later polls read at most this much index time per search.',
    }),
    overlap_seconds: Type.Integer({
      ...spanLimit('seconds'),
      minimum: 0,
      default: 60,
      description: 'Re-read this much index time before the last window end (events that became searchable late).',
    }),
    max_results_per_query: Type.Integer({ minimum: 1, maximum: 50000, default: 1000, description: 'Jobs mode: results page size (count).' }),
    max_seen_ids: Type.Integer({ minimum: 100, default: 20000, description: 'Bound of the de-duplication memory kept in the checkpoint.' }),
    earliest_lookback_hours: Type.Number({
      ...spanLimit('hours'),
      exclusiveMinimum: 0,
      default: 24,
      description: 'earliest_time is this far before the index-time window: events whose _time is older are not pulled.',
    }),
    request_timeout_seconds: Type.Number({ exclusiveMinimum: 0, default: 30, ...timerLimit('seconds') }),
    job_timeout_seconds: Type.Number({ exclusiveMinimum: 0, default: 120, ...timerLimit('seconds'), description: 'Jobs mode: a job not done by then is cancelled.' }),
    job_poll_interval_ms: Type.Integer({ minimum: 10, default: 500, ...timerLimit('ms') }),
    tls: Type.Object(
      {
        ca_file: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA that signed splunkd's certificate." })),
        verify: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        type: Type.Union([Type.Literal('token'), Type.Literal('session'), Type.Literal('basic')], {
          default: 'token',
          description: '"token": Bearer authentication token; "session": log in once, then Splunk <sessionKey>; "basic": user and password on every request.',
        }),
        username: Type.Optional(Type.String({ minLength: 1 })),
        password: Type.Optional(Secret()),
        token: Type.Optional(Secret({ description: 'Splunk authentication token (Settings > Tokens).' })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type SplunkConfig = Static<typeof SplunkConfigSchema>;
