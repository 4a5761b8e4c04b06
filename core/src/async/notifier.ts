/**
 * "Something changed, look again": `wait()` resolves at the next `notify()` (or when the signal
 * aborts — it never rejects), and the waiter re-checks its own condition. The one way code here
 * parks until state it does not own moves (a batch settles, a checkpoint is written, room frees).
 */
export class Notifier {
  private waiters: Array<() => void> = [];

  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wake every current waiter (later waiters wait for the next notify). */
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
