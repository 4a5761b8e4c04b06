import { LRUCache } from 'lru-cache';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminConfig } from './config.js';
import { AdminErrorCodes, ApiError } from './errors.js';

/** Remote addresses tracked at once: bounds memory under a spray of source addresses. */
const MAX_TRACKED_ADDRESSES = 10_000;

/**
 * Failed authentications per remote address. Only failures are counted and only failures are
 * refused: the token is always checked first, so a script spamming bad tokens from 127.0.0.1 is
 * slowed down while the operator's CLI, on the same address with the valid token, never is.
 */
export class AuthFailureThrottle {
  private readonly windows: LRUCache<string, { count: number; resetAt: number }>;
  private readonly windowMs: number;

  constructor(
    private readonly config: AdminConfig['auth_failure_limit'],
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = config.window_seconds * 1000;
    this.windows = new LRUCache({ max: MAX_TRACKED_ADDRESSES });
  }

  /**
   * Count a failed authentication from the request's address. Returns a 429 error once the
   * address is over its budget (the caller sends it instead of 401), else undefined.
   */
  fail(request: FastifyRequest, reply: FastifyReply): ApiError | undefined {
    const key = request.ip;
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    if (w.count <= this.config.max) return undefined;
    const retry = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    void reply.header('retry-after', String(retry));
    return new ApiError(
      429,
      AdminErrorCodes.RATE_LIMITED,
      `more than ${this.config.max} failed authentications from ${key} in ${this.config.window_seconds}s (admin.auth_failure_limit); retry in ${retry}s with a valid token`,
    );
  }
}
