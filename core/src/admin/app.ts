import Fastify, { LogController } from 'fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Value } from 'typebox/value';
import type { FabricHost } from '../host.js';
import { PLUGIN_API_VERSION } from '../plugin-api/plugin.js';
import { AdminConfigSchema } from './config.js';
import type { AdminConfig } from './config.js';
import { AdminErrorCodes, errorBody, handleError } from './errors.js';
import { EventJournal } from './event-journal.js';
import { strictTypeBoxCompiler } from './validator.js';
import { lazyChildLogger } from './request-logger.js';
import { SharedSchemas, errors } from './schemas.js';
import { bearerToken, tokenMatcher } from './token.js';
import { installGuards } from './guard.js';
import { installRateLimit } from './rate-limit.js';
import { installHostCheck } from './host-check.js';
import { systemRoutes } from './routes/system.js';
import { collectorRoutes } from './routes/collectors.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { pluginRoutes } from './routes/plugins.js';
import { falsePositiveRoutes } from './routes/false-positives.js';
import { eventRoutes } from './routes/events.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { tapRoutes } from './routes/tap.js';
import { uiRoutes } from './routes/ui.js';
import { configRoutes } from './routes/configuration.js';
import { instanceRoutes } from './routes/instance.js';
import { clusterRoutes } from './routes/cluster.js';
import { enricherRoutes } from './routes/enrichers.js';
import { SessionStore, sessionAuthenticator } from './session.js';
import type { AdminApp, AdminAppOptions, RouteContext } from './context.js';

/** Dashboard sessions: 8 h idle, 24 h at most, 100 at once. */
const SESSION_OPTIONS = { idleSeconds: 8 * 3600, maxAgeSeconds: 24 * 3600, maxSessions: 100 };

const MAX_PARAM_LENGTH = 2048;

export type { AdminApp, AdminAppOptions, RouteContext } from './context.js';

/** Fill defaults of a partial `admin:` section (as the YAML loader would) and reject invalid values. */
export function resolveAdminConfig(config: Partial<AdminConfig> | AdminConfig): AdminConfig {
  const value = Value.Default(AdminConfigSchema, structuredClone(config)) as AdminConfig;
  const first = Value.Errors(AdminConfigSchema, value)[0];
  if (first) throw new Error(`admin${first.instancePath.replace(/\//g, '.')}: ${first.message}`);
  return value;
}

/**
 * Build the admin API's Fastify instance without listening: tests drive it with `app.inject`,
 * startAdminServer() binds it.
 */
export async function buildAdminApp(host: FabricHost, adminConfig: Partial<AdminConfig> | AdminConfig, opts: AdminAppOptions): Promise<AdminApp> {
  const config = resolveAdminConfig(adminConfig);
  const matches = tokenMatcher(opts.token);
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: 'admin-api' }),
    bodyLimit: config.body_limit_bytes,
    // Request ids come from us, not from a client header that could be used to forge log lines.
    requestIdHeader: false,
    // Per-request lines would flood the log under a scraper; mutations are audit-logged by their routes.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    return503OnClosing: true,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Requests Node's HTTP parser rejects (headers or URL over 16 KiB, broken framing) never reach
    // Fastify's error handler: answer them in the same JSON shape.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) return;
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? 431 : 400;
      const body = JSON.stringify(
        errorBody(
          status,
          tooLarge ? AdminErrorCodes.HEADERS_TOO_LARGE : AdminErrorCodes.INVALID_REQUEST,
          tooLarge ? 'the URL and headers exceed 16 KiB: shorten the URL' : 'malformed HTTP request',
        ),
      );
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    // Malformed URLs are rejected by the router before any hook runs: check the token here too,
    // so an unauthenticated client gets 401 whatever the URL looks like.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const presented = bearerToken(request.headers.authorization);
      if (presented === undefined || !matches(presented)) {
        void reply.header('www-authenticate', 'Bearer realm="reactive-fabric"');
        return reply.code(401).send(errorBody(401, AdminErrorCodes.UNAUTHORIZED, 'missing or invalid bearer token'));
      }
      const message =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
          : error.code === 'FST_ERR_BAD_URL'
            ? 'the URL is not valid (bad percent-encoding?)'
            : 'the request could not be routed';
      return reply.code(400).send(errorBody(400, AdminErrorCodes.INVALID_REQUEST, message));
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as AdminApp;
  app.setValidatorCompiler(strictTypeBoxCompiler);
  for (const schema of SharedSchemas) app.addSchema(schema);

  // JSON only: a text/plain body would otherwise reach validation as a string and get a confusing message.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(handleError);

  const sessions = new SessionStore(SESSION_OPTIONS);
  installHostCheck(app, config);
  installGuards(app, config, matches, sessionAuthenticator(sessions));
  await installRateLimit(app, config);

  // Any route whose URL carries client data can meet Node's 16 KiB header limit: say so in its contract.
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { params?: unknown; querystring?: unknown; response?: Record<string, unknown> } | undefined;
    if (schema?.response && (schema.params || schema.querystring)) Object.assign(schema.response, errors(431));
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Reactive Fabric admin API',
        version: PLUGIN_API_VERSION,
        description:
          "See and control every collector's state machine. Every route but `/health` and `/ready` needs `Authorization: Bearer <token>`; " +
          'errors are JSON `{ statusCode, code, error, message }` with a stable `code`.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: '`admin.token`, `FABRIC_ADMIN_TOKEN`, or the file `<state_dir>/admin-token`' } },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'system', description: 'Liveness, readiness, metrics' },
        { name: 'collectors', description: 'Collector state machines and commands' },
        { name: 'config', description: "Collectors' config at runtime: read, replace, create, delete, reload" },
        { name: 'enrichers', description: 'Enrichers: state, quota, cache, restart' },
        { name: 'checkpoints', description: 'Stored source positions' },
        { name: 'plugins', description: 'Installed plugin packages' },
        { name: 'false-positives', description: 'Indicators excluded from verdicts' },
        { name: 'dashboard', description: 'The web dashboard at /ui: login, overview, rate history, detection feed' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  // The HTML docs get helmet's browser protections (CSP for the Swagger UI page and its assets),
  // encapsulated so the JSON routes do not run its per-request hooks.
  await app.register(async (docs) => {
    await docs.register(helmet, {
      global: true,
      // Served over plain HTTP on loopback: upgrading the docs' asset requests to https would break them.
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    });
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/g, ''),
      uiConfig: { persistAuthorization: false, tryItOutEnabled: true },
    });
  });

  const journal = new EventJournal(host, config.sse_replay_size);
  app.addHook('onClose', async () => journal.close());
  const ctx: RouteContext = {
    host,
    config,
    journal,
    mutating: { mutating: true },
    startedAt: Date.now(),
    hasToken: (request) => {
      const presented = bearerToken(request.headers.authorization);
      return presented !== undefined && matches(presented);
    },
  };
  systemRoutes(app, ctx);
  collectorRoutes(app, ctx);
  configRoutes(app, ctx);
  instanceRoutes(app, ctx);
  clusterRoutes(app, ctx);
  enricherRoutes(app, ctx);
  checkpointRoutes(app, ctx);
  pluginRoutes(app, ctx);
  falsePositiveRoutes(app, ctx);
  eventRoutes(app, ctx);
  deadLetterRoutes(app, ctx);
  dashboardRoutes(app, ctx);
  tapRoutes(app, ctx);
  await uiRoutes(app, ctx, { sessions, matches, cookieMaxAgeSeconds: SESSION_OPTIONS.maxAgeSeconds });
  await app.ready();
  return app;
}
