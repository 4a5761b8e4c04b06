import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** `.<target>.<pid>.<random>.tmp`: the temp files writeFileAtomic leaves only when killed mid-write. */
const TEMP_NAME = /^\..+\.(\d+)\.[a-z0-9]+\.tmp$/;
/** A temp file of another live process is left alone unless it is this old (that process is not writing it any more). */
const FOREIGN_TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/** Temp files this process is writing right now: the sweep must not take them. */
const inFlight = new Set<string>();
/** Folders already swept by this process. */
const swept = new Map<string, Promise<number>>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove temp files that an earlier run left in `dir` when it died between writing and renaming
 * (kill -9, power loss). Our own pid counts as dead: in a container every run has the same pid,
 * and this process has nothing in flight that is not in `inFlight`. Returns how many were removed.
 */
export async function sweepStaleTempFiles(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let removed = 0;
  const now = Date.now();
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const file = join(dir, name);
    if (inFlight.has(file)) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && alive(pid)) {
      const st = await stat(file).catch(() => undefined);
      if (!st || now - st.mtimeMs < FOREIGN_TEMP_MAX_AGE_MS) continue;
    }
    try {
      await unlink(file);
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/** Sweep `dir` once per process, before the first write into it. Never fails the write it precedes. */
function sweepOnce(dir: string): Promise<number> {
  let p = swept.get(dir);
  if (!p) {
    p = sweepStaleTempFiles(dir).catch(() => 0);
    swept.set(dir, p);
  }
  return p;
}

/**
 * Replace a file so that a crash at any instant leaves either the old or the new content:
 * write a temp file beside it, fsync it, rename over the target, fsync the folder. When any step
 * fails (a full disk, EIO) the temp file is removed, so failures cannot pile up files in the
 * folder; temp files of runs that were killed are swept before the first write into a folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  await sweepOnce(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  inFlight.add(tmp);
  try {
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, 'w', mode);
      await fh.writeFile(data);
      await fh.sync();
      const h = fh;
      fh = undefined;
      await h.close();
      await rename(tmp, path);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  } finally {
    inFlight.delete(tmp);
  }
  await syncDir(dir);
}

/** Make a rename in `dir` durable: fsync the folder itself. */
export async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  } finally {
    await dh.close();
  }
}
