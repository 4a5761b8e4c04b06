import Type from 'typebox';
import type { ServerResponse } from 'node:http';
import type { AdminApp, RouteContext } from '../app.js';
import type { JournalEvent } from '../event-journal.js';
import { errors } from '../schemas.js';

/** A client further behind than this many bytes is disconnected rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1 << 20;

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
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function eventRoutes(app: AdminApp, { host, config, journal }: RouteContext): void {
  const epoch = Date.now().toString(36);
  const open = new Set<ServerResponse>();
  // Streams never end by themselves; close them so app.close() does not wait for clients.
  app.addHook('preClose', async () => {
    for (const raw of open) raw.end();
    open.clear();
  });

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
          ...errors(400, 401),
        },
      },
    },
    async (request, reply) => {
      const only = request.query.collector;
      const wanted = (e: JournalEvent): boolean => only === undefined || (e.type === 'transition' ? e.data.collector === only : e.data.id === only);
      const raw = reply.raw;
      // Headers set by hooks (helmet) are on the reply, which a hijacked response does not send.
      const headers: Record<string, string | string[] | number> = {};
      for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v as string | string[] | number;
      reply.hijack();
      raw.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.socket?.setNoDelay(true);
      open.add(raw);

      let closed = false;
      const send = (chunk: string): void => {
        if (closed) return;
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          request.log.warn({ buffered: raw.writableLength }, 'SSE client too slow; disconnecting it');
          cleanup();
          raw.destroy();
          return;
        }
        raw.write(chunk);
      };
      const onEvent = (e: JournalEvent): void => {
        if (wanted(e)) send(frame(e.type, e.data, formatId(epoch, e.id)));
      };
      // Subscribe before replaying so nothing that happens in between is lost; replay skips what the live feed will send.
      const replayUpTo = journal.next - 1;
      const unsubscribe = journal.subscribe(onEvent);
      const heartbeat = setInterval(() => send(`: keep-alive ${new Date().toISOString()}\n\n`), config.sse_heartbeat_seconds * 1000);
      heartbeat.unref();
      const cleanup = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(raw);
      };
      raw.on('close', cleanup);
      raw.on('error', cleanup);

      send(`retry: 3000\n\n`);
      const last = parseLastEventId(request.headers['last-event-id'], epoch);
      if (last === undefined) {
        const collectors = host.listCollectors().filter((c) => only === undefined || c.id === only);
        send(frame('snapshot', { collectors }));
      } else {
        const { events, gap } = last.stale ? { events: [], gap: true } : journal.since(last.seq);
        if (gap || last.seq > replayUpTo) send(frame('gap', { reason: last.stale ? 'server restarted since that event id' : 'events were dropped from the replay buffer', resync: 'GET /collectors' }));
        for (const e of events) if (e.id <= replayUpTo) onEvent(e);
      }
    },
  );
}
