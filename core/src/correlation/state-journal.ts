import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { syncDir } from '../state/atomic.js';
import type { EngineDelta } from './checkpoint.js';
import { compactInWorker } from './state-compaction.js';
import { journalName, type JournalRecord } from './state-file.js';

/** How long close() waits for a compaction in progress. */
const CLOSE_WAIT_MS = 30_000;

/** Journal files past which a compaction runs whatever their size. */
const MAX_JOURNAL_FILES = 16;

export interface JournalOptions {
  /** First generation to write (JournalInfo.next of the read). */
  generation: number;
  /** Journal and base bytes, and journal files, already on disk. */
  journalBytes?: number;
  baseBytes?: number;
  journalFiles?: number;
  /** Compact once the journals exceed max(this, the base's size). Default 8 MiB. */
  compactAfterBytes?: number;
  compact?: (file: string, upTo: number) => Promise<{ bytes: number; journals: number; skippedLines: number }>;
  onCompacted?: (r: { bytes: number; journals: number; ms: number }) => void;
  onCompactionError?: (err: Error) => void;
}

/**
 * Appends checkpoint records to the current journal (write + fdatasync per record) and starts a
 * background compaction when the journals outgrow the base. After a failed append the next record
 * goes to a new journal, so a torn line is only ever the last of its file.
 */
export class StateJournal {
  private gen: number;
  private fh: FileHandle | undefined;
  private journalBytes: number;
  private baseBytes: number;
  private compacting: Promise<void> | undefined;
  private readonly compactAfter: number;
  /** Journal files not compacted yet (each start and each failed append opens one). */
  private files: number;

  constructor(
    private readonly file: string,
    private readonly opts: JournalOptions,
  ) {
    this.gen = opts.generation;
    this.journalBytes = opts.journalBytes ?? 0;
    this.baseBytes = opts.baseBytes ?? 0;
    this.compactAfter = opts.compactAfterBytes ?? 8 * 2 ** 20;
    this.files = opts.journalFiles ?? 0;
  }

  /** Append one record durably; returns its size in bytes. */
  async append(delta: EngineDelta, full: boolean, now: Date): Promise<number> {
    const record: JournalRecord = { saved_at: now.toISOString(), ...(full ? { full: true as const } : {}), ...delta };
    let bytes: number;
    try {
      if (!this.fh) {
        this.fh = await open(path.join(path.dirname(this.file), journalName(path.basename(this.file), this.gen)), 'a', 0o600);
        this.files++;
        await syncDir(path.dirname(this.file));
      }
      bytes = await writeRecord(this.fh, record);
      await this.fh.datasync();
    } catch (err) {
      await this.rotate();
      throw err;
    }
    this.journalBytes += bytes;
    // Many small journals (restarts) are folded too, so a start never reads hundreds of files.
    if (!this.compacting && (this.journalBytes > Math.max(this.compactAfter, this.baseBytes) || this.files > MAX_JOURNAL_FILES)) this.startCompaction();
    return bytes;
  }

  /**
   * Waits for a compaction in progress, at most CLOSE_WAIT_MS: it is crash-safe at every step, so
   * a stop that cannot wait for a large one loses nothing (the journals are read at the next start).
   */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => {});
    if (this.compacting) await Promise.race([this.compacting, sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
  }

  private async rotate(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.gen++;
    await fh?.close().catch(() => {});
  }

  private startCompaction(): void {
    const upTo = this.gen;
    const started = Date.now();
    const compact = this.opts.compact ?? compactInWorker;
    this.journalBytes = 0;
    this.files = 0;
    this.compacting = (async () => {
      await this.rotate();
      try {
        const r = await compact(this.file, upTo);
        this.baseBytes = r.bytes;
        this.opts.onCompacted?.({ bytes: r.bytes, journals: r.journals, ms: Date.now() - started });
      } catch (err) {
        this.opts.onCompactionError?.(err as Error);
      } finally {
        this.compacting = undefined;
      }
    })();
  }
}

/** Array fields serialised CHUNK entries at a time, the event loop free between writes. */
const CHUNKED = ['alerts', 'deleted', 'unacknowledged', 'groups'] as const;
const CHUNK = 1000;
const WRITE_AT = 1 << 20;

/**
 * One record as one line, serialised and written in pieces: a record holding most of the state
 * (every group changed since the last checkpoint) never becomes one large string nor one long
 * pause of the event loop; batches go on between the pieces. The line only counts once whole
 * (its newline written): a crash half-way leaves a torn last line, which the reader skips.
 */
async function writeRecord(fh: FileHandle, record: JournalRecord): Promise<number> {
  const rest: Record<string, unknown> = { ...record };
  for (const k of CHUNKED) delete rest[k];
  let bytes = 0;
  let out = JSON.stringify(rest).slice(0, -1);
  const flush = async () => {
    await fh.write(out);
    bytes += Buffer.byteLength(out);
    out = '';
  };
  for (const k of CHUNKED) {
    const list = record[k] as unknown[] | undefined;
    if (list === undefined) continue;
    out += `,${JSON.stringify(k)}:[`;
    for (let i = 0; i < list.length; i += CHUNK) {
      if (i > 0) out += ',';
      out += JSON.stringify(list.slice(i, i + CHUNK)).slice(1, -1);
      if (out.length >= WRITE_AT) await flush();
    }
    out += ']';
  }
  out += '}\n';
  await flush();
  return bytes;
}
