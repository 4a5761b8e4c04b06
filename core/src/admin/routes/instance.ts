import type { AdminApp, RouteContext } from '../context.js';
import { coreVersion } from '../core-version.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { PLUGIN_API_VERSION } from '../../plugin-api/plugin.js';
import { LoggersBody, LoggersSchema, VersionSchema, errors } from '../schemas.js';

/** What runs (versions) and how loudly it logs. */
export function instanceRoutes(app: AdminApp, { host, mutating }: RouteContext): void {
  app.get(
    '/version',
    {
      schema: {
        operationId: 'version',
        tags: ['system'],
        summary: 'Versions: core, Node.js, plugin API, and the plugin packages in use',
        response: { 200: VersionSchema, ...errors(401) },
      },
    },
    async () => {
      const plugins = new Map<string, { name: string; version: string; collectors: string[] }>();
      for (const c of host.listCollectors()) {
        const key = `${c.plugin}@${c.pluginVersion}`;
        const entry = plugins.get(key) ?? { name: c.plugin, version: c.pluginVersion, collectors: [] };
        entry.collectors.push(c.id);
        plugins.set(key, entry);
      }
      return { version: coreVersion(), node: process.version, pluginApi: PLUGIN_API_VERSION, plugins: [...plugins.values()] };
    },
  );

  const levels = () => {
    if (!host.logLevel || !host.setLogLevel) throw new ApiError(501, AdminErrorCodes.NOT_SUPPORTED, 'this instance does not expose its log level');
    return { get: host.logLevel.bind(host), set: host.setLogLevel.bind(host) };
  };

  app.get(
    '/admin/loggers',
    {
      schema: {
        operationId: 'getLogLevel',
        tags: ['system'],
        summary: 'The running log level',
        response: { 200: LoggersSchema, ...errors(401, 501) },
      },
    },
    async () => ({ level: levels().get() }),
  );

  app.put(
    '/admin/loggers',
    {
      config: mutating,
      schema: {
        operationId: 'setLogLevel',
        tags: ['system'],
        summary: 'Change the log level at runtime (until the next start or reload; the config file keeps its own)',
        body: LoggersBody,
        response: { 200: LoggersSchema, ...errors(400, 401, 413, 415, 429, 501) },
      },
    },
    async (request) => {
      const l = levels();
      const previous = l.get();
      l.set(request.body.level);
      request.log.info({ audit: 'set-log-level', from: previous, to: request.body.level }, 'log level changed through the admin API');
      return { level: l.get(), previous };
    },
  );
}
