import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseCookie, stringifySetCookie } from 'cookie';
import { AdminErrorCodes, ApiError } from './errors.js';
import './identity.js';

/**
 * Browser sessions of the dashboard. A browser's EventSource cannot send a bearer header, and the
 * page must never hold the admin token, so the token is exchanged once (POST /ui/session) for a
 * random session id in an HttpOnly, SameSite=Strict cookie. The API keeps accepting bearer tokens;
 * a cookie is only an alternative, checked by the guard when no valid bearer header came.
 *
 * Sessions live in this store, in memory, per admin app: a restart logs everyone out, which is
 * the safe failure. Only a hash of each id is kept, so a heap dump does not hand out live sessions.
 */

export const SESSION_COOKIE = 'fabric_session';
/** Header a cookie-authenticated mutating request must carry, with the session's CSRF token. */
export const CSRF_HEADER = 'x-fabric-csrf';

export interface SessionOptions {
  /** Idle time after which a session ends. */
  idleSeconds: number;
  /** Absolute lifetime, however active the session is. */
  maxAgeSeconds: number;
  /** Sessions kept at most; the oldest is dropped beyond (a login loop cannot grow memory). */
  maxSessions: number;
  now?: () => number;
}

interface Session {
  createdAt: number;
  lastSeen: number;
  csrf: string;
}

export interface SessionInfo {
  csrf: string;
  expiresAt: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A new session: the id goes into the cookie, the CSRF token to the page. */
  create(): { id: string; info: SessionInfo } {
    this.prune();
    while (this.sessions.size >= this.opts.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = { createdAt: t, lastSeen: t, csrf: randomBytes(24).toString('base64url') };
    this.sessions.set(digest(id), session);
    return { id, info: this.info(session) };
  }

  /** The live session of this id (touching it), or undefined when unknown or expired. */
  lookup(id: string): SessionInfo | undefined {
    const key = digest(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    const t = this.now();
    if (this.expired(s, t)) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeen = t;
    return this.info(s);
  }

  destroy(id: string): boolean {
    return this.sessions.delete(digest(id));
  }

  private info(s: Session): SessionInfo {
    const end = Math.min(s.lastSeen + this.opts.idleSeconds * 1000, s.createdAt + this.opts.maxAgeSeconds * 1000);
    return { csrf: s.csrf, expiresAt: new Date(end).toISOString() };
  }

  private expired(s: Session, t: number): boolean {
    return t - s.lastSeen >= this.opts.idleSeconds * 1000 || t - s.createdAt >= this.opts.maxAgeSeconds * 1000;
  }

  private prune(): void {
    const t = this.now();
    for (const [k, s] of this.sessions) if (this.expired(s, t)) this.sessions.delete(k);
  }
}

/** The session id of the request's cookie, if it sent one. */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  const id = parseCookie(header)[SESSION_COOKIE];
  return id === undefined || id === '' || id.length > 128 ? undefined : id;
}

export function sessionCookie(request: FastifyRequest, id: string, maxAgeSeconds: number): string {
  return stringifySetCookie({
    name: SESSION_COOKIE,
    value: id,
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    maxAge: maxAgeSeconds,
    secure: request.protocol === 'https',
  });
}

export function clearedSessionCookie(request: FastifyRequest): string {
  return stringifySetCookie({ name: SESSION_COOKIE, value: '', httpOnly: true, sameSite: 'strict', path: '/', maxAge: 0, secure: request.protocol === 'https' });
}

/**
 * Whether a browser request comes from a page of this server. Browsers send Origin on every
 * cross-origin request and on same-origin non-GET requests; a request without one came from a
 * non-browser client or an old browser's same-origin GET, neither of which can be a forged
 * cross-site request carrying our SameSite=Strict cookie.
 */
export function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const host = request.headers.host;
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * The guard's alternative to a bearer token: a valid session cookie, and for a state-changing
 * request also the session's CSRF token in the X-Fabric-CSRF header and a same-origin Origin.
 * Returns undefined when the request carries no session at all (the guard then denies as usual).
 */
export function sessionAuthenticator(store: SessionStore): (request: FastifyRequest, reply: FastifyReply) => 'ok' | ApiError | undefined {
  return (request) => {
    const id = sessionIdOf(request);
    if (id === undefined) return undefined;
    const session = store.lookup(id);
    if (!session) return new ApiError(401, AdminErrorCodes.UNAUTHORIZED, 'your dashboard session has expired or was ended: log in again at /ui/login');
    // Rate limits and stream caps count per identity (identity.ts): each browser session is one.
    request.authIdentity = `session:${digest(id).slice(0, 16)}`;
    if (SAFE_METHODS.has(request.method)) return 'ok';
    const presented = request.headers[CSRF_HEADER];
    if (typeof presented !== 'string' || !sameString(presented, session.csrf) || !sameOrigin(request)) {
      return new ApiError(
        403,
        AdminErrorCodes.UNAUTHORIZED,
        `a state-changing request with a session cookie needs the ${CSRF_HEADER} header from GET /ui/session and must come from this origin`,
      );
    }
    return 'ok';
  };
}
