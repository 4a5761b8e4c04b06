import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sweepStaleTempFiles, writeFileAtomic } from '../../src/state/atomic.js';
import { writeJsonFile } from '../../src/enrichment/json-file.js';
import { writeStateFile } from '../../src/correlation/state-file.js';
import { FileCheckpointStore } from '../../src/state/checkpoint-store.js';
import { tempDir } from '../helpers.js';

/** Which step of the next writes fails, as a full disk or a failing device would make it. */
const inject = vi.hoisted(() => ({ fail: undefined as undefined | 'open' | 'write' | 'sync' | 'close' | 'rename', syncs: [] as string[] }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const error = (code: string) => Object.assign(new Error(`${code}: injected failure`), { code });
  const open = async (path: string, flags?: string, mode?: number) => {
    if (inject.fail === 'open' && path.endsWith('.tmp')) {
      // Like ENOSPC on a full folder: the entry may exist, nothing more.
      await real.writeFile(path, '');
      throw error('ENOSPC');
    }
    const fh = await real.open(path, flags, mode);
    return new Proxy(fh, {
      get(target, key) {
        if (key === 'writeFile' && inject.fail === 'write') {
          return async (data: string) => {
            await target.writeFile(data.slice(0, Math.ceil(data.length / 2)));
            throw error('ENOSPC');
          };
        }
        if (key === 'sync') {
          return async () => {
            if (inject.fail === 'sync') throw error('EIO');
            inject.syncs.push(path);
            return target.sync();
          };
        }
        if (key === 'close' && inject.fail === 'close') {
          return async () => {
            await target.close();
            throw error('EIO');
          };
        }
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  const rename = async (from: string, to: string) => {
    if (inject.fail === 'rename') throw error('ENOSPC');
    return real.rename(from, to);
  };
  return { ...real, open, rename, default: { ...real, open, rename } };
});

const dirs: string[] = [];
const dir = () => {
  const d = tempDir('fabric-atomic-');
  dirs.push(d);
  return d;
};
afterEach(() => {
  inject.fail = undefined;
  inject.syncs.length = 0;
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const temps = (d: string) => readdirSync(d).filter((f) => f.endsWith('.tmp'));

describe('writeFileAtomic on a failing disk', () => {
  it.each(['open', 'write', 'sync', 'close', 'rename'] as const)('a failure at %s rejects, keeps the old content and leaves no temp file', async (step) => {
    const d = dir();
    const file = join(d, 'state.json');
    await writeFileAtomic(file, 'old');
    inject.fail = step;
    for (let i = 0; i < 5; i++) await expect(writeFileAtomic(file, 'new content')).rejects.toMatchObject({ code: step === 'sync' || step === 'close' ? 'EIO' : 'ENOSPC' });
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(temps(d)).toEqual([]);
    inject.fail = undefined;
    await writeFileAtomic(file, 'new content');
    expect(readFileSync(file, 'utf8')).toBe('new content');
  });

  it('failed collector checkpoint writes leave nothing behind either', async () => {
    const d = dir();
    const store = new FileCheckpointStore(d);
    await store.write('auth', { files: {} });
    inject.fail = 'write';
    for (let i = 0; i < 10; i++) await expect(store.write('auth', { files: { a: i } })).rejects.toThrow();
    expect(readdirSync(d, { recursive: true }).filter((f) => String(f).endsWith('.tmp'))).toEqual([]);
  });
});

describe('the enrichment and correlation state files use the atomic write', () => {
  it('writeJsonFile fsyncs the file and its folder and leaves no temp file on failure', async () => {
    const d = dir();
    const file = join(d, 'verdicts.json');
    await writeJsonFile(file, { version: 1, entries: [] });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, entries: [] });
    expect(inject.syncs.some((p) => p.startsWith(join(d, '.verdicts.json.')))).toBe(true);
    expect(inject.syncs).toContain(d);
    inject.fail = 'sync';
    await expect(writeJsonFile(file, { version: 1, entries: [1] })).rejects.toThrow(/EIO/);
    expect(temps(d)).toEqual([]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, entries: [] });
  });

  it('writeStateFile leaves no temp file on failure', async () => {
    const d = dir();
    const file = join(d, 'correlation-state.json');
    inject.fail = 'rename';
    await expect(writeStateFile(file, { watermark: null, collectors: {}, rules: {}, alerts: [], groups: [] }, new Date())).rejects.toThrow(/ENOSPC/);
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('stale temp files of killed runs', () => {
  const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

  it("are swept: dead writers and this pid (a restarted container reuses it); a live writer's fresh file and other files stay", async () => {
    const d = dir();
    const stale = [`.a.json.${deadPid()}.k3j2.tmp`, `.b.json.${process.pid}.zz9.tmp`];
    const liveOld = `.c.json.${process.ppid}.old1.tmp`;
    const kept = [`.c.json.${process.ppid}.x1.tmp`, 'notes.tmp', 'a.json'];
    for (const f of [...stale, liveOld, ...kept]) writeFileSync(join(d, f), 'x');
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(d, liveOld), hoursAgo, hoursAgo);
    expect(await sweepStaleTempFiles(d)).toBe(3);
    expect(readdirSync(d).sort()).toEqual([...kept].sort());
  });

  it('are swept before the first atomic write into a folder', async () => {
    const d = dir();
    writeFileSync(join(d, `.state.json.${deadPid()}.q1.tmp`), 'half a checkpoint');
    await writeFileAtomic(join(d, 'state.json'), '{}');
    expect(readdirSync(d)).toEqual(['state.json']);
  });
});
