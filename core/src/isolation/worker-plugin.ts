import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { requireCompiledWorker } from '../async/compiled-worker.js';
import {
  ErrorCodes,
  PluginError,
  type CollectorDescription,
  type EnricherInstance,
  type EnricherLimits,
  type HealthReport,
  type Indicator,
  type IndicatorType,
  type LookupOptions,
  type PluginLogger,
  type PollRequest,
  type PollResult,
  type SourceInstance,
  type Verdict,
} from '../plugin-api/index.js';
import type { CreateReply, DefinitionData, HostToWorker, WireError, WireRefusal, WorkerAhead, WorkerInit, WorkerToHost } from './protocol.js';
import { markParsedJson, RefusedEvent } from '../events/sanitize.js';
import { timerDelay } from '../async/time.js';
import { IsolationErrorCodes } from './codes.js';

/** The compiled worker (under dist/ even when this module runs from src/: compiledWorkerPath). */
function workerFile(): string {
  return requireCompiledWorker(import.meta.url, 'worker-main.js', 'plugin worker');
}

export interface WorkerLimits {
  /** V8 old-generation limit of the worker (resourceLimits.maxOldGenerationSizeMb). */
  maxHeapMb: number;
  /** No heartbeat for this long: the worker is blocked, and is terminated. */
  unresponsiveMs: number;
  heartbeatMs: number;
  maxBatchBytes: number;
  /** Deadline for create() (import included); the collector bounds the other calls. */
  createTimeoutMs: number;
}

/** What a collector's worker reports about itself (for the admin API and metrics). */
export interface WorkerResources {
  threadId: number;
  heapUsedBytes: number;
  heapLimitBytes: number;
  /** Share of the last heartbeat interval the worker's event loop was busy (0–1). */
  eventLoopUtilization: number;
  /** Time the worker's event loop spent busy since it started (CPU time of the thread, roughly). */
  busyMs: number;
}

export interface WorkerPluginOptions {
  /** Path of the plugin package's entry file. */
  entry: string;
  config: unknown;
  collectorId: string;
  stateDir: string;
  configDir?: string;
  logger: PluginLogger;
  limits: WorkerLimits;
  /** The worker validates `config` (the host could not import the plugin when the config was loaded). */
  validateConfig?: boolean;
  /** Each heartbeat's figures (metrics). */
  onUsage?(usage: WorkerResources): void;
  /** Called once when the worker is lost outside the host's control (crash, exit, memory, blocked). */
  onLost(error: PluginError): void;
}

const silent: PluginLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * A plugin instance (a source, or an enricher) living in its own worker thread. To its collector
 * it is an instance like any other; what the thread does wrong (exit, throw from a timer, block,
 * leak) ends the thread and surfaces as one PluginError with an isolation code, never in the host.
 */
export class WorkerPlugin implements SourceInstance, EnricherInstance {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastBeat = Date.now();
  private readonly monitor: NodeJS.Timeout;
  private lost: PluginError | undefined;
  private closing = false;
  private description: CollectorDescription | undefined;
  private usage: Omit<WorkerResources, 'threadId'> = { heapUsedBytes: 0, heapLimitBytes: 0, eventLoopUtilization: 0, busyMs: 0 };
  private readonly decoder = new TextDecoder();
  /** The batch the worker read ahead and pushed, until a poll asks from its position. */
  private ahead: WorkerAhead | undefined;

  private constructor(private readonly opts: WorkerPluginOptions) {
    const { limits } = opts;
    const init: WorkerInit = {
      entry: pathToFileURL(opts.entry).href,
      config: opts.config,
      collectorId: opts.collectorId,
      stateDir: opts.stateDir,
      ...(opts.configDir !== undefined ? { configDir: opts.configDir } : {}),
      heartbeatMs: limits.heartbeatMs,
      maxBatchBytes: limits.maxBatchBytes,
      ...(opts.validateConfig ? { validateConfig: true } : {}),
    };
    this.worker = new Worker(workerFile(), {
      workerData: init,
      // A 4 MB young generation: measured 26 MB RSS per worker instead of 37 MB (8 log-file
      // collectors), with bench/isolation's ratios within their run-to-run spread.
      resourceLimits: { maxOldGenerationSizeMb: limits.maxHeapMb, maxYoungGenerationSizeMb: 4 },
      // The plugin's console output goes to the host's, as it would inline.
      stdout: false,
      stderr: false,
      name: `collector ${opts.collectorId}`,
    });
    // The host's own handles keep it alive; a worker left behind must never hold its exit.
    this.worker.unref();
    this.worker.on('message', (m: WorkerToHost) => this.onMessage(m));
    this.worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        this.lose(
          new PluginError(
            IsolationErrorCodes.MEMORY_LIMIT,
            `the plugin's worker used more than its ${limits.maxHeapMb} MB heap limit and was stopped (raise max_heap_mb if the plugin needs more; a leak grows back after the restart)`,
            { retriable: true },
          ),
        );
      } else {
        this.lose(new PluginError(IsolationErrorCodes.CRASHED, `the plugin threw outside any call (a timer or an unhandled rejection): ${err.message}`, { retriable: true }));
      }
    });
    this.worker.on('exit', (code) => {
      if (!this.closing)
        this.lose(
          new PluginError(IsolationErrorCodes.EXITED, `the plugin's worker exited with code ${code} (process.exit() in the plugin ends only its worker)`, { retriable: true }),
        );
      this.closing = true;
      clearInterval(this.monitor);
    });
    this.monitor = setInterval(
      () => {
        const quietMs = Date.now() - this.lastBeat;
        if (quietMs > limits.unresponsiveMs) {
          this.lose(
            new PluginError(
              IsolationErrorCodes.UNRESPONSIVE,
              `the plugin's worker sent no heartbeat for ${quietMs} ms (its event loop is blocked, e.g. a synchronous loop); it was terminated`,
              { retriable: true },
            ),
          );
        }
      },
      Math.max(50, Math.min(limits.heartbeatMs, limits.unresponsiveMs / 4)),
    );
    this.monitor.unref();
  }

  /**
   * Imports the plugin in a throw-away worker and reads its definition's data (name, kind, API
   * range, schemas): how the host checks a config without running plugin code in its own thread.
   * A package that exits, throws, loops or leaks at import rejects with the isolation code.
   */
  static async inspect(entry: string, limits: WorkerLimits): Promise<DefinitionData> {
    const ws = new WorkerPlugin({ entry, config: undefined, collectorId: '(inspect)', stateDir: '', logger: silent, limits, onLost: () => undefined });
    try {
      return (await ws.call({ op: 'inspect' }, limits.createTimeoutMs)) as DefinitionData;
    } finally {
      await ws.terminate();
    }
  }

  /** Secret values of the config, when the worker validated it (validateConfig). */
  secrets: string[] = [];
  /** Enrichers: as the instance in the worker said at create(). */
  supports: readonly IndicatorType[] = [];
  limits: EnricherLimits | undefined;
  cacheKey: (() => string) | undefined;

  /** Starts the worker, imports the plugin there and creates the instance. */
  static async create(opts: WorkerPluginOptions): Promise<WorkerPlugin> {
    const ws = new WorkerPlugin(opts);
    try {
      const made = (await ws.call({ op: 'create' }, opts.limits.createTimeoutMs)) as CreateReply;
      if (made.description && typeof made.description === 'object') ws.description = made.description as CollectorDescription;
      ws.secrets = made.secrets;
      if (made.enricher) {
        const e = made.enricher;
        ws.supports = Array.isArray(e.supports) ? (e.supports.filter((t) => typeof t === 'string') as IndicatorType[]) : [];
        ws.limits = e.limits && typeof e.limits === 'object' ? (e.limits as EnricherLimits) : undefined;
        const key = e.cacheKey;
        ws.cacheKey = key === undefined ? undefined : () => key;
      }
      return ws;
    } catch (err) {
      await ws.terminate();
      throw err;
    }
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  resources(): WorkerResources {
    return { threadId: this.worker.threadId, ...this.usage };
  }

  private onMessage(m: WorkerToHost): void {
    this.lastBeat = Date.now();
    if (m.t === 'beat') {
      this.usage = { heapUsedBytes: m.heapUsed, heapLimitBytes: m.heapLimit, eventLoopUtilization: m.elu, busyMs: m.busyMs };
      this.opts.onUsage?.(this.resources());
      return;
    }
    if (m.t === 'log') {
      const { level, obj, msg } = m;
      this.opts.logger[level](obj as Record<string, unknown> | string, msg);
      return;
    }
    if (m.t === 'ahead') {
      this.ahead = m;
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if ('fromAhead' in m) {
      const a = this.ahead;
      this.ahead = undefined;
      if (!a) p.reject(new PluginError(ErrorCodes.CONTRACT_VIOLATION, 'the worker answered from a batch the host never received'));
      else this.unpack(a).then(p.resolve, p.reject);
      return;
    }
    if (!m.ok)
      p.reject(
        new PluginError(m.error.code, m.error.message, { retriable: m.error.retriable, ...(m.error.retryAfterMs !== undefined ? { retryAfterMs: m.error.retryAfterMs } : {}) }),
      );
    else if ('batch' in m) this.unpack(m).then(p.resolve, p.reject);
    else p.resolve(m.value);
  }

  private call(msg: Omit<Extract<HostToWorker, { t: 'call' }>, 'id' | 't'>, timeoutMs?: number, signal?: AbortSignal): Promise<unknown> {
    if (this.lost) return Promise.reject(this.lost);
    if (this.closing) return Promise.reject(new PluginError(ErrorCodes.ABORTED, 'the plugin worker is stopping'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => this.worker.postMessage({ t: 'abort', id } satisfies HostToWorker);
      const settle = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        resolve: (v) => {
          settle();
          resolve(v);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.pending.delete(id);
          onAbort();
          reject(new PluginError(ErrorCodes.TIMEOUT, `plugin ${msg.op}() did not finish within ${timeoutMs} ms in its worker`));
        }, timerDelay(timeoutMs));
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.worker.postMessage({ ...msg, t: 'call', id } as HostToWorker);
    });
  }

  private lose(error: PluginError): void {
    if (this.lost || this.closing) return;
    this.lost = error;
    this.ahead = undefined;
    clearInterval(this.monitor);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.closing = true;
    // terminate() stops even a synchronous loop (V8 TerminateExecution).
    void this.worker.terminate();
    this.opts.onLost(error);
  }

  async start(): Promise<void> {
    await this.call({ op: 'start' });
  }

  async poll(request: PollRequest): Promise<PollResult> {
    const key = JSON.stringify(request.checkpoint ?? null);
    const a = this.ahead;
    if (a && a.key === key && a.maxEvents === request.maxEvents && !this.lost && !this.closing) {
      this.ahead = undefined;
      this.worker.postMessage({ t: 'took', key } satisfies HostToWorker);
      return this.unpack(a);
    }
    // A batch read ahead from another position (a rewind, a reset) is never delivered.
    this.ahead = undefined;
    return (await this.call({ op: 'poll', checkpoint: request.checkpoint, maxEvents: request.maxEvents } as never, undefined, request.signal)) as PollResult;
  }

  /** Enrichers: the lookup runs in the worker; the stage checks the verdicts as it does inline. */
  async lookup(indicators: Indicator[], options: LookupOptions): Promise<Verdict[]> {
    return (await this.call({ op: 'lookup', indicators } as never, undefined, options.signal)) as Verdict[];
  }

  /** A batch from the worker as a poll result; events it could not send become RefusedEvents. */
  private async unpack(m: { batch: Uint8Array } | { error: WireError }): Promise<PollResult> {
    if ('error' in m)
      throw new PluginError(m.error.code, m.error.message, { retriable: m.error.retriable, ...(m.error.retryAfterMs !== undefined ? { retryAfterMs: m.error.retryAfterMs } : {}) });
    let batch: PollResult & { refused: WireRefusal[] };
    try {
      batch = JSON.parse(this.decoder.decode(m.batch)) as PollResult & { refused: WireRefusal[] };
    } catch (err) {
      throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `the poll batch from the worker could not be read: ${(err as Error).message}`);
    }
    for (const r of batch.refused) batch.events[r.i] = new RefusedEvent(r.code, r.reason, r.original) as never;
    if (Array.isArray(batch.events)) markParsedJson(batch.events);
    return { events: batch.events, checkpoint: batch.checkpoint, hasMore: batch.hasMore };
  }

  async healthCheck(signal: AbortSignal): Promise<HealthReport> {
    const r = (await this.call({ op: 'health' }, undefined, signal)) as HealthReport | null;
    return r ?? { status: 'healthy' };
  }

  describe(): CollectorDescription {
    // A plugin without describe() is described by the collector (backend "unknown").
    return this.description ?? { backend: 'unknown' };
  }

  /** Asks the plugin to stop (bounded by the collector's deadline), then ends the thread whatever it answered. */
  async stop(): Promise<void> {
    // stop() gets two heartbeats: a source has nothing to flush (the host commits its positions),
    // an enricher's caches are the host's too, and a blocked worker cannot run it anyway; waiting
    // longer would only spend the shutdown deadline on an answer that cannot come.
    const { heartbeatMs, createTimeoutMs } = this.opts.limits;
    try {
      if (!this.lost && !this.closing) await this.call({ op: 'stop' }, Math.min(createTimeoutMs, 2 * heartbeatMs));
    } finally {
      await this.terminate();
    }
  }

  async terminate(): Promise<void> {
    clearInterval(this.monitor);
    this.closing = true;
    for (const p of this.pending.values()) p.reject(new PluginError(ErrorCodes.ABORTED, 'the plugin worker was stopped'));
    this.pending.clear();
    await this.worker.terminate();
  }
}
