import Type from 'typebox';
import type { AdminApp, RouteContext } from '../context.js';
import type { JournalEvent } from '../event-journal.js';
import { errors } from '../schemas.js';
import { SseStreams } from '../sse.js';
import { redactDeep } from '../../logging.js';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../metrics/register.js';

/** The stream metrics, registered once per registry (a host can serve more than one app in tests). */
function streamMetrics(registry: Registry): { dropped: Counter; open: Gauge } {
  const dropped = counter(registry, { name: 'fabric_admin_sse_clients_dropped_total', help: '/events clients disconnected because they did not read fast enough' });
  const open = gauge(registry, { name: 'fabric_admin_sse_clients', help: 'Open /events streams' });
  return { dropped, open };
}

/** Event ids carry the server's start so an id from before a restart is recognised as stale. */
function formatId(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

function parseLastEventId(header: string | undefined, epoch: string): { seq: number; stale: boolean } | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^([0-9a-z]+)-(\d{1,15})$/.exec(header.trim());
  if (!m || m[1] !== epoch) return { seq: 0, stale: true };
  return { seq: Number(m[2]), stale: false };
}

function frame(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(redactDeep(data))}\n\n`;
}

export function eventRoutes(app: AdminApp, { host, config, journal }: RouteContext): void {
  const epoch = Date.now().toString(36);
  const metrics = streamMetrics(host.metrics);
  const streams = new SseStreams('/events', config, { onCount: (n) => metrics.open.set(n), onDrop: () => metrics.dropped.inc() });
  // Each event is serialised once and the same text written to every client (it used to be
  // stringified per client: 500 clients, 500 stringifications of every event).
  const frames = new WeakMap<JournalEvent, string>();
  const frameOf = (e: JournalEvent): string => {
    let text = frames.get(e);
    if (text === undefined) {
      text = frame(e.type, e.data, formatId(epoch, e.id));
      frames.set(e, text);
    }
    return text;
  };
  // Streams never end by themselves; close them so app.close() does not wait for clients.
  app.addHook('preClose', async () => streams.closeAll());

  app.get(
    '/events',
    {
      schema: {
        operationId: 'streamEvents',
        tags: ['collectors'],
        summary: 'Server-sent events: state transitions and collector status changes',
        description:
          'Events: `snapshot` (every collector, sent first on a fresh connection, no id), `transition` ({collector, at, from, to, event, reason}), ' +
          '`status` (a collector summary), `gap` (events were missed: re-read GET /collectors). Reconnect with Last-Event-ID to resume; ' +
          'a comment line is sent every admin.sse_heartbeat_seconds.',
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 64 })) }),
        querystring: Type.Object({ collector: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Only events of this collector' })) }),
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } },
          ...errors(400, 401, 429, 503),
        },
      },
    },
    async (request, reply) => {
      // Caps before anything is written: a stream costs a socket and a buffer for as long as it lives.
      const stream = streams.open(request, reply);
      const send = stream.send;
      const only = request.query.collector;
      const wanted = (e: JournalEvent): boolean => only === undefined || (e.type === 'transition' ? e.data.collector === only : e.data.id === only);
      const onEvent = (e: JournalEvent): void => {
        if (wanted(e)) send(frameOf(e));
      };
      // Subscribe before replaying so nothing that happens in between is lost; replay skips what the live feed will send.
      const replayUpTo = journal.next - 1;
      stream.onClose(journal.subscribe(onEvent));
      const last = parseLastEventId(request.headers['last-event-id'], epoch);
      if (last === undefined) {
        const collectors = host.listCollectors().filter((c) => only === undefined || c.id === only);
        send(frame('snapshot', { collectors }));
      } else {
        const { events, gap } = last.stale ? { events: [], gap: true } : journal.since(last.seq);
        if (gap || last.seq > replayUpTo)
          send(frame('gap', { reason: last.stale ? 'server restarted since that event id' : 'events were dropped from the replay buffer', resync: 'GET /collectors' }));
        for (const e of events) if (e.id <= replayUpTo) onEvent(e);
      }
    },
  );
}
