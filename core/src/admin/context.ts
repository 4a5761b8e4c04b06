import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type pino from 'pino';
import type { FabricHost } from '../host.js';
import type { AdminConfig } from './config.js';
import type { EventJournal } from './event-journal.js';

/*
 * What the admin app's parts share: the app's type, its options and what every route module is
 * given. Here, not in app.ts, so the route modules app.ts installs do not import it back.
 */

export type AdminApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the bearer token. */
    public?: boolean;
    /** Changes state: counted against admin.rate_limit. */
    mutating?: boolean;
    /** Swagger UI pages: helmet's headers instead of the API's. */
    docs?: boolean;
  }
}

export interface AdminAppOptions {
  logger: pino.Logger;
  /** The bearer token every non-public route requires. */
  token: string;
}

/** Everything a route module needs. */
export interface RouteContext {
  host: FabricHost;
  config: AdminConfig;
  journal: EventJournal;
  /** Route config of POST/PUT/DELETE routes: one rate-limit budget shared by all of them. */
  mutating: { mutating: true };
  startedAt: number;
  /** Whether the request carries the valid bearer token (for public routes that show more to it). */
  hasToken: (request: FastifyRequest) => boolean;
}
