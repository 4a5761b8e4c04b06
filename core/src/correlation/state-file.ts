import { open, readFile, rename, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { EngineSnapshot } from './engine.js';

export const STATE_FORMAT = 'reactive-fabric/correlation-state';
export const STATE_VERSION = 1;

export interface StateFile extends EngineSnapshot {
  format: typeof STATE_FORMAT;
  version: number;
  saved_at: string;
}

/**
 * Replace the checkpoint atomically: write a temp file, fsync it, rename over the old one and
 * fsync the folder, so a crash leaves either the previous checkpoint or the new one, never half.
 */
export async function writeStateFile(file: string, snapshot: EngineSnapshot, now: Date): Promise<number> {
  const body: StateFile = { format: STATE_FORMAT, version: STATE_VERSION, saved_at: now.toISOString(), ...snapshot };
  const text = JSON.stringify(body);
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
  return Buffer.byteLength(text);
}

export type ReadResult = { kind: 'missing' } | { kind: 'ok'; state: StateFile } | { kind: 'invalid'; reason: string };

export async function readStateFile(file: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', reason: `cannot read: ${(err as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { kind: 'invalid', reason: `not JSON (${(err as Error).message})` };
  }
  const s = parsed as Partial<StateFile>;
  if (!s || typeof s !== 'object' || s.format !== STATE_FORMAT) return { kind: 'invalid', reason: `not a correlation checkpoint (format ${JSON.stringify(s?.format)})` };
  if (s.version !== STATE_VERSION) return { kind: 'invalid', reason: `checkpoint version ${String(s.version)} is not ${STATE_VERSION}` };
  if (!Array.isArray(s.groups) || !Array.isArray(s.alerts) || typeof s.rules !== 'object' || s.rules === null) {
    return { kind: 'invalid', reason: 'checkpoint is missing groups, alerts or rules' };
  }
  for (const g of s.groups) {
    if (!Array.isArray(g) || g.length !== 6 || typeof g[0] !== 'string' || !Array.isArray(g[1]) || !Array.isArray(g[5])) {
      return { kind: 'invalid', reason: 'checkpoint has a malformed group entry' };
    }
    for (const m of g[5]) {
      if (!Array.isArray(m) || typeof m[0] !== 'number' || typeof m[1] !== 'string') return { kind: 'invalid', reason: 'checkpoint has a malformed member entry' };
    }
  }
  return { kind: 'ok', state: s as StateFile };
}
