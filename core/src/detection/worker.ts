/**
 * Piscina worker: builds the engine once from workerData (rules compile once per worker), then
 * evaluates batches. Only matches and extracted fields travel back.
 */
import { workerData } from 'piscina';
import { DetectionEngine, type EngineSpec } from './engine.js';
import type { FlatRecord } from './sigma/context.js';
import type { WorkerTask, RecordBatchResult, TextBatchResult } from './protocol.js';

const engine = new DetectionEngine(workerData as EngineSpec);

export default function run(task: WorkerTask): TextBatchResult | RecordBatchResult {
  if (task.kind === 'text') {
    // Hits are a compact Int32Array; cloning it is a memcpy, so it is not worth a transfer.
    return engine.scanText(task.text, task.withFields);
  }
  engine.watch(task.progress);
  try {
    return engine.evaluateBatch(task.records as FlatRecord[]);
  } finally {
    engine.watch(undefined);
  }
}
