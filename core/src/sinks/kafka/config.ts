import Type from 'typebox';
import type { Static } from 'typebox';
import { Secret, spanLimit, timerLimit } from '../../plugin-api/schema.js';

/** `sink:` with `type: kafka`. Owned by the Kafka sink (issue 4). Defaults favour throughput with acks from every in-sync replica. */
export const KafkaSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('kafka'),
    brokers: Type.Array(Type.String({ minLength: 1, pattern: '^[^\\s:]+:[0-9]{1,5}$', description: 'host:port' }), {
      minItems: 1,
      description: 'Bootstrap brokers, host:port (e.g. ["127.0.0.1:29092"] for `node scripts/kafka/broker.mjs start`).',
    }),
    client_id: Type.String({ minLength: 1, default: 'reactive-fabric', description: 'Kafka client.id: shows in broker logs and quotas.' }),
    topics: Type.Object(
      {
        detections: Type.String({
          minLength: 1,
          maxLength: 249,
          pattern: '^[a-zA-Z0-9._-]+$',
          default: 'reactive_fabric.threat_detected',
          description: 'Published events (detections, alerts).',
        }),
        status: Type.String({
          minLength: 1,
          maxLength: 249,
          pattern: '^[a-zA-Z0-9._-]+$',
          default: 'reactive_fabric.honeypot_status',
          description: 'Collector status and lifecycle changes.',
        }),
        dead_letter: Type.String({
          minLength: 1,
          maxLength: 249,
          pattern: '^[a-zA-Z0-9._-]+$',
          default: 'reactive_fabric.dead_letter',
          description: 'Events refused one by one (dead letters), with reason and original.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    compression: Type.Union([Type.Literal('gzip'), Type.Literal('none')], { default: 'gzip' }),
    batch: Type.Object(
      {
        max_events: Type.Integer({ minimum: 1, maximum: 100000, default: 2000, description: 'Most events in one produce request.' }),
        linger_ms: Type.Integer({
          minimum: 0,
          maximum: 10000,
          default: 2,
          description:
            'Wait this long for more events before sending a request that is not full. One request is in flight at a time (idempotent producer); events arriving meanwhile fill the next one.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    tls: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ default: true }),
          ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle: a file path (relative to the config file) or the PEM text itself.' })),
          cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate for mutual TLS: a file path or the PEM text.' })),
          key: Type.Optional(
            Type.String({ minLength: 1, description: 'PEM client private key for mutual TLS: a file path or the PEM text. Use ${ENV} to keep it out of the file.' }),
          ),
          reject_unauthorized: Type.Boolean({ default: true, description: 'Verify the broker certificate. Turn off only for a test broker.' }),
        },
        { additionalProperties: false },
      ),
    ),
    sasl: Type.Optional(
      Type.Object(
        {
          mechanism: Type.Union([Type.Literal('plain'), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512')]),
          username: Type.String({ minLength: 1 }),
          password: Secret({ description: 'Write ${KAFKA_PASSWORD} to take it from the environment.' }),
        },
        { additionalProperties: false },
      ),
    ),
    create_topics: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Create missing topics at start; when false a missing topic stops the sink with an error.' }),
        partitions: Type.Integer({ minimum: 1, maximum: 10000, default: 3 }),
        replication_factor: Type.Integer({ minimum: 1, maximum: 32, default: 1, description: 'Use 3 on a production cluster.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    retry: Type.Object(
      {
        initial_backoff_ms: Type.Integer({ minimum: 1, default: 200, ...timerLimit('ms'), description: 'First wait after a failed produce request.' }),
        max_backoff_ms: Type.Integer({ minimum: 1, default: 10000, ...timerLimit('ms'), description: 'Longest wait between retries (backoff doubles up to it, with jitter).' }),
        request_timeout_ms: Type.Integer({ minimum: 100, default: 30000, ...timerLimit('ms') }),
        connection_timeout_ms: Type.Integer({ minimum: 100, default: 3000, ...timerLimit('ms') }),
        down_after_seconds: Type.Number({
          ...spanLimit('seconds'),
          minimum: 0,
          default: 30,
          description: 'Health turns from degraded to down when no request succeeded for this long.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    max_buffered_events: Type.Integer({
      minimum: 1,
      default: 50000,
      description: 'Events accepted but not yet acknowledged. Past it, write() waits (backpressure) so memory stays bounded while the broker is away.',
    }),
    flush_timeout_seconds: Type.Number({ minimum: 0, default: 10, ...timerLimit('seconds'), description: 'On shutdown, how long to keep delivering what was accepted.' }),
  },
  { additionalProperties: false },
);

export type KafkaSinkConfig = Static<typeof KafkaSinkConfigSchema>;
