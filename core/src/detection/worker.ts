/**
 * Piscina worker: builds the engine once from workerData (rules compile once per worker), then
 * evaluates batches. Only matches and extracted fields travel back.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { workerData } from 'piscina';
import { DetectionEngine, type EngineSpec } from './engine.js';
import type { FlatRecord } from './sigma/context.js';
import { WORKER_LOADED, type WorkerTask, type RecordBatchResult, type TextBatchResult } from './protocol.js';

const engine = new DetectionEngine(workerData as EngineSpec);
// A microtask, not a plain call: piscina loads this module with require(), and a message posted
// during evaluation lets close() terminate the worker mid-load (the Node 20 crash it exists to
// avoid). Not setImmediate either: once loaded, piscina's worker blocks in Atomics.wait until a
// task arrives, so a timer would not fire.
queueMicrotask(() => parentPort?.postMessage({ [WORKER_LOADED]: threadId }));

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
