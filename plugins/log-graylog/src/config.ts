import { Secret, spanLimit, timerLimit, Type, type Static } from '@reactive-fabric/core';

export const GraylogConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Graylog server host name or IP (no scheme, no credentials).' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 9000 }),
    scheme: Type.Union([Type.Literal('https'), Type.Literal('http')], { default: 'https' }),
    api: Type.Union([Type.Literal('universal'), Type.Literal('scripting')], {
      default: 'universal',
      description: '"universal": GET /api/search/universal/absolute (5.1+ for paging; full messages); "scripting": POST /api/search/messages (5.0+; the listed fields only).',
    }),
    streams: Type.Array(Type.String({ pattern: '^[0-9a-f]{24}$' }), {
      default: [],
      description: 'Stream ids to pull; empty: every stream the token may read. The universal API filters one stream.',
    }),
    query: Type.String({ minLength: 1, default: '*', description: 'Graylog (Lucene) query narrowing what is pulled, e.g. application_name:sshd.' }),
    fields: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      default: ['timestamp', 'source', 'message', 'full_message', 'application_name', 'process_id', 'facility', 'level', 'streams', '_id', 'gl2_message_id'],
      description: 'Scripting API: the message fields to fetch (timestamp and an id are always added).',
    }),
    query_window_minutes: Type.Number({
      ...spanLimit('minutes'),
      exclusiveMinimum: 0,
      default: 5,
      description: 'First poll looks back this far; later polls read at most this much time per window.',
    }),
    overlap_seconds: Type.Number({ ...spanLimit('seconds'), minimum: 0, default: 60, description: 'Re-read this much before the last window end, for messages that arrive late.' }),
    max_results_per_query: Type.Integer({ minimum: 1, maximum: 10000, default: 1000, description: 'Page size (limit / size) of one search request.' }),
    max_seen_ids: Type.Integer({ minimum: 100, default: 20000, description: 'Bound of the de-duplication memory kept in the checkpoint.' }),
    request_timeout_seconds: Type.Number({ exclusiveMinimum: 0, default: 30, ...timerLimit('seconds') }),
    tls: Type.Object(
      {
        ca_file: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA that signed Graylog's certificate." })),
        verify: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        type: Type.Union([Type.Literal('token'), Type.Literal('basic')], {
          default: 'token',
          description: '"token": access token (sent as token:token); "basic": user and password.',
        }),
        token: Type.Optional(Secret({ description: 'Graylog access token (System > Users > Edit tokens).' })),
        username: Type.Optional(Type.String({ minLength: 1 })),
        password: Type.Optional(Secret()),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type GraylogConfig = Static<typeof GraylogConfigSchema>;
