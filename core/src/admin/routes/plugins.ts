import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { PluginListSchema, PluginNameParam, ValidateBody, ValidateResultSchema, errors } from '../schemas.js';
import { HostError } from '../../host.js';

export function pluginRoutes(app: AdminApp, { host, mutating }: RouteContext): void {
  app.get(
    '/plugins',
    {
      schema: {
        operationId: 'listPlugins',
        tags: ['plugins'],
        summary: 'Installed plugin packages: version, kind, plugin API compatibility, config schema',
        response: { 200: PluginListSchema, ...errors(401) },
      },
    },
    async () => ({ plugins: await host.plugins() }),
  );

  app.post(
    '/plugins/:name/config/validate',
    {
      config: mutating,
      schema: {
        operationId: 'validatePluginConfig',
        tags: ['plugins'],
        summary: "Check a candidate collector `config:` block against the plugin's schema",
        description:
          'Answers 200 with per-field errors (JSON pointers), valid=false when there are any. Values of secret fields are never echoed. ' +
          'Scoped package names need their slash URL-encoded: /plugins/%40acme%2Fplugin-foo/config/validate.',
        params: PluginNameParam,
        body: ValidateBody,
        response: { 200: ValidateResultSchema, ...errors(400, 401, 404, 413, 415, 429) },
      },
    },
    async (request) => {
      const { name } = request.params;
      const installed = await host.plugins();
      if (!installed.some((p) => p.name === name)) {
        throw new ApiError(404, AdminErrorCodes.PLUGIN_NOT_FOUND, `no plugin "${name}" is installed: GET /plugins lists them`);
      }
      let fieldErrors;
      try {
        fieldErrors = await host.validatePluginConfig(name, request.body);
      } catch (err) {
        if (err instanceof HostError && err.code === 'NOT_FOUND') throw new ApiError(404, AdminErrorCodes.PLUGIN_NOT_FOUND, err.message);
        throw err;
      }
      return { plugin: name, valid: fieldErrors.length === 0, errorCount: fieldErrors.length, errors: fieldErrors };
    },
  );
}
