import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../state/atomic.js';

/** Read a JSON state file; undefined when it does not exist yet. Other errors propagate. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

/**
 * Replace a state file (quota budgets, verdict cache, false positives) the one atomic way:
 * temp file, fsync, rename, fsync folder; a failed write leaves no temp file behind.
 */
export async function writeJsonFile(file: string, data: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(data), 0o600);
}
