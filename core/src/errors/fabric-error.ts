import { errorCodeSpec, type FabricErrorCode } from './codes.js';

export interface FabricErrorOptions {
  cause?: unknown;
  /** This one error knows better than its code's default (a plugin's own judgement, an innocent task). */
  retriable?: boolean;
  /** The HTTP status that goes with this error when it is not its code's (an admin answer's own). */
  status?: number;
}

/**
 * The base of every error Reactive Fabric throws on purpose. Its `code` is a row of the table in
 * `./codes.ts`, which also gives `retriable` and `status`, so supervision, the admin API and the CLI
 * tell errors apart by `code` or `instanceof`, never by class name or message.
 */
export class FabricError extends Error {
  readonly code: string;
  /** The same operation, repeated unchanged, can succeed later. */
  readonly retriable: boolean;
  /** The HTTP status the admin API answers (or, for the CLI's client, answered) with this error. */
  declare readonly status?: number;

  constructor(code: FabricErrorCode, message: string, options: FabricErrorOptions = {}) {
    // An explicit `cause: undefined` would still show up as an own property in logs and equality checks.
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // For stack traces and logs only: code and instanceof are what callers test.
    this.name = new.target.name;
    this.code = code;
    const spec = errorCodeSpec(code);
    this.retriable = options.retriable ?? spec?.retriable ?? true;
    const status = options.status ?? spec?.status;
    // Absent rather than undefined, so errors without one keep the shape they always had.
    if (status !== undefined) (this as { status?: number }).status = status;
  }
}
