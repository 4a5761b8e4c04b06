import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { redactDeep, redactSecrets } from '../logging.js';
import { ERROR_CODES, FabricError, type ErrorCodeSpec, type FabricErrorCode } from '../errors/index.js';
import { ConfigRefusedError, HostError } from '../host.js';

/**
 * Stable machine-readable codes of admin API errors. Clients switch on `code`, never on `message`.
 * They are the rows of the error table (`core/src/errors/codes.ts`) that have an HTTP status: the
 * table is where a code is added, with its meaning and status.
 */
export const AdminErrorCodes = answeredCodes();
export type AdminErrorCode = (typeof AdminErrorCodes)[keyof typeof AdminErrorCodes];

type Answered = { [K in FabricErrorCode as (typeof ERROR_CODES)[K] extends { status: number } ? K : never]: K };

function answeredCodes(): Readonly<Answered> {
  const out: Record<string, string> = {};
  for (const [code, spec] of Object.entries(ERROR_CODES) as Array<[string, ErrorCodeSpec]>) if (spec.status !== undefined) out[code] = code;
  return Object.freeze(out) as unknown as Readonly<Answered>;
}

export interface AdminErrorBody {
  statusCode: number;
  code: AdminErrorCode;
  error: string;
  message: string;
  /** Collector state at the time of a 409. */
  state?: string;
  /** Per-field problems of a 400. */
  details?: Array<{ path: string; message: string }>;
}

/** An error a route throws on purpose; the error handler turns it into the JSON body as is. */
export class ApiError extends FabricError {
  declare readonly code: AdminErrorCode;
  constructor(
    readonly statusCode: number,
    code: AdminErrorCode,
    message: string,
    readonly extra: Pick<AdminErrorBody, 'state' | 'details'> = {},
  ) {
    super(code, message, { status: statusCode });
  }
}

export function errorBody(statusCode: number, code: AdminErrorCode, message: string, extra: Pick<AdminErrorBody, 'state' | 'details'> = {}): AdminErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message, ...extra };
}

/** Map a host failure to the API's codes; `what` names the missing thing for NOT_FOUND. */
export function fromHostError(err: HostError, notFound: AdminErrorCode = AdminErrorCodes.COLLECTOR_NOT_FOUND): ApiError {
  if (err.code === 'NOT_FOUND') return new ApiError(404, notFound, err.message);
  if (err.code === 'CONFLICT') return new ApiError(409, AdminErrorCodes.CONFLICT, err.message);
  if (err.code === 'EXISTS') return new ApiError(409, AdminErrorCodes.COLLECTOR_EXISTS, err.message);
  return new ApiError(400, AdminErrorCodes.INVALID_REQUEST, err.message);
}

type ValidationItem = { instancePath?: string; message?: string; params?: Record<string, unknown>; keyword?: string };

function validationDetails(err: FastifyError): Array<{ path: string; message: string }> {
  const context = (err as { validationContext?: string }).validationContext ?? 'request';
  return ((err.validation ?? []) as ValidationItem[]).map((v) => {
    const missing = v.keyword === 'required' && Array.isArray(v.params?.requiredProperties) ? `/${(v.params.requiredProperties as string[]).join(',')}` : '';
    return { path: `${context}${v.instancePath ?? ''}${missing}`, message: v.message ?? 'is invalid' };
  });
}

/**
 * One place that shapes every error: Fastify's own (validation, body parser, rate limit), the
 * host's, ours, and unexpected ones. Unexpected errors are logged with the request id and answered
 * with a generic message, so exception text (which may quote config) never reaches a client.
 */
export function handleError(err: FastifyError | ApiError | Error, request: FastifyRequest, reply: FastifyReply): void {
  let body: AdminErrorBody;
  if (err instanceof ApiError) {
    body = errorBody(err.statusCode, err.code, err.message, err.extra);
  } else if (err instanceof ConfigRefusedError) {
    // Problems come from plugin schemas and config values: secrets are replaced before they leave.
    body = errorBody(400, AdminErrorCodes.CONFIG_REFUSED, redactSecrets(err.message), { details: redactDeep(err.problems) });
  } else if (err instanceof HostError) {
    const mapped = fromHostError(err);
    body = errorBody(mapped.statusCode, mapped.code, mapped.message);
  } else {
    const fe = err as FastifyError;
    if (fe.validation) {
      const details = validationDetails(fe);
      const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
      body = errorBody(400, AdminErrorCodes.VALIDATION_FAILED, `request does not match the API schema: ${summary}`, { details });
    } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      body = errorBody(413, AdminErrorCodes.BODY_TOO_LARGE, `request body exceeds admin.body_limit_bytes (${request.routeOptions.bodyLimit ?? 'configured'} bytes)`);
    } else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      body = errorBody(415, AdminErrorCodes.UNSUPPORTED_MEDIA_TYPE, `unsupported Content-Type "${String(request.headers['content-type'] ?? '')}": send application/json`);
    } else if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (fe.statusCode === 400 && err instanceof SyntaxError)) {
      body = errorBody(400, AdminErrorCodes.INVALID_JSON, 'request body is not valid JSON');
    } else if (fe.statusCode === 429) {
      body = errorBody(429, AdminErrorCodes.RATE_LIMITED, fe.message);
    } else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      // Other client errors raised by Fastify itself (bad URL encoding, header limits…): their messages are ours to show.
      body = errorBody(fe.statusCode, AdminErrorCodes.INVALID_REQUEST, fe.message);
    } else {
      request.log.error({ err }, 'admin API request failed');
      body = errorBody(500, AdminErrorCodes.INTERNAL_ERROR, `internal error (request ${request.id}); the server log has the details`);
    }
  }
  if (body.statusCode >= 400 && body.statusCode < 500 && body.statusCode !== 401) {
    request.log.info({ code: body.code, statusCode: body.statusCode }, 'admin API request rejected');
  }
  void reply.code(body.statusCode).type('application/json; charset=utf-8').send(body);
}

/** 404 for a collector id the host does not know. */
export function notFound(id: string): ApiError {
  return new ApiError(404, AdminErrorCodes.COLLECTOR_NOT_FOUND, `no collector "${id}": GET /collectors lists the configured ids`);
}
