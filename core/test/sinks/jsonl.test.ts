import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { JsonlSink, type JsonlFile, type JsonlIo } from '../../src/sinks/jsonl.js';
import { tempDir, until } from '../helpers.js';

const dirs: string[] = [];
const dir = () => {
  const d = tempDir('fabric-jsonl-');
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const event = (id: string, pad = 0) => ({ '@timestamp': '2026-12-01T00:00:00.000Z', message: 'x'.repeat(pad), event: { id, kind: 'event' } }) as unknown as FabricEvent;
const batch = (prefix: string, n: number, pad = 200) => Array.from({ length: n }, (_, i) => event(`${prefix}-${i}`, pad));

function lines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.slice(0, -1).split('\n');
}
const ids = (file: string) => lines(file).map((l) => (JSON.parse(l) as { event: { id: string } }).event.id);

function recordingLogger() {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => records.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, records };
}

/**
 * Real files, with a disk that can be made full: while `full`, a write stores at most `room`
 * bytes and then fails with ENOSPC, as write(2) does when the filesystem runs out mid-write.
 */
class FillableDisk implements JsonlIo {
  full = false;
  room = 0;
  failSyncOnce = false;
  writes = 0;
  async openAppend(path: string): Promise<JsonlFile> {
    const fh = await open(path, 'a');
    return {
      write: async (buf, off, len) => {
        this.writes++;
        if (!this.full) return fh.write(buf, off, len);
        if (this.room <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        const n = Math.min(this.room, len);
        this.room -= n;
        return fh.write(buf, off, n);
      },
      datasync: async () => {
        if (this.failSyncOnce) {
          this.failSyncOnce = false;
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        }
        return fh.datasync();
      },
      stat: () => fh.stat(),
      truncate: (n) => fh.truncate(n),
      close: () => fh.close(),
    };
  }
}

describe('jsonl sink on a full disk', () => {
  it('never leaves half a batch in the file, keeps the batch pending, reports down with the reason, and recovers when space returns', async () => {
    const d = dir();
    const file = join(d, 'events.jsonl');
    const disk = new FillableDisk();
    const { logger, records } = recordingLogger();
    const sink = new JsonlSink({ events: file, status: join(d, 'status.jsonl') }, true, { logger }, disk);
    await sink.start();
    await sink.write(batch('a', 100));
    expect(sink.health()).toEqual({ state: 'ok', pending: 0 });

    disk.full = true;
    disk.room = 7_000; // a few records and a half fit, then the disk is full
    let done = false;
    const pending = sink.write(batch('b', 100)).then(() => (done = true));
    await until(() => sink.health().state === 'down' && disk.writes >= 4);
    expect(sink.health()).toEqual({ state: 'down', reason: `ENOSPC at ${file}`, pending: 100 });
    expect(done).toBe(false);
    // Every line parses and none of batch b is there: the partial write was cut back.
    expect(ids(file)).toEqual(batch('a', 100).map((e) => e.event.id));
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    expect(records.some((r) => r.level === 50 && r.path === file && /ENOSPC/.test(String(r.err)))).toBe(true);

    disk.full = false;
    await pending;
    expect(sink.health()).toEqual({ state: 'ok', pending: 0 });
    expect(ids(file)).toEqual([...batch('a', 100), ...batch('b', 100)].map((e) => e.event.id));
    await sink.close(1000);
  });

  it('a failed fsync cuts the unsynced bytes and writes the batch again, once', async () => {
    const d = dir();
    const file = join(d, 'events.jsonl');
    const disk = new FillableDisk();
    const sink = new JsonlSink({ events: file, status: join(d, 'status.jsonl') }, true, { logger: pino({ level: 'silent' }) }, disk);
    await sink.start();
    disk.failSyncOnce = true;
    await sink.write(batch('c', 10));
    expect(ids(file)).toEqual(batch('c', 10).map((e) => e.event.id));
    await sink.close(1000);
  });

  it('close gives up on a write that cannot land: the promise rejects instead of hanging', async () => {
    const d = dir();
    const disk = new FillableDisk();
    const sink = new JsonlSink({ events: join(d, 'events.jsonl'), status: join(d, 'status.jsonl') }, true, { logger: pino({ level: 'silent' }) }, disk);
    await sink.start();
    disk.full = true;
    const stuck = sink.write(batch('d', 5)).then(
      () => 'written',
      (err: Error) => err.message,
    );
    await until(() => sink.health().state === 'down');
    await sink.close(10);
    expect(await stuck).toMatch(/ENOSPC/);
  });
});

describe('jsonl sink start-up after a crash mid-write', () => {
  it('cuts a torn last record back to the last complete one, keeps the bytes in .torn and says how many', async () => {
    const d = dir();
    const file = join(d, 'events.jsonl');
    const good = [JSON.stringify(event('ok-1')), JSON.stringify(event('ok-2'))].join('\n') + '\n';
    const torn = JSON.stringify(event('torn', 500)).slice(0, 123);
    writeFileSync(file, good + torn);
    const { logger, records } = recordingLogger();
    const sink = new JsonlSink({ events: file, status: join(d, 'status.jsonl') }, true, { logger });
    await sink.start();
    await sink.write([event('next')]);
    await sink.close(1000);
    expect(ids(file)).toEqual(['ok-1', 'ok-2', 'next']);
    expect(readFileSync(`${file}.torn`, 'utf8')).toBe(`${torn}\n`);
    const warning = records.find((r) => r.level === 40 && r.file === file);
    expect(warning).toMatchObject({ bytes: 123, keptBytes: Buffer.byteLength(good), movedTo: `${file}.torn` });
    expect(String(warning!.msg)).toContain('cut 123 bytes');
  });

  it('also cuts complete lines at the end that are not JSON (zeros after a power loss), and a file that is one torn record', async () => {
    const d = dir();
    const file = join(d, 'events.jsonl');
    const good = JSON.stringify(event('ok-1')) + '\n';
    writeFileSync(file, good + '\0\0\0\0\n' + '{"half":');
    const status = join(d, 'status.jsonl');
    writeFileSync(status, '{"collector":"a","sta');
    const sink = new JsonlSink({ events: file, status }, true, { logger: pino({ level: 'silent' }) });
    await sink.start();
    await sink.close(1000);
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(readFileSync(status, 'utf8')).toBe('');
    expect(existsSync(`${status}.torn`)).toBe(true);
  });

  it('leaves a clean file untouched and creates no .torn file', async () => {
    const d = dir();
    const file = join(d, 'events.jsonl');
    const good = JSON.stringify(event('ok-1')) + '\n';
    writeFileSync(file, good);
    const sink = new JsonlSink({ events: file, status: join(d, 'status.jsonl') }, true, { logger: pino({ level: 'silent' }) });
    await sink.start();
    await sink.close(1000);
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(existsSync(`${file}.torn`)).toBe(false);
  });
});
