import type { Checkpoint, CollectorDescription, HealthReport, Indicator, Verdict } from '../plugin-api/index.js';
import type { RejectCode } from '../events/sanitize.js';

/**
 * Messages between a collector (host thread) and the worker thread that runs its plugin
 * instance. Everything here is structured-cloned, except poll batches, which travel as one
 * transferred buffer of JSON (see WorkerPollReply).
 */
export interface WorkerInit {
  /** file: URL of the plugin package's entry. */
  entry: string;
  config: unknown;
  collectorId: string;
  stateDir: string;
  configDir?: string;
  heartbeatMs: number;
  /** Largest poll batch, in bytes of JSON, that crosses to the host. */
  maxBatchBytes: number;
  /**
   * The host could not read the plugin's config schema (its import failed when the config was
   * loaded): the worker validates `config` and applies its defaults before create().
   */
  validateConfig?: boolean;
}

/** The data fields of a plugin's definition, as its worker reads them (functions stay there). */
export interface DefinitionData {
  name?: string;
  version?: string;
  kind?: string;
  apiVersion?: string;
  description?: string;
  configSchema?: unknown;
  checkpointSchema?: unknown;
  locality?: string;
}

/** What create() tells the host: the instance's description and the secret values of its config. */
export interface CreateReply {
  description: unknown;
  secrets: string[];
  /** Enrichers: what the enrichment stage reads from the instance (its lookups run in the worker). */
  enricher?: { supports: unknown; limits: unknown; cacheKey: string | undefined };
}

export type HostToWorker =
  | { t: 'call'; id: number; op: 'inspect' | 'create' | 'start' | 'stop' | 'describe' }
  | { t: 'call'; id: number; op: 'health' }
  | { t: 'call'; id: number; op: 'poll'; checkpoint: Checkpoint | undefined; maxEvents: number }
  | { t: 'call'; id: number; op: 'lookup'; indicators: Indicator[] }
  /** Abort the signal of call `id` (a poll or health check past its deadline). */
  | { t: 'abort'; id: number }
  /** The host is shutting down: fire the context's signal. */
  | { t: 'shutdown' }
  /** The host answered a poll from the batch pushed for `key`: read the next one. */
  | { t: 'took'; key: string };

export interface WireError {
  code: string;
  message: string;
  retriable: boolean;
  retryAfterMs?: number;
}

/** An event the worker could not send as JSON: `null` in its place, and why. */
export interface WireRefusal {
  i: number;
  code: RejectCode;
  reason: string;
  original: { text: string; truncated: boolean; length: number };
}

/** A poll's result: `{ events, checkpoint, hasMore, refused }` as UTF-8 JSON in a transferred buffer. */
export interface WorkerPollReply {
  t: 'reply';
  id: number;
  ok: true;
  batch: Uint8Array;
  events: number;
}

/** A batch read ahead from position `key` (JSON of the checkpoint), pushed before the host asks. */
export type WorkerAhead = { t: 'ahead'; key: string; maxEvents: number } & ({ batch: Uint8Array; events: number } | { error: WireError });

export type WorkerToHost =
  | WorkerPollReply
  | WorkerAhead
  /** The poll is answered by the batch already pushed for its position (sent just before). */
  | { t: 'reply'; id: number; ok: true; fromAhead: true }
  | { t: 'reply'; id: number; ok: true; value?: HealthReport | CollectorDescription | DefinitionData | CreateReply | Verdict[] | null }
  | { t: 'reply'; id: number; ok: false; error: WireError }
  | { t: 'beat'; heapUsed: number; heapLimit: number; elu: number; busyMs: number }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: unknown; msg?: string };
