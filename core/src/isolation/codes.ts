/** How a collector's worker thread can be lost; each becomes the collector's error code. */
export const IsolationErrorCodes = {
  /** No heartbeat from the worker for orchestrator.unresponsive_after_seconds: its event loop is blocked. */
  UNRESPONSIVE: 'UNRESPONSIVE',
  /** The worker's heap reached its limit (max_heap_mb) and V8 stopped it. */
  MEMORY_LIMIT: 'MEMORY_LIMIT',
  /** Something in the plugin threw outside any call (a timer, an unhandled rejection). */
  CRASHED: 'CRASHED',
  /** The worker ended by itself (process.exit() in the plugin). */
  EXITED: 'EXITED',
} as const;

export type IsolationErrorCode = (typeof IsolationErrorCodes)[keyof typeof IsolationErrorCodes];

const LOST = new Set<string>(Object.values(IsolationErrorCodes));

/** Codes after which the instance is gone: only a restart brings the collector back. */
export function isInstanceLost(code: string): boolean {
  return LOST.has(code);
}
