import type { Checkpoint } from '../plugin.js';
import { Type } from '../schema.js';

/**
 * Gap-free, duplicate-free incremental pulls over a time-ordered store, across polls and restarts,
 * with late-arriving documents.
 *
 * The store is read in windows [from, to) on the event timestamp. Each new window starts
 * `overlap` before the end of the last finished one, so a document that became searchable after
 * its window was read is still found if its ingest delay is below the overlap. Re-read documents
 * are recognised by id in `seen`: the ids emitted with a timestamp still inside the overlap, which
 * is what bounds the set. A poll that stops early (maxEvents) records where: the next poll
 * resumes at the timestamp of the last event it emitted, and `seen` drops the ones already sent.
 */

export interface WindowCursorCheckpoint {
  v: 1;
  /** Every window before this instant (ISO) has been read to its end. */
  done: string;
  /** A window cut short by maxEvents: where it ends and where to resume (ISO, inclusive). */
  window?: { end: string; resume_at: string };
  /** [id, epoch ms] of events emitted inside the overlap. */
  seen: Array<[string, number]>;
}

/**
 * The checkpoint schema of every plugin that keeps a WindowCursor: declare it as the plugin's
 * `checkpointSchema`. It accepts exactly what `toCheckpoint()` writes (and `restore()` takes).
 */
export const WindowCursorCheckpointSchema = Type.Object({
  v: Type.Literal(1),
  done: Type.String({ format: 'date-time', description: 'Every window before this instant has been read to its end' }),
  window: Type.Optional(Type.Object({ end: Type.String({ format: 'date-time' }), resume_at: Type.String({ format: 'date-time' }) })),
  seen: Type.Array(Type.Tuple([Type.String(), Type.Number()]), { description: '[id, epoch ms] of events emitted inside the overlap' }),
});

export interface WindowCursorOptions {
  overlapMs: number;
  windowMs: number;
  maxSeen: number;
  /**
   * Resolution of the store's cursor field (Splunk index time: 1000). Window starts are aligned
   * down to it, so a partly read unit is read again whole and its events are still in `seen`.
   */
  granularityMs?: number;
}

export interface TimeRange {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
}

export class WindowCursor {
  private done: number;
  private window: { end: number; resumeAt: number } | undefined;
  private readonly seen = new Map<string, number>();

  private constructor(
    private readonly options: WindowCursorOptions,
    cp: WindowCursorCheckpoint,
  ) {
    this.done = Date.parse(cp.done);
    if (cp.window) this.window = { end: Date.parse(cp.window.end), resumeAt: Date.parse(cp.window.resume_at) };
    for (const [id, ts] of cp.seen) this.seen.set(id, ts);
  }

  /** The first poll starts `lookbackMs` before now. */
  static fresh(options: WindowCursorOptions, nowMs: number, lookbackMs: number): WindowCursor {
    return new WindowCursor(options, { v: 1, done: new Date(nowMs - lookbackMs).toISOString(), seen: [] });
  }

  /** Restores a committed checkpoint; undefined when it is not one of ours (the caller starts fresh). */
  static restore(options: WindowCursorOptions, raw: Checkpoint | undefined): WindowCursor | undefined {
    if (!isCursorCheckpoint(raw)) return undefined;
    return new WindowCursor(options, raw);
  }

  /**
   * The cursor a poll continues from: the committed checkpoint, or — on the first poll, or when
   * the checkpoint is not one this cursor wrote (then `onForeign` is told) — one window back from now.
   */
  static resume(options: WindowCursorOptions, raw: Checkpoint | undefined, nowMs: number, onForeign?: () => void): WindowCursor {
    const restored = WindowCursor.restore(options, raw);
    if (restored) return restored;
    if (raw !== undefined) onForeign?.();
    return WindowCursor.fresh(options, nowMs, options.windowMs);
  }

  /** The range the next search covers. */
  nextRange(nowMs: number): TimeRange {
    if (this.window) return { from: this.window.resumeAt, to: this.window.end };
    const from = this.overlapStart();
    return { from, to: Math.max(from + 1, Math.min(nowMs, this.done + this.options.windowMs)) };
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** Record an emitted event. */
  add(id: string, tsMs: number): void {
    this.seen.set(id, tsMs);
  }

  /** The range was read to its end. Returns true when the window was clipped (more is ready now). */
  finish(range: TimeRange, nowMs: number): boolean {
    this.done = range.to;
    this.window = undefined;
    this.prune();
    return range.to < nowMs;
  }

  /** The range was cut short after emitting an event stamped `lastTs`. */
  pause(range: TimeRange, lastTs: number): void {
    this.window = { end: range.to, resumeAt: Math.max(range.from, lastTs) };
    this.prune();
  }

  /** Where the next window starts: the overlap before `done`, on the store's resolution. */
  private overlapStart(): number {
    const g = this.options.granularityMs ?? 1;
    return Math.floor((this.done - this.options.overlapMs) / g) * g;
  }

  private prune(): void {
    const floor = this.overlapStart();
    for (const [id, ts] of this.seen) if (ts < floor) this.seen.delete(id);
    if (this.seen.size > this.options.maxSeen) {
      // Keep the newest: a resumed window needs the ids at its resume timestamp.
      const sorted = [...this.seen].sort((a, b) => a[1] - b[1]);
      for (const [id] of sorted.slice(0, sorted.length - this.options.maxSeen)) this.seen.delete(id);
    }
  }

  toCheckpoint(): WindowCursorCheckpoint {
    const cp: WindowCursorCheckpoint = { v: 1, done: new Date(this.done).toISOString(), seen: [...this.seen] };
    if (this.window) cp.window = { end: new Date(this.window.end).toISOString(), resume_at: new Date(this.window.resumeAt).toISOString() };
    return cp;
  }
}

function isIso(v: unknown): v is string {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v));
}

export function isCursorCheckpoint(raw: unknown): raw is WindowCursorCheckpoint {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return false;
  const cp = raw as Record<string, unknown>;
  if (cp.v !== 1 || !isIso(cp.done) || !Array.isArray(cp.seen)) return false;
  if (!cp.seen.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number')) return false;
  if (cp.window !== undefined) {
    const w = cp.window as Record<string, unknown>;
    if (w === null || typeof w !== 'object' || !isIso(w.end) || !isIso(w.resume_at)) return false;
  }
  return true;
}
