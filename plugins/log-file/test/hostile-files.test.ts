import { afterEach, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HealthReport, PluginLogger, SourceInstance } from '@reactive-fabric/core';

/**
 * Whoever can write into a log folder is an attacker: links to secrets, loops, FIFOs and
 * unreadable entries must neither leak data nor blind the collector to the other files.
 */

// Lets a test make one path fail to open (EACCES cannot be produced for root, who runs CI) or
// simulate a path swapped for a symlink between realpath() and open(): everything else is real.
const fsHooks: { openError?: (path: string) => string | undefined; realpathAs?: (path: string) => string | undefined; opened: string[] } = { opened: [] };
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: (async (path: string, ...rest: unknown[]) => {
      fsHooks.opened.push(String(path));
      const code = fsHooks.openError?.(String(path));
      if (code) throw Object.assign(new Error(`${code}: open '${String(path)}'`), { code });
      return (real.open as (...a: unknown[]) => unknown)(path, ...rest);
    }) as typeof real.open,
    realpath: (async (path: string, ...rest: unknown[]) =>
      fsHooks.realpathAs?.(String(path)) ?? (real.realpath as (...a: unknown[]) => unknown)(path, ...rest)) as typeof real.realpath,
  };
});

const { default: plugin } = await import('../src/index.js');
const { hostConfig } = await import('./config.js');

const dirs: string[] = [];
afterEach(() => {
  fsHooks.openError = undefined;
  fsHooks.realpathAs = undefined;
  fsHooks.opened = [];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'logfile-hostile-'));
  dirs.push(d);
  return d;
}

class Recorder implements PluginLogger {
  readonly lines: Array<{ level: string; obj: unknown; msg?: string }> = [];
  debug(obj: Record<string, unknown> | string, msg?: string) {
    this.lines.push({ level: 'debug', obj, msg });
  }
  info(obj: Record<string, unknown> | string, msg?: string) {
    this.lines.push({ level: 'info', obj, msg });
  }
  warn(obj: Record<string, unknown> | string, msg?: string) {
    this.lines.push({ level: 'warn', obj, msg });
  }
  error(obj: Record<string, unknown> | string, msg?: string) {
    this.lines.push({ level: 'error', obj, msg });
  }
  warnings(): string[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => l.msg ?? '');
  }
}

async function instance(dir: string, config: Record<string, unknown>, logger = new Recorder()): Promise<{ src: SourceInstance; logger: Recorder }> {
  const src = (await plugin.create(hostConfig({ format: 'plain', ...config }), {
    collectorId: 't',
    logger,
    stateDir: dir,
    signal: new AbortController().signal,
    configDir: dir,
  })) as SourceInstance;
  return { src, logger };
}

async function readAll(src: SourceInstance): Promise<string[]> {
  const out: string[] = [];
  let checkpoint;
  for (let i = 0; i < 50; i++) {
    const r = await src.poll({ checkpoint, signal: new AbortController().signal, maxEvents: 100 });
    out.push(...r.events.map((e) => String(e.message)));
    checkpoint = r.checkpoint;
    if (!r.hasMore) break;
  }
  return out;
}

async function health(src: SourceInstance): Promise<HealthReport> {
  expect(src.healthCheck, 'log-file must implement healthCheck()').toBeTypeOf('function');
  return src.healthCheck!(new AbortController().signal);
}

/** A folder with logs/ (the configured folder) and secret/ (outside it). */
function layout(): { dir: string; logs: string; secret: string } {
  const dir = temp();
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  mkdirSync(join(dir, 'secret'));
  const secret = join(dir, 'secret', 'shadow');
  writeFileSync(secret, 'root:$6$SECRETHASH:19000:0:99999:7:::\n');
  writeFileSync(join(logs, 'a.log'), 'line from a\n');
  return { dir, logs, secret };
}

describe('symlinks', () => {
  it('does not publish a file a link in the log folder points to outside it (ln -s /etc/shadow logs/x), and says so', async () => {
    const { dir, logs, secret } = layout();
    symlinkSync(secret, join(logs, 'x'));
    const { src, logger } = await instance(dir, { paths: ['logs/*'] });
    const messages = await readAll(src);
    expect(messages).toEqual(['line from a']);
    expect(messages.join('\n')).not.toContain('SECRETHASH');
    const h = await health(src);
    expect(h.status).toBe('degraded');
    expect(h.reason).toContain(join(logs, 'x'));
    expect(h.reason).toContain('follow_symlinks');
    expect(logger.warnings().join('\n')).toContain(join(logs, 'x'));
  });

  it('a configured plain path that is a link out of its folder is refused too', async () => {
    const { dir, logs, secret } = layout();
    symlinkSync(secret, join(logs, 'auth.log'));
    const { src } = await instance(dir, { paths: ['logs/auth.log'] });
    expect((await readAll(src)).join('\n')).not.toContain('SECRETHASH');
    expect((await health(src)).reason).toContain('outside');
  });

  it('reads links that stay inside the folder, and outside links with follow_symlinks: true', async () => {
    const { dir, logs, secret } = layout();
    writeFileSync(join(logs, 'real.txt'), 'inside target\n');
    symlinkSync(join(logs, 'real.txt'), join(logs, 'inside.log'));
    symlinkSync(secret, join(logs, 'outside.log'));
    const strict = await instance(dir, { paths: ['logs/*.log'] });
    expect(await readAll(strict.src)).toEqual(['line from a', 'inside target']);
    const follow = await instance(dir, { paths: ['logs/*.log'], follow_symlinks: true });
    expect((await readAll(follow.src)).sort()).toEqual(['inside target', 'line from a', 'root:$6$SECRETHASH:19000:0:99999:7:::']);
    expect((await health(follow.src)).status).toBe('healthy');
  });

  it('never reads a device, even through a followed link', async () => {
    const { dir, logs } = layout();
    symlinkSync('/dev/zero', join(logs, 'zero.log'));
    const { src } = await instance(dir, { paths: ['logs/*.log'], follow_symlinks: true });
    expect(await readAll(src)).toEqual(['line from a']);
    const h = await health(src);
    expect(h.status).toBe('degraded');
    expect(h.reason).toMatch(/zero\.log is a device/);
    // Not even opened: opening a device can act (think /dev/watchdog).
    expect(fsHooks.opened.filter((p) => p.includes('zero'))).toEqual([]);
  });

  it('checks the opened file, not the path: a path swapped for a link after the check is not read', async () => {
    const { dir, logs, secret } = layout();
    const swapped = join(logs, 'b.log');
    symlinkSync(secret, swapped);
    // realpath() saw a regular file here; by open() time it is a link to the secret.
    fsHooks.realpathAs = (p) => (p === swapped ? swapped : undefined);
    const { src } = await instance(dir, { paths: ['logs/*.log'] });
    const messages = await readAll(src);
    expect(messages).toEqual(['line from a']);
    expect((await health(src)).reason).toContain(swapped);
  });
});

describe('one bad entry does not stop the others', () => {
  it('a symlink loop in a glob is skipped and reported; the other files are read', async () => {
    const { dir, logs } = layout();
    symlinkSync(join(logs, 'loop2.log'), join(logs, 'loop1.log'));
    symlinkSync(join(logs, 'loop1.log'), join(logs, 'loop2.log'));
    writeFileSync(join(logs, 'z.log'), 'line from z\n');
    const { src, logger } = await instance(dir, { paths: ['logs/*.log'] });
    expect(await readAll(src)).toEqual(['line from a', 'line from z']);
    const h = await health(src);
    expect(h.status).toBe('degraded');
    expect(h.reason).toContain(`${join(logs, 'loop1.log')} is a symlink loop`);
    expect(h.reason).toContain('remove or fix the link');
    expect(logger.warnings().some((w) => w.includes('loop1.log'))).toBe(true);
  });

  it('a file that cannot be opened (EACCES) is skipped and reported; the other files are read', async () => {
    const { dir, logs } = layout();
    writeFileSync(join(logs, 'locked.log'), 'secret-ish\n');
    writeFileSync(join(logs, 'z.log'), 'line from z\n');
    fsHooks.openError = (p) => (p.endsWith('locked.log') ? 'EACCES' : undefined);
    const { src } = await instance(dir, { paths: ['logs/*.log'] });
    expect(await readAll(src)).toEqual(['line from a', 'line from z']);
    const h = await health(src);
    expect(h.reason).toContain(`${join(logs, 'locked.log')} cannot be opened (EACCES)`);
    expect(h.reason).toContain('read access');
  });

  it('shows attacker-chosen file names with control characters escaped, in health and log messages', async () => {
    const { dir, logs } = layout();
    const evil = join(logs, 'x\n\u001b[2Jfake.log');
    symlinkSync(evil, evil); // a loop, with a newline and an ANSI "clear screen" in its name
    const { src, logger } = await instance(dir, { paths: ['logs/*.log'] });
    expect(await readAll(src)).toEqual(['line from a']);
    const reason = (await health(src)).reason!;
    expect(reason).toContain('x\\u000a\\u001b[2Jfake.log');
    expect(reason).not.toMatch(/[\n\u001b]/);
    expect(logger.warnings().join('')).not.toMatch(/[\n\u001b]/);
  });

  it('warns once per problem, not on every poll, and says when it is gone', async () => {
    const { dir, logs } = layout();
    const { src, logger } = await instance(dir, { paths: ['logs/a.log', 'logs/late.log'] });
    for (let i = 0; i < 3; i++) await src.poll({ checkpoint: undefined, signal: new AbortController().signal, maxEvents: 10 });
    expect(logger.warnings().filter((w) => w.includes('late.log'))).toHaveLength(1);
    writeFileSync(join(logs, 'late.log'), 'finally\n');
    await src.poll({ checkpoint: undefined, signal: new AbortController().signal, maxEvents: 10 });
    expect(logger.lines.some((l) => l.level === 'info' && l.msg?.includes('late.log is readable again'))).toBe(true);
    expect((await health(src)).status).toBe('healthy');
  });
});

describe('a configured path that cannot be a log file is not "healthy with 0 events"', () => {
  it('a folder', async () => {
    const { dir, logs } = layout();
    const { src } = await instance(dir, { paths: ['logs'] });
    expect(await readAll(src)).toEqual([]);
    const h = await health(src);
    expect(h.status).toBe('degraded');
    expect(h.reason).toContain(`${logs} is a folder, not a regular file`);
  });

  it('a FIFO: not opened for reading (no hang), reported', async () => {
    const { dir, logs } = layout();
    execFileSync('mkfifo', [join(logs, 'pipe.log')]);
    const { src } = await instance(dir, { paths: ['logs/pipe.log', 'logs/a.log'] });
    expect(await readAll(src)).toEqual(['line from a']);
    expect((await health(src)).reason).toContain(`${join(logs, 'pipe.log')} is a FIFO`);
    expect(fsHooks.opened.filter((p) => p.includes('pipe'))).toEqual([]);
  });

  it('a missing file, and a glob without matches, are named in health — before and after the first poll', async () => {
    const { dir, logs } = layout();
    const { src } = await instance(dir, { paths: ['logs/missing.log', 'logs/*.json'] });
    const before = await health(src);
    expect(before.status).toBe('degraded');
    expect(before.reason).toContain(`${join(logs, 'missing.log')} does not exist`);
    expect(before.reason).toContain(`${join(logs, '*.json')} no file matches this pattern`);
    expect(await readAll(src)).toEqual([]);
    expect((await health(src)).reason).toContain('missing.log does not exist');
  });

  it('all readable: healthy', async () => {
    const { dir } = layout();
    const { src } = await instance(dir, { paths: ['logs/*.log'] });
    expect(await readAll(src)).toEqual(['line from a']);
    expect(await health(src)).toEqual({ status: 'healthy' });
  });
});
