import { Secret, spanLimit, timerLimit, Type, type Static } from '@reactive-fabric/core';

export const ElasticsearchConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Cluster host name or IP, e.g. es.internal (no scheme, no credentials).' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 9200 }),
    scheme: Type.Union([Type.Literal('https'), Type.Literal('http')], { default: 'https' }),
    flavour: Type.Union([Type.Literal('auto'), Type.Literal('elasticsearch'), Type.Literal('opensearch')], {
      default: 'auto',
      description: '"auto" reads GET / once; set it when the credentials may not call GET /.',
    }),
    indices: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ['logs-*'], description: 'Index names, aliases, data streams or patterns.' }),
    query: Type.Optional(Type.String({ minLength: 1, description: 'Lucene query_string narrowing what is pulled, e.g. "event.dataset:system.auth".' })),
    timestamp_field: Type.String({ minLength: 1, default: '@timestamp', description: 'Date field the windows and the sort run on (event.ingested to pull by ingest time).' }),
    tiebreaker_field: Type.Optional(
      Type.String({ minLength: 1, description: 'Unique keyword field to break timestamp ties; default: _shard_doc in an ES point in time, _id otherwise.' }),
    ),
    query_window_minutes: Type.Number({
      ...spanLimit('minutes'),
      exclusiveMinimum: 0,
      default: 5,
      description: 'First poll looks back this far; later polls read at most this much time per window.',
    }),
    overlap_seconds: Type.Number({
      ...spanLimit('seconds'),
      minimum: 0,
      default: 60,
      description: 'Re-read this much before the last window end, for documents that arrive late.',
    }),
    max_results_per_query: Type.Integer({ minimum: 1, maximum: 10000, default: 1000, description: 'Page size of one search request.' }),
    max_seen_ids: Type.Integer({ minimum: 100, default: 20000, description: 'Bound of the de-duplication memory kept in the checkpoint.' }),
    use_pit: Type.Boolean({ default: true, description: 'Page inside a point in time (ES 7.10+, OpenSearch 2.4+).' }),
    pit_keep_alive: Type.String({ pattern: '^[0-9]+(ms|s|m|h)$', default: '1m' }),
    request_timeout_seconds: Type.Number({ exclusiveMinimum: 0, default: 30, ...timerLimit('seconds') }),
    tls: Type.Object(
      {
        ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA that signed the cluster certificate.' })),
        verify: Type.Boolean({ default: true, description: 'Verify the server certificate and host name.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        type: Type.Union([Type.Literal('none'), Type.Literal('basic'), Type.Literal('api_key'), Type.Literal('bearer')], { default: 'none' }),
        username: Type.Optional(Type.String({ minLength: 1 })),
        password: Type.Optional(Secret({ description: 'Basic auth password.' })),
        api_key: Type.Optional(Secret({ description: 'API key: the encoded form, or "id:api_key".' })),
        token: Type.Optional(Secret({ description: 'Bearer token (service account or OAuth).' })),
      },
      { additionalProperties: false, default: { type: 'none' } },
    ),
  },
  { additionalProperties: false },
);

export type ElasticsearchConfig = Static<typeof ElasticsearchConfigSchema>;
