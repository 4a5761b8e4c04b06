import { readFile, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../state/atomic.js';
import type { EngineDelta, EngineSnapshot, SnapshotGroup } from './checkpoint.js';
import { sanitizeState, type ReadOptions, type StateWarning } from './state-sanitize.js';

export type { ReadOptions, StateWarning } from './state-sanitize.js';
import { storedGroupKey } from './window-state.js';

export const STATE_FORMAT = 'reactive-fabric/correlation-state';
export const STATE_VERSION = 1;

/**
 * On disk the state is a base file (`state_file`, a whole snapshot) plus journals beside it
 * (`<state_file>.<generation>.journal`), one JSON line per checkpoint holding only what changed
 * since the previous one. A checkpoint therefore costs the groups that changed, never the whole
 * state; the journals are folded into a new base in a worker thread (`compactStateFiles`), off the
 * event loop. The base says from which generation on journals still apply, so a compaction that
 * dies half-way (before or after replacing the base) leaves a state that reads the same.
 *
 * This module names and reads the files; state-journal.ts appends checkpoints,
 * state-compaction.ts folds journals into a new base, state-sanitize.ts refuses impossible times.
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

export const journalName = (base: string, gen: number) => `${base}.${gen}.journal`;

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
  const body: StateFile = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    saved_at: now.toISOString(),
    ...snapshot,
    ...(generation !== undefined ? { journal_generation: generation } : {}),
  };
  const text = JSON.stringify(body);
  await writeFileAtomic(file, text, 0o600);
  return Buffer.byteLength(text);
}

/** A part of the checkpoint that was refused on load: the rest of the state is used. */
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
  if (!Array.isArray(d.groups) || !Array.isArray(d.deleted) || !Array.isArray(d.alerts) || typeof d.rules !== 'object' || d.rules === null)
    return 'is missing groups, deleted, alerts or rules';
  for (const g of d.groups) {
    const bad = malformedGroup(g);
    if (bad) return `has ${bad}`;
  }
  for (const k of d.deleted) if (!Array.isArray(k) || typeof k[0] !== 'string' || typeof k[1] !== 'string') return 'has a malformed deleted entry';
  if (d.unacknowledged !== undefined && !Array.isArray(d.unacknowledged)) return 'has malformed unacknowledged alerts';
  return undefined;
}

const mapKey = (g: SnapshotGroup) => `${g[0]}\u0000${storedGroupKey(g[1])}`;

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
        problems.push({
          file: j.path,
          field: `line ${i + 1}`,
          value: line.length > 60 ? `${line.slice(0, 57)}...` : line,
          message: `correlation checkpoint journal ${j.path}: line ${i + 1} ${why}; that checkpoint is ignored, the next ones still apply`,
        });
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
 * right are refused with a warning naming the file and field (state-sanitize.ts); the rest is used.
 * The returned state covers every journal read (`journal_generation`): written back as a base
 * with writeStateFile, it replaces them.
 */
export async function readStateFile(file: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const merged = await mergeStateFiles(file);
  if (merged.kind !== 'ok') return merged;
  const warnings = [...merged.problems, ...sanitizeState(merged.state, file, opts)];
  for (const w of warnings) (opts.warn ?? defaultWarn)(w);
  return { kind: 'ok', state: merged.state, warnings, journal: merged.info };
}

/** Move an unusable checkpoint (base and journals) aside under `aside`, so a fresh state does not pick up its journals. */
export async function setAsideStateFiles(file: string, aside: string): Promise<void> {
  await rename(file, aside).catch(() => {});
  for (const j of await listJournals(file)) await rename(j.path, `${aside}.${j.gen}.journal-set-aside`).catch(() => {});
}
