import type { TextScanResult } from './engine.js';
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

export type TextBatchResult = TextScanResult;

export interface RecordBatchResult {
  /** Per record: matching rule indexes, or 0 when none (sparse, cheap to clone). */
  matches: (number[] | 0)[];
  /** Per record: fields the extractors added, or 0. */
  extracted: (FlatRecord | 0)[];
  truncated: number;
}
