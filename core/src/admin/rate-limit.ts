import type { FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { AdminApp } from './context.js';
import type { AdminConfig } from './config.js';
import { AdminErrorCodes, ApiError } from './errors.js';
import { limitKey } from './identity.js';

/**
 * One @fastify/rate-limit limiter for every route marked `mutating`, so a client cannot multiply
 * its budget by spreading requests over routes (per-route limits each keep their own counters).
 * Attached to those routes only: reads pay nothing for it. Runs after the token check, and counts
 * per authenticated identity (limitKey), not per address: every local client is 127.0.0.1.
 */
export async function installRateLimit(app: AdminApp, config: AdminConfig): Promise<void> {
  await app.register(rateLimit, { global: false });
  const limit = app.createRateLimit({ max: config.rate_limit.max, timeWindow: config.rate_limit.window_seconds * 1000, keyGenerator: limitKey });
  const rateLimitHook = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const verdict = await limit(request);
    if (verdict.isAllowed) return;
    void reply
      .header('x-ratelimit-limit', String(verdict.max))
      .header('x-ratelimit-remaining', String(verdict.remaining))
      .header('x-ratelimit-reset', String(verdict.ttlInSeconds));
    if (!verdict.isExceeded) return;
    void reply.header('retry-after', String(verdict.ttlInSeconds));
    throw new ApiError(
      429,
      AdminErrorCodes.RATE_LIMITED,
      `more than ${verdict.max} changes per ${config.rate_limit.window_seconds}s with this token (admin.rate_limit); retry in ${verdict.ttlInSeconds}s`,
    );
  };
  app.addHook('onRoute', (route) => {
    if (route.config?.mutating !== true) return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, rateLimitHook] as typeof route.onRequest;
  });
}
