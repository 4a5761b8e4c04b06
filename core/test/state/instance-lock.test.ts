import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_DIR_NAME, PID_FILE_NAME, lockStateDir } from '../../src/state/instance-lock.js';
import { tempDir } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const stateDir = () => {
  const d = tempDir('fabric-lock-');
  dirs.push(d);
  return join(d, 'state');
};
const onCompromised = () => undefined;

async function refusal(dir: string): Promise<Error & { code?: string }> {
  const err = await lockStateDir(dir, { onCompromised }).then(
    (l) => {
      void l.release();
      throw new Error('the lock was granted');
    },
    (e: Error) => e,
  );
  return err;
}

describe('the state_dir lock', () => {
  it('is exclusive, names its holder, and is free again once released', async () => {
    const dir = stateDir();
    const lock = await lockStateDir(dir, { onCompromised });
    const err = await refusal(dir);
    expect(err.code).toBe('STATE_DIR_LOCKED');
    expect(err.message).toContain(`${dir} is in use by another fabric instance (pid ${process.pid}`);
    await lock.release();
    await lock.release(); // twice is harmless
    const again = await lockStateDir(dir, { onCompromised });
    await again.release();
  });

  it('a pid file that is garbage does not break the refusal', async () => {
    const dir = stateDir();
    mkdirSync(join(dir, LOCK_DIR_NAME), { recursive: true });
    for (const garbage of ['not json', '{"pid":"1; rm -rf /"}', '{"pid":-1}', 'x'.repeat(100_000), '{"__proto__":{"pid":1}}']) {
      writeFileSync(join(dir, PID_FILE_NAME), garbage);
      const err = await refusal(dir);
      expect(err.code).toBe('STATE_DIR_LOCKED');
      expect(err.message).toContain('a process that is starting');
    }
  });

  it('a lock left by a process that is gone, or not refreshed for long, is taken over', async () => {
    const dir = stateDir();
    mkdirSync(join(dir, LOCK_DIR_NAME), { recursive: true });
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, PID_FILE_NAME), JSON.stringify({ pid: Number(gone.stdout), host: (await import('node:os')).hostname(), since: 'then' }));
    const lock = await lockStateDir(dir, { onCompromised });
    await lock.release();

    mkdirSync(join(dir, LOCK_DIR_NAME));
    rmSync(join(dir, PID_FILE_NAME), { force: true });
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(join(dir, LOCK_DIR_NAME), old, old);
    const stale = await lockStateDir(dir, { onCompromised });
    await stale.release();
  });
});
