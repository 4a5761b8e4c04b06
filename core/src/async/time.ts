/** Time-bound waits: the only sleep and deadline helpers in core. */
import { timerDelay } from '../plugin-api/schema.js';

// Defined with MAX_TIMER_MS in the plugin API, whose HTTP toolkit needs it too.
export { timerDelay };

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: callers check the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, timerDelay(ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * `p`, or a rejection with `onTimeout()` when `ms` pass first (or with `onAbort()` when `signal`
 * aborts first). The timer keeps the process alive: a hung plugin call must still end in an error.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error, abort?: { signal: AbortSignal; onAbort: () => Error }): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timerDelay(ms));
    const onAbort = (): void => reject(abort!.onAbort());
    abort?.signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      abort?.signal.removeEventListener('abort', onAbort);
    });
  });
}

/** `p`'s value, or `undefined` when `ms` pass first (best-effort waits, e.g. a shutdown deadline). */
export function settleWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), timerDelay(ms));
    timer.unref?.();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** `p`, rejected with the signal's reason when `signal` aborts first. */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
