import Type from 'typebox';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { errors } from '../schemas.js';
import { clearedSessionCookie, sameOrigin, sessionCookie, sessionIdOf } from '../session.js';
import type { SessionStore } from '../session.js';

/**
 * The dashboard: static pages from `core/ui/` (shipped in the package, no CDN, works offline),
 * the vendored browser libraries (Preact + htm, uPlot) straight from node_modules, and the login
 * that trades the admin token for a session cookie. The pages get their own strict CSP: scripts,
 * styles and connections only from this origin, nothing inline.
 */

/** `core/ui`, from `src/admin/routes` and from `dist/admin/routes` alike. */
const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../ui');
const require = createRequire(import.meta.url);

const VENDOR: Record<string, { pkg: string; file: string }> = {
  'htm-preact.js': { pkg: 'htm', file: 'preact/standalone.module.js' },
  'uplot.js': { pkg: 'uplot', file: 'dist/uPlot.esm.js' },
  'uplot.css': { pkg: 'uplot', file: 'dist/uPlot.min.css' },
};

export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': UI_CSP,
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(?:js|css|svg|png)$/;

/** A dependency's folder, found from its main entry (htm's exports do not expose package.json). */
function packageRoot(pkg: string): string {
  let dir = path.dirname(require.resolve(pkg));
  while (path.basename(dir) !== pkg && path.dirname(dir) !== dir) dir = path.dirname(dir);
  if (path.basename(dir) !== pkg) throw new Error(`dashboard: cannot find the ${pkg} package folder; reinstall @reactive-fabric/core`);
  return dir;
}

export interface UiRouteOptions {
  sessions: SessionStore;
  /** The admin token check (constant time). */
  matches: (presented: string) => boolean;
  /** Session cookie lifetime in seconds (the store's absolute maximum). */
  cookieMaxAgeSeconds: number;
}

const SessionInfoSchema = Type.Object({ csrf: Type.String({ description: 'Send as X-Fabric-CSRF on state-changing requests' }), expiresAt: Type.String({ format: 'date-time' }) });

export async function uiRoutes(app: AdminApp, _ctx: RouteContext, opts: UiRouteOptions): Promise<void> {
  const { sessions, matches } = opts;
  const vendorRoots = new Map<string, { root: string; file: string }>();
  for (const [name, v] of Object.entries(VENDOR)) vendorRoots.set(name, { root: packageRoot(v.pkg), file: v.file });

  await app.register(async (ui) => {
    await ui.register(fastifyStatic, { root: UI_DIR, serve: false, decorateReply: true });
    // After the guard's API headers, so the pages get the CSP that lets them load their own assets.
    ui.addHook('onSend', async (_request, reply, payload) => {
      void reply.headers(UI_HEADERS);
      return payload;
    });
    const page = { public: true } as const;
    const hidden = { hide: true };

    ui.get('/ui', { config: page, schema: hidden }, async (request, reply) => {
      const id = sessionIdOf(request);
      if (id === undefined || !sessions.lookup(id)) return reply.redirect('/ui/login', 302);
      return reply.sendFile('index.html');
    });
    ui.get('/ui/login', { config: page, schema: hidden }, async (_request, reply) => reply.sendFile('login.html'));
    ui.get<{ Params: { file: string } }>('/ui/assets/:file', { config: page, schema: hidden }, async (request, reply) => {
      const { file } = request.params;
      if (!ASSET_NAME.test(file)) throw new ApiError(404, AdminErrorCodes.ROUTE_NOT_FOUND, `no dashboard asset "${file}"`);
      return reply.sendFile(file, path.join(UI_DIR, 'assets'));
    });
    ui.get<{ Params: { file: string } }>('/ui/vendor/:file', { config: page, schema: hidden }, async (request, reply) => {
      const v = vendorRoots.get(request.params.file);
      if (!v) throw new ApiError(404, AdminErrorCodes.ROUTE_NOT_FOUND, `no vendored library "${request.params.file}"`);
      return reply.sendFile(v.file, v.root);
    });
  });

  app.post(
    '/ui/session',
    {
      // Public (it is how a browser gets in) but counted against the mutating-request budget, which
      // bounds token guessing per client.
      config: { public: true, mutating: true },
      schema: {
        operationId: 'login',
        hide: true,
        tags: ['dashboard'],
        summary: 'Dashboard login: exchange the admin token for an HttpOnly, SameSite=Strict session cookie',
        security: [],
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
        response: { 201: SessionInfoSchema, ...errors(400, 401, 403, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      if (!sameOrigin(request)) throw new ApiError(403, AdminErrorCodes.UNAUTHORIZED, 'log in from the dashboard page of this server (the Origin header names another site)');
      if (!matches(request.body.token.trim())) {
        request.log.warn({ audit: 'dashboard-login-failed' }, 'dashboard login with a wrong token');
        throw new ApiError(
          401,
          AdminErrorCodes.UNAUTHORIZED,
          'that is not the admin token of this instance: use the value of FABRIC_ADMIN_TOKEN, admin.token, or the admin-token file in the state directory',
        );
      }
      const { id, info } = sessions.create();
      request.log.info({ audit: 'dashboard-login' }, 'dashboard session started');
      void reply.header('set-cookie', sessionCookie(request, id, opts.cookieMaxAgeSeconds));
      return reply.code(201).send(info);
    },
  );

  app.get(
    '/ui/session',
    {
      schema: {
        operationId: 'getSession',
        hide: true,
        tags: ['dashboard'],
        summary: "The dashboard session's CSRF token and expiry (cookie-authenticated requests only)",
        response: { 200: SessionInfoSchema, ...errors(401) },
      },
    },
    async (request) => {
      const id = sessionIdOf(request);
      const info = id === undefined ? undefined : sessions.lookup(id);
      if (!info) throw new ApiError(401, AdminErrorCodes.UNAUTHORIZED, 'no dashboard session: log in at /ui/login');
      return info;
    },
  );

  app.delete(
    '/ui/session',
    {
      config: { mutating: true },
      schema: {
        operationId: 'logout',
        hide: true,
        tags: ['dashboard'],
        summary: 'Dashboard logout: end the session and clear its cookie',
        response: { 204: { type: 'null', description: 'Logged out' }, ...errors(401, 403, 429) },
      },
    },
    async (request, reply) => {
      const id = sessionIdOf(request);
      if (id !== undefined) sessions.destroy(id);
      request.log.info({ audit: 'dashboard-logout' }, 'dashboard session ended');
      void reply.header('set-cookie', clearedSessionCookie(request));
      return reply.code(204).send(null);
    },
  );
}
