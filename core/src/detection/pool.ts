import { availableParallelism } from 'node:os';
import { requireCompiledWorker } from '../async/compiled-worker.js';
import { Piscina } from 'piscina';
import { FabricError } from '../errors/fabric-error.js';
import type { EngineSpec } from './engine.js';
import { performance } from 'node:perf_hooks';
import { WORKER_LOADED, type RecordBatchResult, type TextBatchResult, type WorkerTask } from './protocol.js';
import type { FlatRecord } from './sigma/context.js';
import { Notifier } from '../async/notifier.js';
import { sleep, timerDelay } from '../async/time.js';

/** How long close() waits for workers still loading (a worker that never loads is then terminated anyway). */
const LOAD_WAIT_MS = 5000;

/**
 * The compiled worker (under dist/ even when this module runs from src/: compiledWorkerPath).
 */
export function workerFile(): string {
  return requireCompiledWorker(import.meta.url, 'worker.js', 'detection worker');
}

const CODE_OF = { timeout: 'DETECTION_TIMEOUT', worker: 'DETECTION_WORKER_FAILED', start: 'DETECTION_WORKERS_DOWN' } as const;

export class DetectionTaskError extends FabricError {
  declare readonly code: (typeof CODE_OF)[keyof typeof CODE_OF];
  constructor(
    /** timeout: one event or task ran too long; worker: its worker died under it; start: no worker could start. */
    readonly reason: keyof typeof CODE_OF,
    message: string,
    /** The worker was stopped for another task: nothing in this one is to blame, so it runs again. */
    readonly innocent = false,
  ) {
    super(CODE_OF[reason], message, innocent ? { retriable: true } : {});
  }
}

/** An event whose evaluation was stopped: it is delivered undetected, the rest of its batch is not. */
export interface SkippedRecord {
  /** Index in the records given to `evaluate`. */
  index: number;
  /** timeout: stuck on this one event for the whole budget; worker: its worker died while on it. */
  reason: 'timeout' | 'worker';
  /** What was running on it: a rule index (>= 0), -2 - an extractor index, or -1 when unknown. */
  at: number;
}

export interface IsolatedBatchResult extends RecordBatchResult {
  /** Ascending by index; their `matches`/`extracted` entries are 0. */
  skipped: SkippedRecord[];
  /** Tasks that had to be run again because a worker was stopped under them. */
  retries: number;
}

export interface PoolOptions {
  spec: EngineSpec;
  /** Workers; 0 or undefined = one per core. */
  threads?: number;
  /**
   * Records: the longest one event may keep a worker busy (the worker is stopped, the event skipped
   * and the rest of its batch evaluated again). Text: the deadline of a whole task.
   */
  taskTimeoutMs?: number;
  /** Tasks allowed to wait beyond one per worker before `needsDrain` turns true. */
  maxQueue?: number;
  /**
   * A worker failed outside any task (in practice: while starting). Without a listener Piscina's
   * 'error' event would be thrown, and the process would end.
   */
  onWorkerError?(err: Error): void;
}

/** One Piscina pool running the detection engine, with backpressure the caller can await. */
export class DetectionPool {
  readonly threads: number;
  private readonly pool: Piscina;
  private readonly timeoutMs: number;
  private readonly limit: number;
  private inflight = 0;
  private readonly room = new Notifier();

  constructor(opts: PoolOptions) {
    this.threads = opts.threads && opts.threads > 0 ? opts.threads : Math.max(1, availableParallelism());
    this.timeoutMs = opts.taskTimeoutMs ?? 10_000;
    this.limit = this.threads + (opts.maxQueue ?? 64);
    this.pool = new Piscina({
      filename: workerFile(),
      workerData: opts.spec,
      minThreads: this.threads,
      maxThreads: this.threads,
      // Every task carries an abort signal (the stall watchdog), and Piscina runs an abortable task
      // alone on its worker: stopping a worker never takes another task's events down with it.
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
    });
    this.pool.on('message', (m: unknown) => {
      const id = (m as Record<string, unknown> | null)?.[WORKER_LOADED];
      if (typeof id !== 'number') return;
      this.down = undefined;
      this.loaded++;
      // Only live workers matter; ids of stopped ones go, so restarts do not grow the set.
      const alive = new Set(this.pool.threads.map((w) => w.threadId));
      for (const old of this.loadedIds) if (!alive.has(old)) this.loadedIds.delete(old);
      this.loadedIds.add(id);
      this.allLoaded.notify();
    });
    this.pool.on('error', (err: Error) => this.onWorkerError(err, opts.onWorkerError));
    // A worker gone without an 'error' (stopped by close(), or lost under a task) changes what ready() and close() wait for.
    this.pool.on('workerDestroy', () => this.allLoaded.notify());
  }

  /**
   * A worker that fails while starting is not replaced by Piscina, and a task queued for it waits
   * forever: once no worker is left, every queued task is failed with the cause. The next task
   * makes Piscina start workers again, so a passing cause (memory) heals by itself.
   */
  private onWorkerError(err: Error, report: PoolOptions['onWorkerError']): void {
    report?.(err);
    this.allLoaded.notify();
    if (this.pool.threads.length > 0) return;
    this.down = new DetectionTaskError('start', `no detection worker could start: ${err.message}`);
    for (const task of this.running) task.abort(this.down);
  }

  /** Set while no worker could start (cleared when one loads). */
  private down: DetectionTaskError | undefined;
  /** The abort of every task submitted and not settled (a long-lived signal shared by all would leak through AbortSignal.any on Node 20–22). */
  private readonly running = new Set<AbortController>();

  /** Why no worker is running, when that is so; undefined while the pool can run tasks. */
  get failure(): DetectionTaskError | undefined {
    return this.down;
  }

  /**
   * Resolves once every live worker has loaded the engine (or once close() was called: nothing is
   * left to wait for); rejects with DETECTION_WORKERS_DOWN when none could (a missing or broken
   * build, no memory for a thread).
   */
  async ready(): Promise<void> {
    for (;;) {
      if (this.closed.signal.aborted) return;
      if (this.down) throw this.down;
      if (!this.loading) return;
      await this.allLoaded.wait(this.closed.signal);
    }
  }

  /** Some live worker has not finished loading its module yet (a worker that failed to start is not live). */
  private get loading(): boolean {
    return this.pool.threads.some((w) => !this.loadedIds.has(w.threadId));
  }

  /** True while more tasks are in flight than workers plus the allowed queue: stop submitting. */
  get needsDrain(): boolean {
    return this.inflight >= this.limit;
  }

  /** Resolves once there is room for another task. */
  async drain(): Promise<void> {
    while (this.needsDrain) await this.room.wait();
  }

  scanText(text: string, withFields = false): Promise<TextBatchResult> {
    return this.submit({ kind: 'text', text, withFields }) as Promise<TextBatchResult>;
  }

  /**
   * Evaluate records; one event that stalls or kills a worker costs only itself. The worker reports
   * which record it is on through shared memory; an event stuck for `taskTimeoutMs` is stopped
   * (Piscina terminates the worker and starts another), reported in `skipped`, and the other records
   * go again in one task — one budget per offending event, not a bisection of the batch.
   */
  async evaluate(records: FlatRecord[]): Promise<IsolatedBatchResult> {
    const n = records.length;
    const matches: (number[] | 0)[] = new Array(n).fill(0);
    const extracted: (FlatRecord | 0)[] = new Array(n).fill(0);
    const skipped: SkippedRecord[] = [];
    let truncated = 0;
    let retries = 0;
    let unexplained = 0;
    const run = async (todo: number[]): Promise<void> => {
      for (;;) {
        const probe = new Int32Array(new SharedArrayBuffer(8));
        try {
          const res = await this.runWatched(todo.length === n ? records : todo.map((i) => records[i]!), probe);
          for (let k = 0; k < todo.length; k++) {
            matches[todo[k]!] = res.matches[k]!;
            extracted[todo[k]!] = res.extracted[k]!;
          }
          truncated += res.truncated;
          return;
        } catch (e) {
          if (!(e instanceof DetectionTaskError) || e.reason === 'start' || this.closing) throw e;
          retries++;
          const p = Atomics.load(probe, 0);
          if (p >= 1 && p <= todo.length) {
            // The record it was on when stopped or killed is skipped. The ones before it had finished
            // (their results died with the worker) and the ones after it go again as two tasks, so
            // they run in parallel and a later stall only repeats its own side.
            skipped.push({ index: todo[p - 1]!, reason: e.reason, at: Atomics.load(probe, 1) });
            const parts = [todo.slice(0, p - 1), todo.slice(p)].filter((x) => x.length > 0);
            await Promise.all(parts.map(run));
            return;
          }
          if (!e.innocent && ++unexplained > 3) {
            // Fails before or after its records every time (e.g. workers cannot start): no record to blame.
            for (const i of todo) skipped.push({ index: i, reason: e.reason, at: -1 });
            return;
          }
          // None of its records had started (its worker was stopped for another task): run it again.
        }
      }
    };
    if (n > 0) await run(records.map((_, i) => i));
    skipped.sort((a, b) => a.index - b.index);
    return { matches, extracted, truncated, skipped, retries };
  }

  private async runWatched(records: FlatRecord[], probe: Int32Array): Promise<RecordBatchResult> {
    const ac = new AbortController();
    let last = 0;
    let since = performance.now();
    let stalled = false;
    const tick = Math.max(10, Math.min(250, this.timeoutMs / 4));
    const timer = setInterval(() => {
      const p = Atomics.load(probe, 0);
      const now = performance.now();
      if (p !== last) {
        last = p;
        since = now;
      } else if (p >= 1 && p <= records.length && now - since >= this.timeoutMs) {
        stalled = true;
        ac.abort();
      }
    }, tick);
    timer.unref();
    try {
      return (await this.submit({ kind: 'records', records, progress: probe }, ac)) as RecordBatchResult;
    } catch (e) {
      if (stalled) throw new DetectionTaskError('timeout', `a detection worker spent over ${this.timeoutMs} ms on one event`);
      throw e;
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * `abort` stops the task (a queued one leaves the queue; a running one's worker is terminated by
   * Piscina, which starts a fresh one). Without one, the task's deadline is `taskTimeoutMs`.
   */
  private async submit(task: WorkerTask, abort?: AbortController): Promise<unknown> {
    const own = abort ?? new AbortController();
    const deadline = abort ? undefined : setTimeout(() => own.abort(new DOMException('deadline', 'TimeoutError')), timerDelay(this.timeoutMs)).unref();
    this.inflight++;
    this.running.add(own);
    try {
      return await this.pool.run(task, { signal: own.signal });
    } catch (e) {
      const err = e as Error;
      if (own.signal.reason instanceof DetectionTaskError) throw own.signal.reason;
      if (err.name === 'AbortError' || err.name === 'TimeoutError') {
        throw new DetectionTaskError('timeout', `detection task exceeded ${this.timeoutMs} ms (a pathological line or regex)`);
      }
      throw new DetectionTaskError('worker', `detection worker failed: ${err.message}`, err.message === 'Terminating worker thread');
    } finally {
      clearTimeout(deadline);
      this.running.delete(own);
      this.inflight--;
      if (!this.needsDrain) this.room.notify();
    }
  }

  private closing: Promise<void> | undefined;
  /** Aborted by close(): ready() stops waiting. */
  private readonly closed = new AbortController();
  /** Workers that posted WORKER_LOADED, restarted ones included. */
  private loaded = 0;
  /** threadIds of the live workers that have loaded. */
  private readonly loadedIds = new Set<number>();
  private readonly allLoaded = new Notifier();

  /** Workers that have finished loading their module (close() waits for all of them). */
  get workersLoaded(): number {
    return this.loaded;
  }

  /**
   * Waits (at most LOAD_WAIT_MS) for workers still loading their module: on Node 20, terminating a
   * worker in the middle of loading an ES module aborts the whole process with a V8 fatal error
   * (seen when `fabric start` failed right after composing, e.g. with the admin port taken).
   */
  close(): Promise<void> {
    this.closed.abort();
    return (this.closing ??= (async () => {
      // Not skipped while the pool is down: a batch may have started a worker that is loading now.
      if (this.loading) {
        // sleep's timer keeps the process up while we wait (an unref'd one let it exit mid-load).
        const done = new AbortController();
        const waited = (async () => {
          while (this.loading && !done.signal.aborted) await this.allLoaded.wait(done.signal);
        })();
        await Promise.race([waited, sleep(LOAD_WAIT_MS, done.signal)]);
        done.abort();
      }
      await this.pool.destroy();
    })());
  }
}
