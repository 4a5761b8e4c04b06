import Type from 'typebox';
import type { ServerResponse } from 'node:http';
import type { AdminApp, RouteContext } from '../app.js';
import type { JournalEvent } from '../event-journal.js';
import { errors } from '../schemas.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { limitKey } from '../identity.js';
import { redactDeep } from '../../logging.js';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The stream metrics, registered once per registry (a host can serve more than one app in tests). */
function streamMetrics(registry: Registry): { dropped: Counter; open: Gauge } {
  const dropped =
    (registry.getSingleMetric('fabric_admin_sse_clients_dropped_total') as Counter | undefined) ??
    new Counter({ name: 'fabric_admin_sse_clients_dropped_total', help: '/events clients disconnected because they did not read fast enough', registers: [registry] });
  const open =
    (registry.getSingleMetric('fabric_admin_sse_clients') as Gauge | undefined) ??
    new Gauge({ name: 'fabric_admin_sse_clients', help: 'Open /events streams', registers: [registry] });
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
  const open = new Set<ServerResponse>();
  const perIdentity = new Map<string, number>();
  const metrics = streamMetrics(host.metrics);
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
  app.addHook('preClose', async () => {
    for (const raw of open) raw.end();
    open.clear();
    perIdentity.clear();
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
          ...errors(400, 401, 429, 503),
        },
      },
    },
    async (request, reply) => {
      // Caps before anything is written: a stream costs a socket and a buffer for as long as it lives.
      const who = limitKey(request);
      const mine = perIdentity.get(who) ?? 0;
      if (open.size >= config.sse_max_clients) {
        void reply.header('retry-after', '30');
        throw new ApiError(503, AdminErrorCodes.TOO_MANY_STREAMS, `${open.size} /events streams are open, the most this server allows (admin.sse_max_clients); close one or retry later`);
      }
      if (mine >= config.sse_max_clients_per_token) {
        void reply.header('retry-after', '30');
        throw new ApiError(429, AdminErrorCodes.TOO_MANY_STREAMS, `${mine} /events streams are already open with this token, the most allowed (admin.sse_max_clients_per_token); close one first`);
      }
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
      perIdentity.set(who, mine + 1);
      metrics.open.set(open.size);

      let closed = false;
      const send = (chunk: string): void => {
        if (closed) return;
        // write() returning false means the socket is past its high-water mark; the client is only
        // dropped once what waits for it exceeds the configured bound, so a short stall is fine.
        if (!raw.write(chunk) && raw.writableLength > config.sse_max_buffered_bytes) {
          request.log.warn({ buffered: raw.writableLength, limit: config.sse_max_buffered_bytes }, '/events client does not read; disconnecting it');
          metrics.dropped.inc();
          cleanup();
          raw.destroy();
        }
      };
      const onEvent = (e: JournalEvent): void => {
        if (wanted(e)) send(frameOf(e));
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
        const left = (perIdentity.get(who) ?? 1) - 1;
        if (left <= 0) perIdentity.delete(who);
        else perIdentity.set(who, left);
        metrics.open.set(open.size);
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
