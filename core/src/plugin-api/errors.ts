import { FabricError } from '../errors/fabric-error.js';
import { codesOf, isRetriableCode, type FabricErrorCode } from '../errors/codes.js';

export { isRetriableCode };

/**
 * Errors carry stable codes so supervision, the admin API and operators can act on them
 * without parsing messages. A plugin throws `PluginError`; anything else it throws is wrapped
 * as `PLUGIN_CRASHED` (retriable). The codes, what each means and whether it is retriable are
 * rows of the one table in `core/src/errors/codes.ts` (area `plugin`).
 */
export const ErrorCodes = codesOf('plugin');
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | (string & {});

export interface PluginErrorOptions {
  retriable?: boolean;
  /** Hint from the backend (Retry-After) for when to try again. */
  retryAfterMs?: number;
  cause?: unknown;
  /** Extra structured detail; never put secrets here. */
  detail?: Record<string, unknown>;
}

export class PluginError extends FabricError {
  declare readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly detail: Record<string, unknown> | undefined;
  /** Brand so hosts recognise errors thrown from another copy of this module. */
  readonly isPluginError = true;

  constructor(code: ErrorCode, message: string, options: PluginErrorOptions = {}) {
    // A plugin may use a code of its own: unknown to the table, and retriable unless it says otherwise.
    super(code as FabricErrorCode, message, { cause: options.cause, retriable: options.retriable });
    this.name = 'PluginError';
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
