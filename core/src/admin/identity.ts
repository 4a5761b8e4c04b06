import { hash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Who the request authenticated as ("token:<hash prefix>", or a session's id), set by the
     * guard. Rate limits and stream caps are counted per identity, not per remote address: every
     * local client shares 127.0.0.1, so an address bucket lets one script lock out the operator.
     */
    authIdentity?: string;
  }
}

/** A stable, non-reversible name for a bearer token (never the token itself). */
export function tokenIdentity(token: string): string {
  return `token:${hash('sha256', token, 'hex').slice(0, 16)}`;
}

/** The identity a limit is counted against: the authenticated one, else the remote address. */
export function limitKey(request: FastifyRequest): string {
  return request.authIdentity ?? `address:${request.ip}`;
}
