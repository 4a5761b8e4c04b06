import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { EngineSpec } from './engine.js';
import type { RecordBatchResult, TextBatchResult, WorkerTask } from './protocol.js';
import type { FlatRecord } from './sigma/context.js';

/**
 * The compiled worker. When this module runs from src/ (vitest), workers still need JavaScript,
 * so the path points at the same file under dist/.
 */
export function workerFile(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? here.replace('/src/detection/', '/dist/detection/').replace(/pool\.ts$/, 'worker.js') : new URL('./worker.js', here).href;
  const file = fileURLToPath(url);
  if (!existsSync(file)) throw new Error(`detection worker ${file} is missing: build with "npx tsc -b" from the repository root`);
  return file;
}

export class DetectionTaskError extends Error {
  constructor(
    readonly reason: 'timeout' | 'worker',
    message: string,
  ) {
    super(message);
    this.name = 'DetectionTaskError';
  }
}

export interface PoolOptions {
  spec: EngineSpec;
  /** Workers; 0 or undefined = one per core. */
  threads?: number;
  taskTimeoutMs?: number;
  /** Tasks allowed to wait beyond one per worker before `needsDrain` turns true. */
  maxQueue?: number;
}

/** One Piscina pool running the detection engine, with backpressure the caller can await. */
export class DetectionPool {
  readonly threads: number;
  private readonly pool: Piscina;
  private readonly timeoutMs: number;
  private readonly limit: number;
  private inflight = 0;
  private waiters: (() => void)[] = [];

  constructor(opts: PoolOptions) {
    this.threads = opts.threads && opts.threads > 0 ? opts.threads : Math.max(1, availableParallelism());
    this.timeoutMs = opts.taskTimeoutMs ?? 10_000;
    this.limit = this.threads + (opts.maxQueue ?? 64);
    this.pool = new Piscina({
      filename: workerFile(),
      workerData: opts.spec,
      minThreads: this.threads,
      maxThreads: this.threads,
      // The task function is synchronous, so two "concurrent" tasks per worker is a prefetch: the
      // next batch already waits in the worker's queue instead of a main-thread round trip away.
      concurrentTasksPerWorker: 2,
      idleTimeout: 60_000,
    });
  }

  /** True while more tasks are in flight than workers plus the allowed queue: stop submitting. */
  get needsDrain(): boolean {
    return this.inflight >= this.limit;
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** Resolves once there is room for another task. */
  drain(): Promise<void> {
    if (!this.needsDrain) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  scanText(text: string, withFields = false): Promise<TextBatchResult> {
    return this.submit({ kind: 'text', text, withFields }) as Promise<TextBatchResult>;
  }

  evaluate(records: FlatRecord[]): Promise<RecordBatchResult> {
    return this.submit({ kind: 'records', records }) as Promise<RecordBatchResult>;
  }

  private async submit(task: WorkerTask): Promise<unknown> {
    this.inflight++;
    try {
      // A task past its deadline is aborted; Piscina terminates the worker running it and starts a fresh one.
      return await this.pool.run(task, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const err = e as Error;
      if (err.name === 'AbortError' || err.name === 'TimeoutError') {
        throw new DetectionTaskError('timeout', `detection task exceeded ${this.timeoutMs} ms (a pathological line or regex); its batch passes undetected`);
      }
      throw new DetectionTaskError('worker', `detection worker failed: ${err.message}`);
    } finally {
      this.inflight--;
      if (!this.needsDrain && this.waiters.length) {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    }
  }

  private closing: Promise<void> | undefined;

  close(): Promise<void> {
    return (this.closing ??= this.pool.destroy());
  }
}
