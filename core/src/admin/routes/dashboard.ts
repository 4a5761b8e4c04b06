import Type from 'typebox';
import type { AdminApp, RouteContext } from '../context.js';
import { DetectionFeed } from '../detection-feed.js';
import { SseStreams } from '../sse.js';
import { RateHistory, sumByLabel } from '../rate-history.js';
import { errors } from '../schemas.js';
import type { TransitionRecord } from '../../host.js';

/**
 * The data routes behind the dashboard (/ui): one overview read, the rolling rate history, and
 * the detection feed. Ordinary API routes: bearer token or a dashboard session cookie.
 */

/** Samples every 5 s, 180 of them: the charts' 15 minutes. */
const SAMPLE_INTERVAL_MS = 5_000;
const HISTORY_SAMPLES = 180;
const FEED_CAPACITY = 500;

const IsoTime = Type.String({ format: 'date-time' });
const Rate = Type.Object({ in: Type.Number(), out: Type.Number() });
export const RateSampleSchema = Type.Object({
  t: Type.Integer({ description: 'Epoch milliseconds' }),
  collected: Type.Number({ description: 'Events/s collected, all collectors' }),
  published: Type.Number({ description: 'Events/s the sink acknowledged' }),
  queueEvents: Type.Number(),
  queueBatches: Type.Number(),
  collectors: Type.Record(Type.String(), Rate),
  enrichRequests: Type.Record(Type.String(), Type.Number(), { description: 'Lookups sent per enricher during the interval' }),
});
const HistorySchema = Type.Object({ intervalSeconds: Type.Number(), samples: Type.Array(RateSampleSchema) });

const DetectionSchema = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  kind: Type.Unsafe<'detection' | 'correlation'>({ type: 'string', enum: ['detection', 'correlation'] }),
  at: Type.String(),
  priority: Type.String(),
  rule: Type.String(),
  title: Type.Optional(Type.String()),
  techniques: Type.Array(Type.String()),
  sourceIp: Type.Optional(Type.String()),
  userName: Type.Optional(Type.String()),
  host: Type.Optional(Type.String()),
  collector: Type.String(),
  message: Type.Optional(Type.String()),
  members: Type.Optional(Type.Array(Type.String())),
  reputation: Type.Optional(
    Type.Object({
      verdict: Type.String(),
      score: Type.Optional(Type.Number()),
      explanation: Type.Optional(Type.String()),
      indicators: Type.Array(Type.Object({ type: Type.String(), value: Type.String(), verdict: Type.String(), score: Type.Optional(Type.Number()) })),
    }),
  ),
});
const DetectionListSchema = Type.Object({ detections: Type.Array(DetectionSchema) });
const DetectionQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: FEED_CAPACITY, default: 200 })),
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'Only detections with a larger seq' })),
});

const OverviewSchema = Type.Object({
  generatedAt: IsoTime,
  ready: Type.Boolean(),
  sink: Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) }),
  checks: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) })),
  restartBudget: Type.Optional(Type.Object({ intensity: Type.Integer(), periodSeconds: Type.Number() })),
  lastPublishedAt: Type.Optional(IsoTime),
  collectors: Type.Array(
    Type.Object({
      id: Type.String(),
      plugin: Type.String(),
      kind: Type.String(),
      state: Type.String(),
      since: IsoTime,
      health: Type.String(),
      restartCount: Type.Integer({ description: 'Restarts since the process started, manual ones included' }),
      restartsInPeriod: Type.Integer({ description: "Automatic restarts counted against the supervisor's budget (within restart_period_seconds, since the last manual start)" }),
      eventsCollected: Type.Integer(),
      eventsPublished: Type.Integer(),
      inFlight: Type.Integer(),
      lastSuccessAt: Type.Optional(IsoTime),
      checkpointUpdatedAt: Type.Optional(IsoTime),
      lastError: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), retriable: Type.Boolean(), count: Type.Integer(), since: IsoTime })),
      reason: Type.Optional(Type.String({ description: 'Why the collector entered its current state (the last transition reason), e.g. a health report' })),
    }),
  ),
  enrichment: Type.Object({
    enabled: Type.Boolean(),
    sources: Type.Array(
      Type.Object({
        id: Type.String(),
        state: Type.Optional(Type.String()),
        health: Type.Optional(Type.String()),
        requestsLastMinute: Type.Integer(),
        perMinuteLimit: Type.Optional(Type.Number({ description: 'Requests per minute the rate limiter allows this source' })),
        perDayLimit: Type.Optional(Type.Number({ description: 'Requests per UTC day the source allows, when it has a daily quota' })),
        requestsTotal: Type.Integer(),
        errorsTotal: Type.Integer(),
        dailyBudgetUsed: Type.Integer(),
        queue: Type.Integer(),
        cacheHits: Type.Integer(),
        cacheMisses: Type.Integer(),
      }),
    ),
  }),
});

function frame(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function dashboardRoutes(app: AdminApp, { host, config }: RouteContext): void {
  const history = new RateHistory(host, SAMPLE_INTERVAL_MS, HISTORY_SAMPLES, Date.now, (err) =>
    app.log.warn({ err: err.message }, 'dashboard rate sample failed; the chart has a gap'),
  );
  const feed = new DetectionFeed(host, FEED_CAPACITY, (err) => app.log.warn({ err: err.message }, 'dashboard detection feed: an event could not be summarised or sent'));
  let lastPublishedAt: string | undefined;
  const stopTracking = feed.subscribe(() => (lastPublishedAt = new Date().toISOString()));
  history.start();
  const streams = new SseStreams('/feed', config);
  app.addHook('preClose', async () => streams.closeAll());
  app.addHook('onClose', async () => {
    stopTracking();
    history.stop();
    feed.close();
  });

  app.get(
    '/overview',
    {
      schema: {
        operationId: 'overview',
        tags: ['dashboard'],
        summary: 'Everything the dashboard overview shows in one read: sink, collectors with last error and counters, enrichment sources',
        response: { 200: OverviewSchema, ...errors(401) },
      },
    },
    async () => {
      const readiness = await host.readiness();
      const budget = host.restartBudget?.();
      const collectors = host.listCollectors().flatMap((c) => {
        const d = host.getCollector(c.id);
        if (!d) return [];
        const history = host.transitions(c.id) ?? [];
        const last = history[history.length - 1];
        const reason = last && last.to === d.state ? last.reason : undefined;
        return [
          {
            id: d.id,
            plugin: d.plugin,
            kind: d.kind,
            state: d.state,
            since: d.since,
            health: d.health,
            restartCount: d.restartCount,
            restartsInPeriod: budgetUsed(history, budget?.periodSeconds),
            eventsCollected: d.metrics.eventsCollected,
            eventsPublished: d.metrics.eventsPublished,
            inFlight: d.metrics.inFlight,
            ...(d.metrics.lastSuccessAt ? { lastSuccessAt: d.metrics.lastSuccessAt } : {}),
            ...(d.checkpoint.updatedAt ? { checkpointUpdatedAt: d.checkpoint.updatedAt } : {}),
            ...(d.lastError ? { lastError: d.lastError } : {}),
            ...(reason ? { reason } : {}),
          },
        ];
      });
      const enabled = host.metrics.getSingleMetric('fabric_enrichment_events_total') !== undefined;
      const sources = enabled ? await enrichmentSources(host, history) : [];
      const sinkCheck = readiness.checks.sink ?? { ok: true };
      return {
        generatedAt: new Date().toISOString(),
        ready: readiness.ready,
        sink: sinkCheck,
        checks: readiness.checks,
        ...(budget ? { restartBudget: budget } : {}),
        ...(lastPublishedAt ? { lastPublishedAt } : {}),
        collectors,
        enrichment: { enabled, sources },
      };
    },
  );

  app.get(
    '/history',
    {
      schema: {
        operationId: 'history',
        tags: ['dashboard'],
        summary: 'Rolling 15 minutes of rates (events/s in and out per collector, queue depth, enrichment lookups), one sample every 5 s',
        response: { 200: HistorySchema, ...errors(401) },
      },
    },
    async () => ({ intervalSeconds: SAMPLE_INTERVAL_MS / 1000, samples: history.samples() }),
  );

  app.get(
    '/detections',
    {
      schema: {
        operationId: 'listDetections',
        tags: ['dashboard'],
        summary: `The last signals and alerts the sink acknowledged (at most ${FEED_CAPACITY} kept), oldest first`,
        querystring: DetectionQuery,
        response: { 200: DetectionListSchema, ...errors(400, 401) },
      },
    },
    async (request) => ({ detections: feed.recent(request.query.limit ?? 200, request.query.after ?? 0) }),
  );

  app.get(
    '/feed',
    {
      schema: {
        operationId: 'streamFeed',
        tags: ['dashboard'],
        summary: 'Server-sent events for the dashboard: `detection` (a new signal or alert, id = its seq) and `sample` (a new rate sample)',
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } }, ...errors(401, 429, 503) },
      },
    },
    async (request, reply) => {
      // The same caps as /events (admin.sse_*), counted separately for this stream.
      const stream = streams.open(request, reply);
      const send = stream.send;
      stream.onClose(feed.subscribe((d) => send(frame('detection', d, String(d.seq)))));
      stream.onClose(history.subscribe((s) => send(frame('sample', s))));
      // What was missed while disconnected: the browser resends the last detection's seq.
      const last = Number(request.headers['last-event-id']);
      if (Number.isInteger(last) && last > 0) for (const d of feed.recent(FEED_CAPACITY, last)) send(frame('detection', d, String(d.seq)));
    },
  );
}

/**
 * The supervisor's budget counts automatic restarts (after a failed start or a degraded health
 * check; not an operator's RESTART) within the period, and a manual start from stopped or failed
 * resets it (collectors/machine.ts). Read back from the transition history.
 */
export function budgetUsed(history: readonly TransitionRecord[], periodSeconds: number | undefined, now = Date.now()): number {
  let used = 0;
  const since = periodSeconds === undefined ? -Infinity : now - periodSeconds * 1000;
  for (const t of history) {
    if ((t.from === 'stopped' || t.from === 'failed') && t.to === 'starting') used = 0;
    else if (t.to === 'restarting' && t.event !== 'RESTART' && Date.parse(t.at) > since) used++;
  }
  return used;
}

async function enrichmentSources(host: RouteContext['host'], history: RateHistory) {
  const [requests, errorsBy, hits, misses, queue, budget] = await Promise.all([
    sumByLabel(host, 'fabric_enrichment_requests_total', 'enricher'),
    errorCounts(host),
    sumByLabel(host, 'fabric_enrichment_cache_hits_total', 'enricher'),
    sumByLabel(host, 'fabric_enrichment_cache_misses_total', 'enricher'),
    sumByLabel(host, 'fabric_enrichment_queue_depth', 'enricher'),
    sumByLabel(host, 'fabric_enrichment_daily_budget_used', 'enricher'),
  ]);
  const enrichers = host.listCollectors().filter((c) => c.kind === 'enricher');
  const ids = new Set([...enrichers.map((c) => c.id), ...requests.keys(), ...queue.keys(), ...budget.keys()]);
  const cutoff = Date.now() - 60_000;
  const lastMinute = new Map<string, number>();
  for (const s of history.samples()) if (s.t > cutoff) for (const [id, n] of Object.entries(s.enrichRequests)) lastMinute.set(id, (lastMinute.get(id) ?? 0) + n);
  const limits = new Map((host.enrichmentLimits?.() ?? []).map((l) => [l.id, l]));
  return [...ids].sort().map((id) => {
    const c = enrichers.find((e) => e.id === id);
    const limit = limits.get(id);
    return {
      id,
      ...(c ? { state: c.state, health: c.health } : {}),
      requestsLastMinute: Math.round(lastMinute.get(id) ?? 0),
      ...(limit ? { perMinuteLimit: limit.perMinute } : {}),
      ...(limit?.perDay !== undefined ? { perDayLimit: limit.perDay } : {}),
      requestsTotal: Math.round(requests.get(id) ?? 0),
      errorsTotal: Math.round(errorsBy.get(id) ?? 0),
      dailyBudgetUsed: Math.round(budget.get(id) ?? 0),
      queue: Math.round(queue.get(id) ?? 0),
      cacheHits: Math.round(hits.get(id) ?? 0),
      cacheMisses: Math.round(misses.get(id) ?? 0),
    };
  });
}

async function errorCounts(host: RouteContext['host']): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const m = host.metrics.getSingleMetric('fabric_enrichment_requests_total');
  if (!m) return out;
  for (const v of (await m.get()).values) {
    if (v.labels.outcome === 'ok' || v.labels.enricher === undefined) continue;
    const id = String(v.labels.enricher);
    out.set(id, (out.get(id) ?? 0) + v.value);
  }
  return out;
}
