import type { ConfigControl } from '../../host.js';
import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { CollectorConfigBody, CollectorConfigSchema, CollectorIdParam, NewCollectorBody, ReloadReportSchema, errors } from '../schemas.js';

/** The host's config control, or 501 for an instance that cannot change its config at runtime. */
function control(ctx: RouteContext): ConfigControl {
  const c = ctx.host.configControl;
  if (!c) throw new ApiError(501, AdminErrorCodes.NOT_SUPPORTED, 'this instance cannot change its config at runtime (it was not started from a config file with `fabric start`)');
  return c;
}

/**
 * Kafka Connect's connector config routes for collectors: read the effective config (secrets
 * redacted), replace it (only that collector restarts), create and delete collectors (kept in
 * the overlay in the state folder, applied at every start), and reload the config file.
 */
export function configRoutes(app: AdminApp, ctx: RouteContext): void {
  const { mutating } = ctx;
  app.get(
    '/collectors/:id/config',
    {
      schema: {
        operationId: 'getCollectorConfig',
        tags: ['config'],
        summary: "A collector's (or enricher's) effective config entry: file and overlay, plugin defaults applied, secrets redacted",
        params: CollectorIdParam,
        response: { 200: CollectorConfigSchema, ...errors(400, 401, 404, 501) },
      },
    },
    async (request) => control(ctx).collectorConfig(request.params.id),
  );

  app.put(
    '/collectors/:id/config',
    {
      config: mutating,
      schema: {
        operationId: 'putCollectorConfig',
        tags: ['config'],
        summary: "Replace a collector's config entry; only that collector restarts",
        description:
          'Checked as `fabric validate` checks a file (the collector schema, then the plugin’s own config schema): 400 CONFIG_REFUSED with `details[]` naming each field, and nothing changes. ' +
          'A secret sent back as GET showed it ("[redacted]") keeps the stored value. Applied by stopping this collector gracefully (its batches acknowledged, its checkpoint written) and starting it with the new config; ' +
          'the other collectors keep polling. Saved in the overlay (`<state_dir>/config-overlay.json`), so it survives a restart. Enricher configs are read at start: 409.',
        params: CollectorIdParam,
        body: CollectorConfigBody,
        response: { 200: CollectorConfigSchema, ...errors(400, 401, 404, 409, 413, 415, 429, 501) },
      },
    },
    async (request) => {
      const { id } = request.params;
      request.log.info({ audit: 'put-collector-config', collector: id }, 'collector config change requested through the admin API');
      return control(ctx).updateCollectorConfig(id, request.body as Record<string, unknown>);
    },
  );

  app.post(
    '/collectors',
    {
      config: mutating,
      schema: {
        operationId: 'createCollector',
        tags: ['config'],
        summary: 'Create a collector and start it',
        description:
          'Checked as `fabric validate` checks a file (400 CONFIG_REFUSED with `details[]`); 409 COLLECTOR_EXISTS when the id is taken. Saved in the overlay ' +
          '(`<state_dir>/config-overlay.json`), applied at every start. A stored checkpoint of the same id is read on from.',
        body: NewCollectorBody,
        response: { 201: CollectorConfigSchema, ...errors(400, 401, 409, 413, 415, 429, 501) },
      },
    },
    async (request, reply) => {
      request.log.info({ audit: 'create-collector', collector: request.body.id, plugin: request.body.plugin }, 'collector creation requested through the admin API');
      const view = await control(ctx).createCollector(request.body as Record<string, unknown>);
      return reply.code(201).send(view);
    },
  );

  app.delete(
    '/collectors/:id',
    {
      config: mutating,
      schema: {
        operationId: 'deleteCollector',
        tags: ['config'],
        summary: 'Stop a collector gracefully and remove it from the config',
        description:
          'Removed through the overlay (`<state_dir>/config-overlay.json`): the config file is not rewritten, and the collector stays removed at the next start. Its stored checkpoint is kept.',
        params: CollectorIdParam,
        response: { 204: { type: 'null', description: 'Collector stopped and removed' }, ...errors(400, 401, 404, 409, 429, 501) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      request.log.info({ audit: 'delete-collector', collector: id }, 'collector removal requested through the admin API');
      await control(ctx).deleteCollector(id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/reload',
    {
      config: mutating,
      schema: {
        operationId: 'reload',
        tags: ['config'],
        summary: 'Re-read the config file and the overlay; restart only the collectors whose config changed (also on SIGHUP)',
        description:
          'Collectors added are started, removed ones stopped gracefully, changed ones restarted with their new config; the others keep polling. A config that does not validate is refused ' +
          '(400 CONFIG_REFUSED, every problem in `details[]`) and the running config stays, whole. Other changed sections (sink, pipeline, enrichers…) are listed in `restartRequired` and apply at the next start.',
        response: { 200: ReloadReportSchema, ...errors(400, 401, 429, 501) },
      },
    },
    async (request) => {
      request.log.info({ audit: 'reload' }, 'config reload requested through the admin API');
      return control(ctx).reload();
    },
  );
}
