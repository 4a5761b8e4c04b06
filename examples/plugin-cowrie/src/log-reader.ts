import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { ErrorCodes, PluginError } from '@reactive-fabric/core';

/**
 * Where reading stopped: the byte after the last consumed line, in the file with this inode
 * whose first bytes hash to `head` (so a log truncated and rewritten past our offset is noticed).
 */
export interface LogPosition {
  ino: number;
  offset: number;
  head?: string;
}

const HEAD_BYTES = 1024;

export interface ReadResult {
  lines: Array<{ text: string; offset: number }>;
  position: LogPosition;
  /** Complete lines remain after `position`. */
  hasMore: boolean;
  /** Lines longer than the limit, skipped so one bad line cannot stall the collector. */
  oversized: number[];
}

const CHUNK = 256 * 1024;
/** Longest line kept; Cowrie lines are well under 4 KiB, a megabyte means a corrupt log. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Read complete lines after `from`, at most `maxLines`. A partial last line (Cowrie is still
 * writing it) is left for the next call. A new inode (rotated) or a shorter file (truncated)
 * means reading restarts at the beginning of the current file.
 */
export async function readLines(path: string, from: LogPosition | undefined, maxLines: number, signal: AbortSignal): Promise<ReadResult> {
  const info = await statLog(path);
  const lines: ReadResult['lines'] = [];
  const oversized: number[] = [];
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw fileError(path, err);
  });
  try {
    let offset = 0;
    if (from && from.ino === info.ino && from.offset <= info.size) {
      const same = from.head === undefined || from.head === (await headHash(handle, from.offset));
      if (same) offset = from.offset;
    }
    let carry = Buffer.alloc(0);
    let carryStart = offset;
    let pos = offset;
    let skippingFrom: number | undefined;
    while (pos < info.size && lines.length < maxLines) {
      if (signal.aborted) throw new PluginError(ErrorCodes.ABORTED, `reading ${path} was aborted`, { cause: signal.reason });
      const buf = Buffer.alloc(Math.min(CHUNK, info.size - pos));
      const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let lineStart = 0;
      let nl: number;
      while (lines.length < maxLines && (nl = data.indexOf(0x0a, lineStart)) !== -1) {
        const lineOffset = carryStart + lineStart;
        if (skippingFrom !== undefined) {
          oversized.push(skippingFrom);
          skippingFrom = undefined;
        } else {
          const text = data.toString('utf8', lineStart, nl).replace(/\r$/, '');
          if (text.trim() !== '') lines.push({ text, offset: lineOffset });
        }
        lineStart = nl + 1;
        offset = carryStart + lineStart;
      }
      if (lines.length >= maxLines) break;
      carry = data.subarray(lineStart);
      carryStart += lineStart;
      if (carry.length > MAX_LINE_BYTES) {
        // Drop the buffered part of an absurdly long line and skip to its end.
        skippingFrom ??= carryStart;
        carryStart += carry.length;
        carry = Buffer.alloc(0);
      }
      data = Buffer.alloc(0);
    }
    const hasMore = lines.length >= maxLines && (await hasCompleteLineAfter(handle, offset, info.size));
    return { lines, position: { ino: info.ino, offset, head: await headHash(handle, offset) }, hasMore, oversized };
  } finally {
    await handle.close();
  }
}

async function headHash(handle: FileHandle, upTo: number): Promise<string> {
  const buf = Buffer.alloc(Math.min(HEAD_BYTES, upTo));
  const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
  return createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex').slice(0, 16);
}

async function hasCompleteLineAfter(handle: FileHandle, offset: number, size: number): Promise<boolean> {
  if (offset >= size) return false;
  const buf = Buffer.alloc(Math.min(CHUNK, size - offset));
  const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
  return buf.subarray(0, bytesRead).includes(0x0a) || bytesRead === CHUNK;
}

async function statLog(path: string): Promise<Stats> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (err) {
    throw fileError(path, err as NodeJS.ErrnoException);
  }
  if (info.isDirectory()) {
    throw new PluginError(ErrorCodes.BAD_CONFIG, `config.path ${path} is a folder; point it at Cowrie's JSON log file, e.g. var/log/cowrie/cowrie.json`);
  }
  return info;
}

function fileError(path: string, err: NodeJS.ErrnoException): PluginError {
  if (err.code === 'ENOENT') {
    return new PluginError(ErrorCodes.UNAVAILABLE, `Cowrie log ${path} does not exist (yet): check config.path and that [output_jsonlog] is enabled in cowrie.cfg`, { cause: err });
  }
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new PluginError(ErrorCodes.UNAVAILABLE, `Cowrie log ${path} is not readable by this user: grant read access (e.g. add the user to the cowrie group)`, { cause: err });
  }
  return new PluginError(ErrorCodes.UNAVAILABLE, `cannot read Cowrie log ${path}: ${err.message}`, { cause: err });
}

/** The head hash of the file at `path` up to `upTo` bytes (for a checkpoint taken without reading). */
export async function headOf(path: string, upTo: number): Promise<string> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw fileError(path, err);
  });
  try {
    return await headHash(handle, upTo);
  } finally {
    await handle.close();
  }
}
