import Type from 'typebox';
import type { AdminApp, RouteContext } from '../context.js';
import { errors } from '../schemas.js';

const DeadLetterRecordSchema = Type.Object({
  '@timestamp': Type.String({ format: 'date-time' }),
  collector: Type.String(),
  plugin: Type.String(),
  stage: Type.Union([Type.Literal('normalize'), Type.Literal('sink')], { description: 'normalize: refused at the pipeline boundary; sink: could not be serialised for the sink' }),
  reason: Type.Object({
    code: Type.String({ description: 'Stable code: NOT_AN_OBJECT, INVALID_TIMESTAMP, TOO_DEEP, TOO_LARGE, CYCLE, NOT_JSON, UNREADABLE, NOT_SERIALISABLE' }),
    message: Type.String(),
  }),
  original: Type.String({ description: 'The event as received, serialised safely; here cut to 8 KiB (the dead-letter file or topic keeps up to dead_letter.max_original_bytes)' }),
  original_length: Type.Integer(),
  original_truncated: Type.Boolean(),
  schema_version: Type.String(),
});

const DeadLetterListSchema = Type.Object({
  target: Type.Optional(Type.String({ description: 'Where records are written (file path or Kafka topic); absent when dead_letter.enabled is false' })),
  total: Type.Integer({ description: 'Events dead-lettered since start' }),
  writeFailures: Type.Integer({ description: 'Records that could not be written to the target (they are only here and in the log)' }),
  records: Type.Array(DeadLetterRecordSchema, { description: 'Newest first, from a bounded in-memory ring (dead_letter.recent)' }),
});

const DeadLetterQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  collector: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});

/** Dead letters: events refused one by one while the rest of their batch went on (issue 16). */
export function deadLetterRoutes(app: AdminApp, { host }: RouteContext): void {
  app.get(
    '/dead-letters',
    {
      schema: {
        operationId: 'listDeadLetters',
        tags: ['collectors'],
        summary: 'Most recent dead-lettered events, with reason, collector and the original',
        description:
          'The durable copy is in the dead-letter file (<state_dir>/dead-letters.jsonl) or the Kafka topic reactive_fabric.dead_letter; counts are in fabric_events_dead_lettered_total.',
        querystring: DeadLetterQuery,
        response: { 200: DeadLetterListSchema, ...errors(400, 401) },
      },
    },
    async (request) => {
      // A host without a dead-letter queue (embedding, tests) has none to show.
      if (!host.deadLetters) return { total: 0, writeFailures: 0, records: [] };
      return host.deadLetters(request.query.limit ?? 100, request.query.collector);
    },
  );
}
