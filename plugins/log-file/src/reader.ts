import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface Line {
  text: string;
  /** Byte offset of the line's first byte. */
  offset: number;
  truncated: boolean;
}

export interface ReadResult {
  lines: Line[];
  /** Offset after the last consumed byte. */
  offset: number;
  /** Complete lines remain beyond what was returned. */
  more: boolean;
}

const CHUNK = 1 << 20;

/**
 * Read complete lines from `offset`. A trailing line without a newline is left for the next
 * read (the writer may be mid-line) unless `final` — a rotated file nobody writes any more.
 * A line longer than `maxLineBytes` is cut there and flagged; the rest of it is skipped, so
 * one runaway line can never pin memory or stall the collector. The caller opens (and vets) the
 * file and closes it.
 */
export async function readLines(fh: FileHandle, offset: number, maxLines: number, maxLineBytes: number, final: boolean): Promise<ReadResult> {
  const size = (await fh.stat()).size;
  const lines: Line[] = [];
  let pos = offset;
  let carry = Buffer.alloc(0);
  let carryStart = pos;
  let skipping = false;
  while (lines.length < maxLines && pos < size) {
    const want = Math.min(CHUNK, size - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    let data = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl === -1) break;
      if (skipping) {
        skipping = false;
      } else {
        let end = nl;
        if (end > start && data[end - 1] === 13) end--;
        const truncated = end - start > maxLineBytes;
        lines.push({ text: data.toString('utf8', start, truncated ? start + maxLineBytes : end), offset: carryStart + start, truncated });
      }
      start = nl + 1;
      if (lines.length >= maxLines) {
        const consumed = carryStart + start;
        return { lines, offset: consumed, more: consumed < size };
      }
    }
    const rest = data.subarray(start);
    const restStart = carryStart + start;
    if (!skipping && rest.length > maxLineBytes) {
      lines.push({ text: rest.toString('utf8', 0, maxLineBytes), offset: restStart, truncated: true });
      skipping = true;
      carry = Buffer.alloc(0);
      carryStart = pos;
    } else if (skipping) {
      carry = Buffer.alloc(0);
      carryStart = pos;
    } else {
      carry = Buffer.from(rest);
      carryStart = restStart;
    }
    data = Buffer.alloc(0);
  }
  if (final && carry.length > 0 && lines.length < maxLines) {
    lines.push({ text: carry.toString('utf8'), offset: carryStart, truncated: false });
    return { lines, offset: carryStart + carry.length, more: false };
  }
  // While skipping the tail of an overlong line, its bytes are consumed too.
  const consumed = skipping ? pos : carryStart;
  return { lines, offset: consumed, more: false };
}

/** Bytes of the file's start and of the end of what was read that identify "the same content". */
const FP_HEAD = 1024;
const FP_TAIL = 256;

/**
 * A fingerprint of the bytes before `offset` (the file's first KiB and the 256 bytes just before
 * `offset`), or undefined at offset 0 or when fewer bytes are there. copytruncate keeps the
 * inode, so only content tells a file truncated and refilled past our offset from one that grew.
 */
export async function fingerprint(fh: FileHandle, offset: number): Promise<string | undefined> {
  if (offset <= 0) return undefined;
  const headLen = Math.min(offset, FP_HEAD);
  const tailStart = Math.max(headLen, offset - FP_TAIL);
  const buf = Buffer.alloc(headLen + (offset - tailStart));
  const head = await fh.read(buf, 0, headLen, 0);
  const tail = tailStart < offset ? await fh.read(buf, headLen, offset - tailStart, tailStart) : { bytesRead: 0 };
  if (head.bytesRead + tail.bytesRead < buf.length) return undefined;
  return createHash('sha256').update(buf).digest('hex').slice(0, 32);
}
