import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { FabricError } from '../errors/fabric-error.js';

/**
 * One instance per state_dir. Two instances on one folder would share checkpoints and correlation
 * state and each commit over the other's positions, so `fabric start` and `fabric run` hold an
 * exclusive lock on it while they run.
 *
 * The lock is proper-lockfile's (an atomic mkdir of `instance.lock`, its mtime refreshed while we
 * hold it, so a lock nobody refreshes any more is stale and taken over); released on every exit,
 * signals included. Who holds it is written beside it (`instance.pid`) so the refusal can name the
 * holder: an operator needs the pid to decide what to stop.
 */

export const LOCK_DIR_NAME = 'instance.lock';
export const PID_FILE_NAME = 'instance.pid';

/**
 * A lock not refreshed for this long belongs to a process that is gone. Generous: a holder whose
 * event loop stalls this long loses its lock (and stops); a dead holder on this machine is
 * recognised by its pid at once anyway.
 */
const STALE_MS = 60_000;
const UPDATE_MS = 10_000;

export interface InstanceLock {
  readonly stateDir: string;
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

function readHolder(stateDir: string): Holder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(stateDir, PID_FILE_NAME), 'utf8')) as Partial<Holder>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return undefined;
    return { pid: parsed.pid, host: String(parsed.host ?? ''), since: String(parsed.since ?? '') };
  } catch {
    return undefined; // no pid file yet (the holder is between mkdir and write), or not ours
  }
}

/** A holder on this machine whose process no longer exists: its lock can be taken at once. */
function holderIsGone(holder: Holder | undefined): boolean {
  if (!holder || holder.host !== hostname() || holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Take the lock on `stateDir` (created if missing) or throw STATE_DIR_LOCKED naming the holder.
 * `onCompromised` runs if the lock is lost while held (its folder removed, the disk gone): the
 * caller should stop, since another instance may now take the folder.
 */
export async function lockStateDir(stateDir: string, options: { onCompromised: (err: Error) => void }): Promise<InstanceLock> {
  mkdirSync(stateDir, { recursive: true });
  const lockOptions = { lockfilePath: join(stateDir, LOCK_DIR_NAME), stale: STALE_MS, update: UPDATE_MS, retries: 0, realpath: false, onCompromised: options.onCompromised };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(stateDir, lockOptions);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    const holder = readHolder(stateDir);
    // A holder killed with SIGKILL leaves a fresh lock behind for up to STALE_MS; when its pid is
    // gone on this machine, a restart (systemd's) need not wait for that.
    if (!holderIsGone(holder)) throw lockedError(stateDir, holder);
    rmSync(join(stateDir, LOCK_DIR_NAME), { recursive: true, force: true });
    try {
      release = await lockfile.lock(stateDir, lockOptions);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw lockedError(stateDir, readHolder(stateDir));
      throw again;
    }
  }
  const pidFile = join(stateDir, PID_FILE_NAME);
  writeFileSync(pidFile, `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`);
  let released: Promise<void> | undefined;
  return {
    stateDir,
    release() {
      released ??= (async () => {
        if (readHolder(stateDir)?.pid === process.pid) rmSync(pidFile, { force: true });
        await release().catch(() => undefined); // already released or compromised: nothing left to free
      })();
      return released;
    },
  };
}

function lockedError(stateDir: string, holder: Holder | undefined): FabricError {
  const who = holder
    ? `pid ${holder.pid}${holder.host && holder.host !== hostname() ? ` on ${holder.host}` : ''}${holder.since ? `, since ${holder.since}` : ''}`
    : 'a process that is starting';
  return new FabricError('STATE_DIR_LOCKED', `state_dir ${stateDir} is in use by another fabric instance (${who}); stop it first, or give this instance its own state_dir`);
}
