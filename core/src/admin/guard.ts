import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminApp } from './context.js';
import type { AdminConfig } from './config.js';
import { AdminErrorCodes, ApiError, errorBody } from './errors.js';
import { bearerToken } from './token.js';
import { tokenIdentity } from './identity.js';
import { AuthFailureThrottle } from './auth-throttle.js';

/**
 * Headers of every API response. The API authenticates with a bearer header, never a cookie, so
 * a browser cannot be made to send it cross-site (no CSRF, no cross-site reads to defend against):
 * what is left is keeping JSON from being cached, sniffed into HTML, or rendered/framed. CSP
 * frame-ancestors supersedes X-Frame-Options. Static, so they are set as one object rather than
 * built per request; helmet's per-request CSP building is meant for HTML, and the docs pages get it.
 */
const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
};

type Hook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;

function deny(presented: string | undefined, reply: FastifyReply): ApiError {
  void reply.header('www-authenticate', 'Bearer realm="reactive-fabric"');
  return new ApiError(
    401,
    AdminErrorCodes.UNAUTHORIZED,
    presented === undefined
      ? 'missing bearer token: send "Authorization: Bearer <token>" (the token is in FABRIC_ADMIN_TOKEN, admin.token, or the admin-token file in the state directory)'
      : 'invalid bearer token',
  );
}

/**
 * Token check and security headers for every route, the not-found handler included. Hooks are
 * attached per route when it is registered (not decided per request from its config): the hot path
 * of an API route runs one small synchronous function. The check runs before rate limiting, body
 * parsing and validation, so an unauthenticated client learns nothing about the API.
 */
export function installGuards(
  app: AdminApp,
  config: AdminConfig,
  matches: (presented: string) => boolean,
  /** The dashboard's session cookie, accepted instead of a bearer header (session.ts). */
  session?: (request: FastifyRequest, reply: FastifyReply) => 'ok' | Error | undefined,
): void {
  // swagger-ui registers its routes itself; mark them here (public when the docs are meant to open in a browser).
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...(route.config ?? {}), docs: true, ...(config.docs_public ? { public: true } : {}) };
  });
  const failures = new AuthFailureThrottle(config.auth_failure_limit);
  // One valid token: remember its identity rather than hashing it again on every request.
  let known: { token: string; identity: string } | undefined;
  const authenticated = (request: FastifyRequest, presented: string): void => {
    if (known?.token !== presented) known = { token: presented, identity: tokenIdentity(presented) };
    request.authIdentity = known.identity;
  };
  const refuse = (request: FastifyRequest, presented: string | undefined, reply: FastifyReply): ApiError => failures.fail(request, reply) ?? deny(presented, reply);
  const securityHeaders: Hook = (_request, reply, done) => {
    void reply.headers(API_SECURITY_HEADERS);
    done();
  };
  const guarded: Hook = (request, reply, done) => {
    void reply.headers(API_SECURITY_HEADERS);
    const presented = bearerToken(request.headers.authorization);
    if (presented !== undefined && matches(presented)) {
      authenticated(request, presented);
      return done();
    }
    const viaSession = presented === undefined ? session?.(request, reply) : undefined;
    if (viaSession === 'ok') return done();
    done(viaSession ?? refuse(request, presented, reply));
  };
  const tokenOnly: Hook = (request, reply, done) => {
    const presented = bearerToken(request.headers.authorization);
    if (presented !== undefined && matches(presented)) {
      authenticated(request, presented);
      return done();
    }
    done(refuse(request, presented, reply));
  };
  const ours = new Set<unknown>([securityHeaders, guarded, tokenOnly]);
  app.addHook('onRoute', (route) => {
    const cfg = route.config ?? {};
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    // HEAD routes Fastify derives from GET routes arrive with the GET route's hooks already in place.
    if (existing.some((h) => ours.has(h))) return;
    const own = cfg.docs === true ? (cfg.public === true ? [] : [tokenOnly]) : cfg.public === true ? [securityHeaders] : [guarded];
    route.onRequest = [...own, ...existing] as typeof route.onRequest;
  });

  app.setNotFoundHandler({ preValidation: [guarded] }, (request, reply) => {
    void reply.code(404).send(errorBody(404, AdminErrorCodes.ROUTE_NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}; GET /openapi.json lists every route`));
  });
}
