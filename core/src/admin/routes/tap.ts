import Type from 'typebox';
import type { AdminApp, RouteContext } from '../context.js';
import { errors } from '../schemas.js';
import { SseStreams } from '../sse.js';
import { redactDeep } from '../../logging.js';
import { priorityOf } from '../../events/normalize.js';
import { PRIORITY_ORDER } from '../../events/priority.js';
import type { FabricEvent, Priority } from '../../plugin-api/index.js';

/**
 * `fabric tap`: every event the sink acknowledged, whole (secrets redacted), as it is published —
 * what /feed gives the dashboard in summary, for the terminal. Read-only; filtered here so a
 * narrow tap of a busy instance does not carry everything over the wire.
 */

const Query = Type.Object({
  collector: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Only events of this collector' })),
  kind: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, pattern: '^[a-z_]+(,[a-z_]+)*$', description: 'Only these event.kind values, comma-separated (e.g. `alert,signal`)' }),
  ),
  min_priority: Type.Optional(Type.Unsafe<Priority>({ type: 'string', enum: Object.keys(PRIORITY_ORDER), description: 'Only events of this routing priority or above' })),
});

function frame(e: FabricEvent): string {
  return `event: event\ndata: ${JSON.stringify(redactDeep(e))}\n\n`;
}

export function tapRoutes(app: AdminApp, { host, config }: RouteContext): void {
  const streams = new SseStreams('/tap', config);
  app.addHook('preClose', async () => streams.closeAll());

  app.get(
    '/tap',
    {
      schema: {
        operationId: 'tapEvents',
        tags: ['collectors'],
        summary: 'Server-sent events: every published event, whole (secrets redacted), filtered by collector, event.kind and priority',
        querystring: Query,
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } }, ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const stream = streams.open(request, reply);
      const { collector, kind, min_priority } = request.query;
      const kinds = kind === undefined ? undefined : new Set(kind.split(','));
      const min = min_priority === undefined ? 0 : PRIORITY_ORDER[min_priority];
      const wanted = (e: FabricEvent): boolean =>
        (collector === undefined || e.fabric?.collector === collector) &&
        (kinds === undefined || kinds.has(String((e as { event?: { kind?: unknown } }).event?.kind ?? 'event'))) &&
        PRIORITY_ORDER[priorityOf(e)] >= min;
      const onPublished = (events: readonly FabricEvent[]): void => {
        // Runs in the pipeline's publish path: a malformed event must not reach it as an exception.
        for (const e of events) {
          try {
            if (wanted(e)) stream.send(frame(e));
          } catch (err) {
            request.log.warn({ err: (err as Error).message }, '/tap: an event could not be sent');
          }
          if (stream.closed) return;
        }
      };
      host.events.on('published', onPublished);
      stream.onClose(() => host.events.off('published', onPublished));
    },
  );
}
