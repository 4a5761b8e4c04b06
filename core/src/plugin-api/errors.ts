/**
 * Errors carry stable codes so supervision, the admin API and operators can act on them
 * without parsing messages. A plugin throws `PluginError`; anything else it throws is wrapped
 * as `PLUGIN_CRASHED` (retriable).
 */
export const ErrorCodes = {
  /** Credentials were refused. Not retriable until config changes; the collector degrades. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The backend asked us to slow down (HTTP 429). Retriable after `retryAfterMs`. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A daily/monthly quota is used up. Degraded, not failed. */
  QUOTA_EXHAUSTED: 'QUOTA_EXHAUSTED',
  /** The backend is unreachable or answered 5xx. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The backend answered something we cannot parse. */
  BAD_RESPONSE: 'BAD_RESPONSE',
  /** The operation exceeded its deadline. */
  TIMEOUT: 'TIMEOUT',
  /** The plugin's configuration is wrong in a way only visible at run time. */
  BAD_CONFIG: 'BAD_CONFIG',
  /** The plugin threw something that was not a PluginError. */
  PLUGIN_CRASHED: 'PLUGIN_CRASHED',
  /** The plugin returned a value that breaks the contract (e.g. events without @timestamp). */
  CONTRACT_VIOLATION: 'CONTRACT_VIOLATION',
  /** A poll was aborted because the collector was stopped. */
  ABORTED: 'ABORTED',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | (string & {});

export interface PluginErrorOptions {
  retriable?: boolean;
  /** Hint from the backend (Retry-After) for when to try again. */
  retryAfterMs?: number;
  cause?: unknown;
  /** Extra structured detail; never put secrets here. */
  detail?: Record<string, unknown>;
}

const DEFAULT_RETRIABLE: Readonly<Record<string, boolean>> = {
  AUTH_FAILED: false,
  BAD_CONFIG: false,
  CONTRACT_VIOLATION: true,
  RATE_LIMITED: true,
  QUOTA_EXHAUSTED: true,
  UNAVAILABLE: true,
  BAD_RESPONSE: true,
  TIMEOUT: true,
  PLUGIN_CRASHED: true,
  ABORTED: true,
};

/**
 * Whether an error with this code is worth retrying without a config change: false for refused
 * credentials and bad configuration, true for everything transient. Unknown codes are retriable.
 * Hosts use it wherever they only have a code (a health report), so the answer matches
 * `new PluginError(code, …).retriable`.
 */
export function isRetriableCode(code: string): boolean {
  return Object.hasOwn(DEFAULT_RETRIABLE, code) ? DEFAULT_RETRIABLE[code]! : true;
}

export class PluginError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly detail: Record<string, unknown> | undefined;
  /** Brand so hosts recognise errors thrown from another copy of this module. */
  readonly isPluginError = true;

  constructor(code: ErrorCode, message: string, options: PluginErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PluginError';
    this.code = code;
    this.retriable = options.retriable ?? isRetriableCode(code);
    this.retryAfterMs = options.retryAfterMs;
    this.detail = options.detail;
  }
}

export function isPluginError(err: unknown): err is PluginError {
  return typeof err === 'object' && err !== null && (err as { isPluginError?: unknown }).isPluginError === true;
}

/** Normalise anything a plugin threw into a PluginError. */
export function toPluginError(err: unknown): PluginError {
  if (isPluginError(err)) return err;
  if (err instanceof Error) {
    if (err.name === 'AbortError') return new PluginError(ErrorCodes.ABORTED, err.message, { cause: err });
    if (err.name === 'TimeoutError') return new PluginError(ErrorCodes.TIMEOUT, err.message, { cause: err });
    return new PluginError(ErrorCodes.PLUGIN_CRASHED, err.message || err.name, { cause: err });
  }
  return new PluginError(ErrorCodes.PLUGIN_CRASHED, `plugin threw a non-Error value: ${String(err).slice(0, 200)}`);
}
