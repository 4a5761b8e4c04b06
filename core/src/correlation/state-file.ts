import { existsSync } from 'node:fs';
import { open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { syncDir, writeFileAtomic } from '../state/atomic.js';
import type { EngineDelta, EngineSnapshot, SnapshotGroup } from './checkpoint.js';
import { groupKey } from './window-state.js';

export const STATE_FORMAT = 'reactive-fabric/correlation-state';
export const STATE_VERSION = 1;

/**
 * On disk the state is a base file (`state_file`, a whole snapshot) plus journals beside it
 * (`<state_file>.<generation>.journal`), one JSON line per checkpoint holding only what changed
 * since the previous one. A checkpoint therefore costs the groups that changed, never the whole
 * state; the journals are folded into a new base in a worker thread (`compactStateFiles`), off the
 * event loop. The base says from which generation on journals still apply, so a compaction that
 * dies half-way (before or after replacing the base) leaves a state that reads the same.
 */
export interface StateFile extends EngineSnapshot {
  format: typeof STATE_FORMAT;
  version: number;
  saved_at: string;
  /** Journals of this generation and later apply on top of this base (0 when absent). */
  journal_generation?: number;
}

/** One journal line: a delta, or (`full`) the whole state replacing everything before it. */
export interface JournalRecord extends EngineDelta {
  saved_at: string;
  full?: true;
}

const journalName = (base: string, gen: number) => `${base}.${gen}.journal`;

/** Journals of `file` on disk, oldest generation first. */
export async function listJournals(file: string): Promise<Array<{ gen: number; path: string }>> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: Array<{ gen: number; path: string }> = [];
  for (const name of names) {
    if (!name.startsWith(`${base}.`) || !name.endsWith('.journal')) continue;
    const middle = name.slice(base.length + 1, -'.journal'.length);
    if (/^\d{1,15}$/.test(middle)) out.push({ gen: Number(middle), path: path.join(dir, name) });
  }
  return out.sort((a, b) => a.gen - b.gen);
}

/**
 * Replace the base checkpoint atomically (temp file, fsync, rename, fsync folder), so a crash leaves
 * either the previous base or the new one, never half, and a failed write no temp file. Journals
 * older than `generation` no longer apply to it.
 */
export async function writeStateFile(file: string, snapshot: EngineSnapshot, now: Date, generation?: number): Promise<number> {
  const body: StateFile = { format: STATE_FORMAT, version: STATE_VERSION, saved_at: now.toISOString(), ...snapshot, ...(generation !== undefined ? { journal_generation: generation } : {}) };
  const text = JSON.stringify(body);
  await writeFileAtomic(file, text, 0o600);
  return Buffer.byteLength(text);
}

/** A part of the checkpoint that was refused on load: the rest of the state is used. */
export interface StateWarning {
  file: string;
  /** Where in the checkpoint, e.g. `watermark`, `collectors["auth-log"]`, `groups[3].members`. */
  field: string;
  value: unknown;
  message: string;
}

export interface ReadOptions {
  /** Wall clock the checkpoint's times are judged against (ms); default Date.now(). */
  now?: number;
  /** `max_clock_skew_seconds` in ms: detections (group members, fired windows) may be stamped this far ahead. Without it only their form is checked. */
  maxClockSkewMs?: number;
  /** Where refused parts are reported. Default: a process warning (printed on stderr), so a refusal is never silent. */
  warn?: (warning: StateWarning) => void;
}

export type ReadResult = { kind: 'missing' } | { kind: 'ok'; state: StateFile; warnings: StateWarning[]; journal: JournalInfo } | { kind: 'invalid'; reason: string };

/** Where a reader left the files: what the next journal generation is and how much there is to compact. */
export interface JournalInfo {
  /** First journal generation not read: the writer starts there. */
  next: number;
  /** Bytes of journals read. */
  bytes: number;
  /** Bytes of the base file (0 when there is none). */
  baseBytes: number;
  /** Journal files read. */
  files: number;
}

/** Date.parse's range: beyond it a number is no time at all. */
const MAX_TIME = 8.64e15;
/** Refused members are reported per group, and at most this many groups by name. */
const MAX_MEMBER_WARNINGS = 20;

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_TIME;

function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function defaultWarn(w: StateWarning): void {
  process.emitWarning(w.message, { code: 'RF_CORRELATION_STATE' });
}

type Merged = { kind: 'missing' } | { kind: 'invalid'; reason: string } | { kind: 'ok'; state: StateFile; problems: StateWarning[]; info: JournalInfo };

function malformedGroup(g: unknown): string | undefined {
  if (!Array.isArray(g) || g.length !== 6 || typeof g[0] !== 'string' || !Array.isArray(g[1]) || !Array.isArray(g[5])) return 'a malformed group entry';
  for (const m of g[5] as unknown[]) {
    if (!Array.isArray(m) || typeof m[0] !== 'number' || typeof m[1] !== 'string') return 'a malformed member entry';
  }
  return undefined;
}

async function readBase(file: string): Promise<{ kind: 'missing' } | { kind: 'invalid'; reason: string } | { kind: 'ok'; state: StateFile; bytes: number }> {
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
    const bad = malformedGroup(g);
    if (bad) return { kind: 'invalid', reason: `checkpoint has ${bad}` };
  }
  if (s.journal_generation !== undefined && !(Number.isSafeInteger(s.journal_generation) && s.journal_generation >= 0)) {
    return { kind: 'invalid', reason: `checkpoint journal_generation ${JSON.stringify(s.journal_generation)} is not a generation number` };
  }
  return { kind: 'ok', state: s as StateFile, bytes: Buffer.byteLength(text) };
}

/** Why a journal line cannot be applied, or undefined when it can. */
function malformedRecord(r: unknown): string | undefined {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return 'is not a checkpoint record';
  const d = r as Partial<JournalRecord>;
  if (!Array.isArray(d.groups) || !Array.isArray(d.deleted) || !Array.isArray(d.alerts) || typeof d.rules !== 'object' || d.rules === null) return 'is missing groups, deleted, alerts or rules';
  for (const g of d.groups) {
    const bad = malformedGroup(g);
    if (bad) return `has ${bad}`;
  }
  for (const k of d.deleted) if (!Array.isArray(k) || typeof k[0] !== 'string' || typeof k[1] !== 'string') return 'has a malformed deleted entry';
  if (d.unacknowledged !== undefined && !Array.isArray(d.unacknowledged)) return 'has malformed unacknowledged alerts';
  return undefined;
}

const mapKey = (g: SnapshotGroup) => `${g[0]}\u0000${groupKey(g[1])}`;

/**
 * The state the files hold: the base, then every journal line from the base's generation on (up
 * to `upTo`), in order. Lines that cannot be applied (the torn last line of a crash mid-append)
 * are reported and skipped. Times are not judged here (see readStateFile).
 */
export async function mergeStateFiles(file: string, upTo = Number.POSITIVE_INFINITY): Promise<Merged> {
  const base = await readBase(file);
  if (base.kind === 'invalid') return base;
  const journals = await listJournals(file);
  const from = base.kind === 'ok' ? (base.state.journal_generation ?? 0) : 0;
  const live = journals.filter((j) => j.gen >= from && j.gen <= upTo);
  if (base.kind === 'missing' && live.length === 0) return { kind: 'missing' };
  const problems: StateWarning[] = [];
  const b: Partial<StateFile> = base.kind === 'ok' ? base.state : {};
  let watermark = b.watermark ?? null;
  let collectors = b.collectors ?? {};
  let rules = b.rules ?? {};
  let alerts = b.alerts ?? [];
  let kept: number | undefined;
  let unacknowledged = b.unacknowledged ?? [];
  let groups = new Map<string, SnapshotGroup>();
  for (const g of b.groups ?? []) {
    const k = mapKey(g);
    groups.delete(k);
    groups.set(k, g);
  }
  let bytes = 0;
  let next = from;
  for (const j of live) {
    next = j.gen + 1;
    let text: string;
    try {
      text = await readFile(j.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // compacted meanwhile
      return { kind: 'invalid', reason: `cannot read ${j.path}: ${(err as Error).message}` };
    }
    bytes += Buffer.byteLength(text);
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      let rec: unknown;
      let why: string | undefined;
      try {
        rec = JSON.parse(line);
        why = malformedRecord(rec);
      } catch {
        why = i === lines.length - 1 ? 'is cut short (a crash while it was written)' : 'is not JSON';
      }
      if (why) {
        problems.push({ file: j.path, field: `line ${i + 1}`, value: line.length > 60 ? `${line.slice(0, 57)}...` : line, message: `correlation checkpoint journal ${j.path}: line ${i + 1} ${why}; that checkpoint is ignored, the next ones still apply` });
        continue;
      }
      const d = rec as JournalRecord;
      if (d.full) {
        groups = new Map();
        alerts = [];
        unacknowledged = [];
      }
      watermark = d.watermark ?? null;
      collectors = d.collectors ?? {};
      rules = d.rules;
      alerts = alerts.length === 0 ? d.alerts : alerts.concat(d.alerts);
      if (typeof d.alerts_kept === 'number') kept = d.alerts_kept;
      if (kept !== undefined && alerts.length > 2 * kept) alerts = alerts.slice(-kept);
      if (d.unacknowledged) unacknowledged = d.unacknowledged;
      for (const [rule, key] of d.deleted) groups.delete(`${rule}\u0000${key}`);
      for (const g of d.groups) {
        const k = mapKey(g);
        // Changed means used: it moves to the most recent end, as in the engine.
        groups.delete(k);
        groups.set(k, g);
      }
    }
  }
  if (kept !== undefined && alerts.length > kept) alerts = alerts.slice(-kept);
  const state: StateFile = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    saved_at: b.saved_at ?? new Date(0).toISOString(),
    journal_generation: next,
    watermark,
    collectors,
    rules,
    alerts,
    unacknowledged,
    groups: [...groups.values()],
  };
  return { kind: 'ok', state, problems, info: { next, bytes, baseBytes: base.kind === 'ok' ? base.bytes : 0, files: live.length } };
}

/**
 * Read the checkpoint a restart resumes from (base and journals). Parts whose times cannot be
 * right are refused with a warning naming the file and field (sanitize); the rest is used.
 * The returned state covers every journal read (`journal_generation`): written back as a base
 * with writeStateFile, it replaces them.
 */
export async function readStateFile(file: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const merged = await mergeStateFiles(file);
  if (merged.kind !== 'ok') return merged;
  const warnings = [...merged.problems, ...sanitize(merged.state, file, opts)];
  for (const w of warnings) (opts.warn ?? defaultWarn)(w);
  return { kind: 'ok', state: merged.state, warnings, journal: merged.info };
}

/** Move an unusable checkpoint (base and journals) aside under `aside`, so a fresh state does not pick up its journals. */
export async function setAsideStateFiles(file: string, aside: string): Promise<void> {
  await rename(file, aside).catch(() => {});
  for (const j of await listJournals(file)) await rename(j.path, `${aside}.${j.gen}.journal-set-aside`).catch(() => {});
}

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
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? here.replace('/src/correlation/', '/dist/correlation/').replace(/state-file\.ts$/, 'state-compactor.js') : new URL('./state-compactor.js', here).href;
  const file = fileURLToPath(url);
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

/**
 * Refuse the parts of a structurally valid checkpoint whose times cannot be right, in place. One
 * poisoned value must not silence correlation: a watermark of 1e300 would decide every future
 * window at once, a collector's newest time far ahead would make each of its detections late,
 * a fired window without end would swallow its group's detections forever. Each refused part
 * starts fresh; everything else is kept.
 */
function sanitize(s: StateFile, file: string, opts: ReadOptions): StateWarning[] {
  const now = opts.now ?? Date.now();
  const out: StateWarning[] = [];
  const refuse = (field: string, value: unknown, why: string, consequence: string) =>
    out.push({ file, field, value, message: `correlation checkpoint ${file}: ${field} ${show(value)} ${why}; ${consequence}` });
  // The watermark and collectors' times never pass the wall clock (engine.ts clamps them to it).
  const ahead = `is not a time at or before now (${new Date(now).toISOString()})`;
  if (s.watermark !== null && s.watermark !== undefined && (!isTime(s.watermark) || s.watermark > now)) {
    refuse('watermark', s.watermark, ahead, 'ignored: windows are decided from the next detections on');
    s.watermark = null;
  }
  if (typeof s.collectors !== 'object' || s.collectors === null || Array.isArray(s.collectors)) {
    if (s.collectors !== undefined) refuse('collectors', s.collectors, 'is not an object of collector times', 'ignored: every collector starts fresh');
    s.collectors = {};
  } else {
    const kept: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [name, t] of Object.entries(s.collectors)) {
      if (isTime(t) && t <= now) kept[name] = t;
      else refuse(`collectors[${JSON.stringify(name)}]`, t, ahead, 'ignored: that collector starts fresh');
    }
    s.collectors = kept;
  }
  if (s.alerts.some((a) => typeof a !== 'string')) {
    refuse('alerts', s.alerts.find((a) => typeof a !== 'string'), 'is not an alert id', 'non-string entries ignored');
    s.alerts = s.alerts.filter((a) => typeof a === 'string');
  }
  const horizon = opts.maxClockSkewMs === undefined ? MAX_TIME : now + opts.maxClockSkewMs;
  const inRange = (t: unknown) => isTime(t) && t <= horizon;
  const future = opts.maxClockSkewMs === undefined ? 'is not a time' : `is not a time within max_clock_skew_seconds of now (${new Date(now).toISOString()})`;
  let memberWarnings = 0;
  s.groups.forEach((g, i) => {
    const [, , firedStart, firedUntil] = g;
    if (firedStart !== null || firedUntil !== null) {
      if (!inRange(firedStart) || !isTime(firedUntil) || firedUntil < firedStart!) {
        refuse(`groups[${i}] fired window`, [firedStart, firedUntil], `${future} or ends before it starts`, 'ignored: the group may fire again');
        g[2] = null;
        g[3] = null;
        g[4] = null;
      }
    }
    const members = g[5];
    const good = members.filter((m) => inRange(m[0]));
    if (good.length !== members.length) {
      const bad = members.find((m) => !inRange(m[0]))!;
      if (++memberWarnings <= MAX_MEMBER_WARNINGS) refuse(`groups[${i}].members`, bad[0], `${future} (${members.length - good.length} of ${members.length} members)`, 'those members ignored');
      g[5] = good;
    }
  });
  if (memberWarnings > MAX_MEMBER_WARNINGS) out.push({ file, field: 'groups', value: memberWarnings, message: `correlation checkpoint ${file}: members of ${memberWarnings - MAX_MEMBER_WARNINGS} more groups refused likewise` });
  return out;
}
