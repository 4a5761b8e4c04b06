import { codesOf } from '../errors/codes.js';

/**
 * How a collector's worker thread can be lost; each becomes the collector's error code. The
 * codes and their meaning are rows of the error table (`core/src/errors/codes.ts`, area `isolation`).
 */
export const IsolationErrorCodes = codesOf('isolation');

export type IsolationErrorCode = (typeof IsolationErrorCodes)[keyof typeof IsolationErrorCodes];

const LOST = new Set<string>(Object.values(IsolationErrorCodes));

/** Codes after which the instance is gone: only a restart brings the collector back. */
export function isInstanceLost(code: string): boolean {
  return LOST.has(code);
}
