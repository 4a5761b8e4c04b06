/**
 * Worker thread: folds the correlation checkpoint journals into a new base (compactStateFiles),
 * so parsing and serialising the whole state happens off the pipeline's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compactStateFiles } from './state-compaction.js';

const { file, upTo } = workerData as { file: string; upTo: number };
compactStateFiles(file, upTo).then(
  (r) => parentPort!.postMessage({ ok: true, ...r }),
  (err: Error) => parentPort!.postMessage({ ok: false, message: err.message }),
);
