import Type from 'typebox';
import type { AdminApp, RouteContext } from '../context.js';
import { redactDeep } from '../../logging.js';
import { HealthSchema, ReadinessSchema, StatsSchema, errors } from '../schemas.js';

export function systemRoutes(app: AdminApp, { host, config, startedAt, hasToken }: RouteContext): void {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        operationId: 'health',
        tags: ['system'],
        summary: 'Liveness: the process answers; how many collectors are healthy',
        description:
          'Always 200 while the process answers (a liveness probe must not restart the process because a backend is down). `collectors` counts ' +
          'collectors by health: one whose last poll failed is `degraded` even while its state machine still says running.',
        security: [],
        response: { 200: HealthSchema },
      },
    },
    async () => {
      const collectors = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
      for (const c of host.listCollectors()) collectors[c.health]++;
      return { status: 'ok' as const, uptimeSeconds: Math.round((Date.now() - startedAt) / 100) / 10, collectors };
    },
  );

  app.get(
    '/ready',
    {
      config: { public: true },
      schema: {
        operationId: 'ready',
        tags: ['system'],
        summary: 'Readiness: sink reachable, worker pool up, config loaded',
        description:
          '200 when every check passes, 503 otherwise. Without a token only `ready` is shown (a probe needs nothing more, and the checks name ' +
          'files and backends); with `Authorization: Bearer <token>` the per-check `checks` are included. Check details never contain secrets.',
        security: [],
        response: { 200: ReadinessSchema, 503: ReadinessSchema },
      },
    },
    async (request, reply) => {
      const report = await host.readiness();
      const body = hasToken(request) ? { ready: report.ready, checks: redactDeep(report.checks) } : { ready: report.ready };
      return reply.code(report.ready ? 200 : 503).send(body);
    },
  );

  app.get(
    '/metrics',
    {
      config: { public: config.metrics_public },
      schema: {
        operationId: 'metrics',
        tags: ['system'],
        summary: 'Prometheus metrics (text exposition format)',
        ...(config.metrics_public ? { security: [] } : {}),
        response: {
          200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: Type.String() } } },
          ...errors(401),
        },
      },
    },
    async (_request, reply) => {
      const text = await host.metrics.metrics();
      return reply.type(host.metrics.contentType).send(text);
    },
  );

  app.get(
    '/stats',
    {
      schema: {
        operationId: 'stats',
        tags: ['system'],
        summary: 'The numbers /metrics exposes, as JSON',
        response: { 200: StatsSchema, ...errors(401) },
      },
    },
    async () => host.stats(),
  );

  app.get('/openapi.json', { config: { public: config.docs_public }, schema: { hide: true } }, async () => app.swagger());
}
