import { existsSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { compiledWorkerPath } from '../async/compiled-worker.js';
import { Worker } from 'node:worker_threads';
import { syncDir } from '../state/atomic.js';
import { listJournals, mergeStateFiles, type StateFile } from './state-file.js';

/**
 * Fold the journals up to generation `upTo` into a new base, then remove them. Crash-safe at every
 * step: the base is replaced atomically and names the generation it covers, so journals it
 * covers are ignored (and removed later) if the process dies before removing them.
 */
export async function compactStateFiles(file: string, upTo: number, now = new Date()): Promise<{ bytes: number; journals: number; skippedLines: number }> {
  const merged = await mergeStateFiles(file, upTo);
  if (merged.kind === 'invalid') throw new Error(`correlation checkpoint ${file} cannot be compacted: ${merged.reason}`);
  let bytes = 0;
  if (merged.kind === 'ok') {
    const body: StateFile = { ...merged.state, saved_at: now.toISOString(), journal_generation: Math.max(merged.state.journal_generation ?? 0, upTo + 1) };
    bytes = await replaceBase(file, JSON.stringify(body));
  }
  let journals = 0;
  for (const j of await listJournals(file)) {
    if (j.gen > upTo) continue;
    await unlink(j.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    journals++;
  }
  return { bytes, journals, skippedLines: merged.kind === 'ok' ? merged.problems.length : 0 };
}

/** The compiled compaction worker; from src/ (vitest) the dist/ copy, like the detection worker. */
function compactorFile(): string | undefined {
  const file = compiledWorkerPath(import.meta.url, 'state-compactor.js');
  return existsSync(file) ? file : undefined;
}

/** compactStateFiles in a worker thread: parsing and writing a large state never blocks the event loop. */
export function compactInWorker(file: string, upTo: number): Promise<{ bytes: number; journals: number; skippedLines: number }> {
  const script = compactorFile();
  // Only when running from source without a build (tests): the same work, on this thread.
  if (!script) return compactStateFiles(file, upTo);
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: { file, upTo } });
    // A compaction is crash-safe at every step: it never keeps the process from exiting.
    worker.unref();
    let settled = false;
    worker.once('message', (m: { ok: true; bytes: number; journals: number; skippedLines: number } | { ok: false; message: string }) => {
      settled = true;
      if (m.ok) resolve({ bytes: m.bytes, journals: m.journals, skippedLines: m.skippedLines });
      else reject(new Error(m.message));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`correlation checkpoint compaction worker exited with code ${code}`));
    });
  });
}

/**
 * Atomic replace for the compaction worker. Not writeFileAtomic: its sweep of stale temp files
 * treats this process's own temp names as stale unless this thread wrote them, so a worker's sweep
 * could take the main thread's in-flight files (and the reverse). This temp name is not one the
 * sweep matches, and the next compaction overwrites it if a crash left it behind.
 */
async function replaceBase(file: string, text: string): Promise<number> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.compacting`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
  await syncDir(path.dirname(file));
  return Buffer.byteLength(text);
}
