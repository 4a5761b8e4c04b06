import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Static } from 'typebox';
import type { FabricEvent } from '../plugin-api/index.js';
import type { JsonlSinkConfigSchema } from './jsonl-config.js';
import type { CollectorStatusEvent, Sink, SinkContext, SinkHealth } from './sink.js';
import { settleWithin } from '../async/time.js';

export type JsonlSinkConfig = Static<typeof JsonlSinkConfigSchema>;

/** The part of an append-mode file handle the sink writes through (a `FileHandle` is one). */
export interface JsonlFile {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** How the sink opens its files for appending; tests substitute one that fails like a full disk. */
export interface JsonlIo {
  openAppend(path: string): Promise<JsonlFile>;
}

const nodeIo: JsonlIo = { openAppend: (path) => open(path, 'a') };

/** The tail read at start-up to find the last complete record; grows when one record is larger. */
const TAIL_WINDOW = 1 << 20;
/** No record is this large: a tail without a line break this long is some other file. */
const MAX_RECORD_BYTES = 64 << 20;
/** Complete lines at the very end that do not parse (power loss can leave zeros) are cut too, up to this many. */
const MAX_BAD_TAIL_LINES = 100;
/** At the 5 s retry cap, a still-failing write is logged about once a minute. */
const LOG_EVERY_ATTEMPTS = 12;

function errCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? e.code : (e?.message ?? String(err));
}

function parses(line: Buffer): boolean {
  try {
    JSON.parse(line.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Cut a file back to its last complete record. A crash (kill -9, power loss) in the middle of an
 * append leaves part of a record at the end; appending after it would glue the next record to it
 * and leave a line no reader can parse. The cut bytes belong to a batch that was never
 * acknowledged (it is written again once its source re-delivers it), so nothing acknowledged is
 * removed; they are kept in `<file>.torn` for inspection when the disk allows.
 */
export async function repairTornTail(path: string, logger: Pick<SinkContext['logger'], 'warn' | 'error'>): Promise<{ cut: number; movedTo?: string }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cut: 0 };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    if (size === 0) return { cut: 0 };
    let window = Math.min(size, TAIL_WINDOW);
    let buf: Buffer;
    let newline: number;
    for (;;) {
      buf = Buffer.alloc(window);
      await fh.read(buf, 0, window, size - window);
      newline = buf.lastIndexOf(0x0a);
      if (newline >= 0 || window === size) break;
      if (window >= MAX_RECORD_BYTES) {
        throw new Error(
          `jsonl sink: the last ${window} bytes of ${path} hold no line break, so it is not a file this sink wrote (one event per line); move it away or set sink.path to another file`,
        );
      }
      window = Math.min(size, window * 4);
    }
    const base = size - window;
    // `keep` is the file length up to and including the last good record's newline.
    let keep = newline < 0 ? 0 : base + newline + 1;
    for (let k = 0; k < MAX_BAD_TAIL_LINES && keep > base; k++) {
      const end = keep - 1 - base;
      const start = (end > 0 ? buf.lastIndexOf(0x0a, end - 1) : -1) + 1;
      if (start === 0 && base > 0) break; // the line starts before the window: not judged
      if (parses(buf.subarray(start, end))) break;
      keep = base + start;
    }
    if (keep === size) return { cut: 0 };
    const cut = size - keep;
    const movedTo = `${path}.torn`;
    let kept = true;
    let keptError: string | undefined;
    try {
      const torn = await open(movedTo, 'a', 0o600);
      try {
        const chunk = Buffer.alloc(Math.min(cut, TAIL_WINDOW));
        for (let pos = keep; pos < size; ) {
          const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - pos), pos);
          if (bytesRead <= 0) break;
          await torn.write(chunk, 0, bytesRead);
          pos += bytesRead;
        }
        await torn.write('\n');
        await torn.sync();
      } finally {
        await torn.close();
      }
    } catch (err) {
      kept = false;
      keptError = (err as Error).message;
    }
    await fh.truncate(keep);
    await fh.sync();
    logger.warn(
      { file: path, bytes: cut, keptBytes: keep, ...(kept ? { movedTo } : { notKept: keptError }) },
      `jsonl sink: ${path} ended in an incomplete record (a write was interrupted by a crash or a full disk); cut ${cut} bytes back to the last complete record` +
        (kept ? `, moved them to ${movedTo}` : ` (could not keep them: ${keptError})`) +
        '; the unacknowledged batch they belonged to is written again when its source re-delivers it',
    );
    return kept ? { cut, movedTo } : { cut };
  } finally {
    await fh.close();
  }
}

/**
 * The embedded default sink: one JSON event per line, appended and fsynced before `write`
 * resolves, so a checkpoint is never committed ahead of the file.
 *
 * A write either lands whole or not at all: a failed append or fsync (ENOSPC, EIO) cuts the file
 * back to its length before the write, and the batch stays pending and is retried (health is
 * `down` with the reason meanwhile). A crash mid-write is repaired on the next start.
 */
export class JsonlSink implements Sink {
  readonly type = 'jsonl';
  private events?: JsonlFile;
  private status?: JsonlFile;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Set while a write is failing: what and where, e.g. "ENOSPC at /var/fabric/events.jsonl". */
  private failure: string | undefined;
  /** A cut-back that itself failed: the file still holds part of a batch and must be cut first. */
  private readonly cutTo = new Map<JsonlFile, number>();
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly paths: { events: string; status: string },
    private readonly fsync: boolean,
    private readonly ctx: Pick<SinkContext, 'logger'>,
    private readonly io: JsonlIo = nodeIo,
  ) {}

  async start(): Promise<void> {
    for (const file of new Set([this.paths.events, this.paths.status])) {
      await mkdir(dirname(file), { recursive: true });
      await repairTornTail(file, this.ctx.logger);
    }
    this.events = await this.io.openAppend(this.paths.events);
    this.status = await this.io.openAppend(this.paths.status);
  }

  write(events: readonly FabricEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const data = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    return this.append(() => this.events, this.paths.events, data, events.length);
  }

  writeStatus(status: CollectorStatusEvent): Promise<void> {
    return this.append(() => this.status, this.paths.status, JSON.stringify(status) + '\n', 0);
  }

  private append(handle: () => JsonlFile | undefined, path: string, data: string, count: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('jsonl sink is closed'));
    this.pending += count;
    const bytes = Buffer.from(data, 'utf8');
    const run = async () => {
      // Disk full or a vanished folder: keep retrying (the batch stays pending, sources see
      // backpressure) rather than drop what was accepted.
      let logged: string | undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          const fh = handle();
          if (!fh) throw new Error('jsonl sink not started');
          await this.appendWhole(fh, bytes);
          if (this.failure) this.ctx.logger.warn({ path, attempts: attempt + 1 }, 'jsonl sink writes again after failing');
          this.failure = undefined;
          return;
        } catch (err) {
          if (this.closed) throw err;
          this.failure = `${errCode(err)} at ${path}`;
          if (logged !== this.failure || attempt % LOG_EVERY_ATTEMPTS === 0) {
            logged = this.failure;
            this.ctx.logger.error({ err: (err as Error).message, path, attempt: attempt + 1 }, 'jsonl sink write failed; the batch is kept and retried');
          }
          await this.backoff(attempt);
          if (this.closed) throw err;
        }
      }
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p.finally(() => {
      this.pending -= count;
    });
  }

  /** Append all of `bytes` (and fsync), or leave the file as long as it was before. */
  private async appendWhole(fh: JsonlFile, bytes: Buffer): Promise<void> {
    const owed = this.cutTo.get(fh);
    if (owed !== undefined) {
      await fh.truncate(owed);
      this.cutTo.delete(fh);
    }
    const before = owed ?? (await fh.stat()).size;
    try {
      for (let off = 0; off < bytes.length; ) {
        const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
        if (bytesWritten <= 0) throw Object.assign(new Error(`write made no progress at byte ${off} of ${bytes.length}`), { code: 'EIO' });
        off += bytesWritten;
      }
      // After a failed fsync the written pages' fate is unknown: cut them and write them again.
      if (this.fsync) await fh.datasync();
    } catch (err) {
      try {
        await fh.truncate(before);
      } catch {
        this.cutTo.set(fh, before);
      }
      throw err;
    }
  }

  private backoff(attempt: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.min(5000, 100 * 2 ** attempt));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  health(): SinkHealth {
    return this.failure ? { state: 'down', reason: this.failure, pending: this.pending } : { state: 'ok', pending: this.pending };
  }

  async close(deadlineMs: number): Promise<void> {
    await settleWithin(this.chain, deadlineMs);
    this.closed = true;
    // A write stuck retrying gives up now (its promise rejects) instead of after the next back-off.
    this.wake?.();
    await this.events?.close().catch(() => undefined);
    await this.status?.close().catch(() => undefined);
  }
}
