import type { EnricherView } from '../../host.js';
import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { CacheClearedSchema, CommandResultSchema, EnricherIdParam, EnricherListSchema, EnricherSchema, errors } from '../schemas.js';

function enricherNotFound(id: string): ApiError {
  return new ApiError(404, AdminErrorCodes.ENRICHER_NOT_FOUND, `no enricher "${id}": GET /enrichers lists the configured ids`);
}

/** Enrichers as Connect shows connectors: their collector's state and health, with the quota and cache only an enricher has. */
export function enricherRoutes(app: AdminApp, { host, mutating }: RouteContext): void {
  const list = (): EnricherView[] => host.enrichers?.() ?? [];
  const one = (id: string): EnricherView => {
    const e = list().find((x) => x.id === id);
    if (!e) throw enricherNotFound(id);
    return e;
  };

  app.get(
    '/enrichers',
    {
      schema: {
        operationId: 'listEnrichers',
        tags: ['enrichers'],
        summary: 'Every enricher: state, health, quota used and left, cache size and hit rate',
        response: { 200: EnricherListSchema, ...errors(401) },
      },
    },
    async () => ({ enrichers: list() }),
  );

  app.get(
    '/enrichers/:id',
    {
      schema: {
        operationId: 'getEnricher',
        tags: ['enrichers'],
        summary: 'One enricher: state, health, quota used and left, cache size and hit rate',
        params: EnricherIdParam,
        response: { 200: EnricherSchema, ...errors(400, 401, 404) },
      },
    },
    async (request) => one(request.params.id),
  );

  app.post(
    '/enrichers/:id/restart',
    {
      config: mutating,
      schema: {
        operationId: 'restartEnricher',
        tags: ['enrichers'],
        summary: "Restart an enricher's plugin instance (also recovers a failed one); lookups meanwhile fail fast and events go on without its verdicts",
        params: EnricherIdParam,
        response: { 200: CommandResultSchema, ...errors(400, 401, 404, 409, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      one(id);
      request.log.info({ audit: 'restart-enricher', enricher: id }, 'enricher restart requested through the admin API');
      const result = await host.command(id, 'restart');
      if (!result.ok) throw new ApiError(409, AdminErrorCodes.TRANSITION_NOT_ALLOWED, result.reason, { state: result.state });
      return { id, command: 'restart' as const, state: result.state };
    },
  );

  app.delete(
    '/enrichers/:id/cache',
    {
      config: mutating,
      schema: {
        operationId: 'clearEnricherCache',
        tags: ['enrichers'],
        summary: "Forget this enricher's cached verdicts: the next lookups ask it again (and spend its quota)",
        params: EnricherIdParam,
        response: { 200: CacheClearedSchema, ...errors(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      one(id);
      const removed = host.clearEnricherCache?.(id) ?? 0;
      request.log.info({ audit: 'clear-enricher-cache', enricher: id, removed }, 'enricher cache cleared through the admin API');
      return { id, removed };
    },
  );
}
