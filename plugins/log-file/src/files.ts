import { constants, type Stats } from 'node:fs';
import { open, readdir, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';

/** A configured path, or a glob entry, that cannot be read: for the log and for healthCheck(). */
export interface Problem {
  path: string;
  reason: string;
  /** What the operator can do about it. */
  hint: string;
}

export interface Target {
  path: string;
  /** The folder a symlink must resolve into (the pattern's folder), unless follow_symlinks. */
  base: string;
  /** Glob entries that vanish or are folders are normal; a configured file that is neither is not. */
  fromGlob: boolean;
}

export interface OpenedFile {
  fh: FileHandle;
  /** fstat of the opened descriptor, not of the path: what is read is what was checked. */
  st: Stats;
}

// O_NONBLOCK: opening a FIFO without a writer would block the poll forever. O_NOCTTY: a terminal
// device never becomes our controlling terminal. Both are 0 where the platform lacks them.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

function globRegExp(name: string): RegExp {
  // `s`: a * also matches a newline in a file name.
  return new RegExp(
    `^${name
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
}

/** Configured patterns → files to read, in a stable order; folders that cannot be listed become problems. */
export async function expand(patterns: readonly string[], problems: Problem[]): Promise<Target[]> {
  const out = new Map<string, Target>();
  for (const p of patterns) {
    const name = basename(p);
    const dir = dirname(p);
    if (!name.includes('*')) {
      if (!out.has(p)) out.set(p, { path: p, base: dir, fromGlob: false });
      continue;
    }
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push(
        code === 'ENOENT'
          ? { path: dir, reason: 'folder does not exist', hint: `check paths/base_dir; files matching ${name} are read once it exists` }
          : { path: dir, reason: `folder cannot be listed (${code})`, hint: 'give the fabric user read and execute access to it, or fix the pattern' },
      );
      continue;
    }
    const re = globRegExp(name);
    const matched = entries.filter((e) => re.test(e)).sort();
    if (matched.length === 0) problems.push({ path: p, reason: 'no file matches this pattern', hint: 'check the pattern and base_dir; files that appear later are read' });
    for (const e of matched) {
      const path = join(dir, e);
      if (!out.has(path)) out.set(path, { path, base: dir, fromGlob: true });
    }
  }
  return [...out.values()];
}

function inside(child: string, base: string): boolean {
  const r = relative(base, child);
  return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function errnoProblem(path: string, code: string | undefined): Problem {
  if (code === 'ELOOP') return { path, reason: 'is a symlink loop (or was swapped for a symlink while being opened); not read', hint: 'remove or fix the link' };
  if (code === 'EACCES' || code === 'EPERM')
    return { path, reason: `cannot be opened (${code})`, hint: 'give the fabric user read access (e.g. group adm), or leave it out of paths' };
  return { path, reason: `cannot be opened (${code ?? 'unknown error'})`, hint: 'check the file and the disk; the other files are still read' };
}

function notRegular(t: Target, st: Stats, problems: Problem[]): undefined {
  // A folder matched by a glob (logs/* next to logs/archive/) is normal; anything else is worth telling.
  if (!(t.fromGlob && st.isDirectory())) problems.push({ path: t.path, reason: `is ${kind(st)}, not a regular file; not read`, hint: 'point paths at log files only' });
  return undefined;
}

/** Where the descriptor really points: /proc on Linux, else the checked path if it is still the same file. */
async function openedPath(fh: FileHandle, checked: string, st: Stats): Promise<string | undefined> {
  try {
    return (await readlink(`/proc/self/fd/${fh.fd}`)).replace(/ \(deleted\)$/, '');
  } catch {
    const again = await stat(checked).catch(() => undefined);
    return again && again.ino === st.ino && again.dev === st.dev ? checked : undefined;
  }
}

/**
 * Open a file for reading only if it is a regular file and — unless `followSymlinks` — really
 * lives inside its target's base folder. The checks are made on the opened descriptor (fstat,
 * /proc/self/fd), so swapping the path for a symlink or a FIFO between check and open does not
 * get anything else read. Returns undefined, with a problem recorded when it is worth telling,
 * for anything else; never throws.
 */
export async function openChecked(t: Target, followSymlinks: boolean, problems: Problem[]): Promise<OpenedFile | undefined> {
  let fh: FileHandle;
  let realBase = '';
  let resolved = t.path;
  try {
    if (!followSymlinks) {
      resolved = await realpath(t.path);
      realBase = await realpath(t.base);
      if (!inside(resolved, realBase)) {
        problems.push({
          path: t.path,
          reason: `is a symlink to ${resolved}, outside ${t.base}; not read`,
          hint: 'remove the link, or set follow_symlinks: true if it is meant to be read',
        });
        return undefined;
      }
    }
    // Opening a device can act (a watchdog, a tape) and opening a FIFO wakes its writer: look first.
    // The fstat after open below is what makes it safe; this only avoids touching the obvious ones.
    const pre = await stat(resolved);
    if (!pre.isFile()) return notRegular(t, pre, problems);
    fh = followSymlinks ? await open(t.path, OPEN_FLAGS) : await open(resolved, OPEN_FLAGS | NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // Between rotation steps a configured file is briefly missing; a glob entry may just be gone.
      if (!t.fromGlob) problems.push({ path: t.path, reason: 'does not exist', hint: 'it is read as soon as it appears; check paths and base_dir if it should be there' });
      return undefined;
    }
    problems.push(errnoProblem(t.path, code));
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return notRegular(t, st, problems);
    }
    if (!followSymlinks) {
      const actual = await openedPath(fh, resolved, st);
      if (actual === undefined || !inside(actual, realBase)) {
        problems.push({
          path: t.path,
          reason: `changed while being opened${actual ? ` (now ${actual}, outside ${t.base})` : ''}; not read`,
          hint: 'something is replacing this file with a link: check who writes to the folder',
        });
        await fh.close();
        return undefined;
      }
    }
    return { fh, st };
  } catch (err) {
    await fh.close().catch(() => undefined);
    problems.push(errnoProblem(t.path, (err as NodeJS.ErrnoException).code));
    return undefined;
  }
}

/** Files next to `path` whose name starts with its name (auth.log.1, auth.log-20260101): rotated copies. */
export async function siblings(path: string): Promise<string[]> {
  const dir = dirname(path);
  const stem = basename(path);
  const entries = await readdir(dir).catch(() => [] as string[]);
  return entries
    .filter((e) => e.startsWith(stem) && e !== stem)
    .sort()
    .map((e) => join(dir, e));
}

/**
 * What follows the file's name in a rotated generation: `.1`, `-20261203`, `.2026-12-03`,
 * `-20261203-1700000000`. Compressed generations (`.2.gz`) and other neighbours (`.bak`, `.swp`)
 * do not match: they are never read as log data.
 */
const GENERATION_SUFFIX = /^[.\-_]\d[\d.\-_]*$/;

/** The generation number of `.N`/`-N` names (lower is newer), undefined for date-style names. */
function generationNumber(suffix: string): number | undefined {
  return /^[.\-_]\d{1,4}$/.test(suffix) ? Number(suffix.slice(1)) : undefined;
}

/** Whether generation `a` was rotated out after generation `b`. */
function newer(a: { suffix: string; mtimeMs: number }, b: { suffix: string; mtimeMs: number }): boolean {
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs > b.mtimeMs;
  // Same timestamp (coarse file-system clocks): fall back to the names logrotate gives.
  const na = generationNumber(a.suffix);
  const nb = generationNumber(b.suffix);
  if (na !== undefined && nb !== undefined) return na < nb;
  return a.suffix > b.suffix;
}

/**
 * The generation rotated out right after `current` (a rotated file just finished), when the file
 * was rotated more than once since the last poll: the oldest rotated sibling newer than `current`,
 * opened with the same checks as any file. Undefined when the live file comes next.
 */
export async function nextGeneration(
  t: Target,
  current: { path: string; st: Stats } | { mtimeMs: number },
  live: Stats,
  followSymlinks: boolean,
): Promise<(OpenedFile & { path: string }) | undefined> {
  const stem = basename(t.path);
  // Given only a time (an empty live file's mtime at the last poll): generations modified strictly after it.
  const after = 'st' in current ? { suffix: basename(current.path).slice(stem.length), mtimeMs: current.st.mtimeMs } : undefined;
  const candidates: Array<{ path: string; suffix: string; mtimeMs: number }> = [];
  for (const path of await siblings(t.path)) {
    const suffix = basename(path).slice(stem.length);
    if (!GENERATION_SUFFIX.test(suffix)) continue;
    const s = await stat(path).catch(() => undefined);
    if (!s || !s.isFile() || (s.ino === live.ino && s.dev === live.dev)) continue;
    if ('st' in current && s.ino === current.st.ino && s.dev === current.st.dev) continue;
    const c = { path, suffix, mtimeMs: s.mtimeMs };
    if ('st' in current ? newer(c, after!) : s.mtimeMs > current.mtimeMs) candidates.push(c);
  }
  candidates.sort((a, b) => (newer(a, b) ? 1 : newer(b, a) ? -1 : 0));
  for (const c of candidates) {
    const opened = await openChecked({ path: c.path, base: t.base, fromGlob: true }, followSymlinks, []);
    if (opened) return { ...opened, path: c.path };
  }
  return undefined;
}
