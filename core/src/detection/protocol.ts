import type { FlatRecord } from './sigma/context.js';

/** Messages between the main thread and detection workers. */
export type WorkerTask =
  | { kind: 'text'; text: string; withFields: boolean }
  | {
      kind: 'records';
      records: FlatRecord[];
      /** SharedArrayBuffer view the worker writes its position into (see DetectionEngine.watch). */
      progress?: Int32Array;
    };

/** Result of a text batch: flat (line, rule) pairs, and extracted fields of the matching lines. */
export interface TextScanResult {
  lines: number;
  /** [line index within the batch, rule index] pairs. */
  hits: Int32Array;
  /** When requested: extracted fields of every line that matched, keyed by line index. */
  fields?: Record<number, FlatRecord>;
  truncated: number;
}

export type TextBatchResult = TextScanResult;

export interface RecordBatchResult {
  /** Per record: matching rule indexes, or 0 when none (sparse, cheap to clone). */
  matches: (number[] | 0)[];
  /** Per record: fields the extractors added, or 0. */
  extracted: (FlatRecord | 0)[];
  truncated: number;
}

/** Posted by a worker once its module and engine are loaded, as `{ [WORKER_LOADED]: threadId }` (see DetectionPool.close). */
export const WORKER_LOADED = 'fabric-detection-worker-loaded';
