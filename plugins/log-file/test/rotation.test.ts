import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, renameSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint, SourceInstance } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { hostConfig } from './config.js';

/**
 * copytruncate keeps the inode: a file truncated and written past our old offset before the next
 * poll looks like a file that grew. These tests drive writer, rotation and polls step by step
 * (seeded, no timers), so every interleaving they check is reproducible.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'logfile-rotation-'));
  dirs.push(d);
  return d;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function instance(dir: string): Promise<SourceInstance> {
  return (await plugin.create(hostConfig({ paths: ['app.log'], format: 'plain' }), {
    collectorId: 't',
    logger: quiet,
    stateDir: dir,
    signal: new AbortController().signal,
    configDir: dir,
  })) as SourceInstance;
}

/** mulberry32: a tiny seeded PRNG, so a failing interleaving can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Lines carry a sequence number and differ in length, like real logs.
const line = (n: number) => `2026-12-03T08:00:00Z app[${n % 97}]: request ${n} took ${(n * 7919) % 1000} ms${'.'.repeat(n % 13)}`;

/** Reads everything the poll returns, with the host's JSON round trip of the checkpoint. */
class Reader {
  checkpoint: Checkpoint | undefined;
  readonly seen: number[] = [];
  readonly garbled: string[] = [];
  constructor(private readonly src: SourceInstance) {}

  async poll(maxEvents: number): Promise<boolean> {
    const r = await this.src.poll({ checkpoint: this.checkpoint, signal: new AbortController().signal, maxEvents });
    for (const e of r.events) {
      const m = /^2026-12-03T08:00:00Z app\[\d+\]: request (\d+) /.exec(String(e.message));
      if (m) this.seen.push(Number(m[1]));
      else this.garbled.push(String(e.message)); // a read that started mid-line
    }
    this.checkpoint = JSON.parse(JSON.stringify(r.checkpoint)) as Checkpoint;
    return r.hasMore === true;
  }

  async drain(maxEvents: number): Promise<void> {
    for (let i = 0; i < 10_000 && (await this.poll(maxEvents)); i++);
  }
}

const KEEP = 6;

/** logrotate's generation shift with `rotate 6`: .5 → .6 (the old .6 is gone), …, .1 → .2. */
function shift(file: string): void {
  for (let i = KEEP - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
}

/** logrotate's copytruncate: shift, copy app.log → app.log.1, truncate app.log. */
function copytruncate(file: string): void {
  shift(file);
  copyFileSync(file, `${file}.1`);
  truncateSync(file, 0);
}

/** logrotate's default (create): shift, rename app.log → app.log.1, create an empty app.log. */
function renameRotate(file: string): void {
  shift(file);
  renameSync(file, `${file}.1`);
  writeFileSync(file, '');
}

/**
 * A writer appends, the file is rotated (several times between two polls, up to `rotate 6`
 * allows), the collector polls with random batch sizes. Returns what a correct reader must see.
 */
async function rotateWhileWriting(seed: number, rotate: (file: string) => void): Promise<{ reader: Reader; written: number; rotations: number }> {
  const rand = prng(seed);
  const dir = temp();
  const file = join(dir, 'app.log');
  writeFileSync(file, '');
  const reader = new Reader(await instance(dir));
  let next = 0;
  let rotations = 0;
  let sinceDrain = 0;
  const write = (n: number) => appendFileSync(file, Array.from({ length: n }, () => line(next++)).join('\n') + '\n');
  write(10);
  await reader.drain(100); // the collector runs before the first rotation
  while (next < 20_000) {
    write(1 + Math.floor(rand() * 120));
    const r = rand();
    if (r < 0.3) {
      // Rotated again before the collector finished the last ones: at most KEEP - 2 times, so
      // the generation holding our position is still there.
      if (sinceDrain >= KEEP - 2) {
        await reader.drain(1 + Math.floor(rand() * 300));
        sinceDrain = 0;
      }
      rotate(file);
      rotations++;
      sinceDrain++;
      write(1 + Math.floor(rand() * 400)); // often past our old offset before we poll again
    } else if (r < 0.6) {
      if (await reader.poll(1 + Math.floor(rand() * 300))) continue;
      sinceDrain = 0;
    }
  }
  await reader.drain(500);
  return { reader, written: next, rotations };
}

function expectEachLineOnce(reader: Reader, written: number): void {
  const counts = new Map<number, number>();
  for (const n of reader.seen) counts.set(n, (counts.get(n) ?? 0) + 1);
  const missing: number[] = [];
  for (let n = 0; n < written; n++) if (!counts.has(n)) missing.push(n);
  expect(missing.length, `missing ${missing.length} of ${written}, e.g. ${missing.slice(0, 10).join(', ')}`).toBe(0);
  expect(reader.garbled).toEqual([]);
  expect([...counts.entries()].filter(([, c]) => c > 1).map(([n]) => n)).toEqual([]);
  expect(reader.seen).toHaveLength(written);
}

describe('copytruncate rotation', () => {
  it('a file truncated and refilled past the old offset before the next poll is read from its start', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, [0, 1, 2].map(line).join('\n') + '\n');
    const reader = new Reader(await instance(dir));
    await reader.drain(100);
    truncateSync(file, 0);
    appendFileSync(file, [3, 4, 5, 6, 7, 8].map(line).join('\n') + '\n'); // longer than before
    await reader.drain(100);
    expect(reader.seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('loses and repeats nothing when copytruncate runs several times between two polls', async () => {
    const { reader, written, rotations } = await rotateWhileWriting(7, copytruncate);
    expect(rotations).toBeGreaterThan(30);
    expectEachLineOnce(reader, written);
  }, 60_000);

  it('a file that was empty at the last poll, then written, copied and truncated, is read from the copy first', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, '');
    // An mtime clearly before the rotation below (file-system clocks are coarse).
    utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const reader = new Reader(await instance(dir));
    await reader.drain(100);
    appendFileSync(file, [0, 1, 2].map(line).join('\n') + '\n');
    copytruncate(file);
    appendFileSync(file, [3, 4, 5, 6].map(line).join('\n') + '\n');
    await reader.drain(2);
    expect(reader.seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('an empty file that only grew is not confused with one rotated meanwhile (older generations stay unread)', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(`${file}.1`, `${line(100)}\n`);
    utimesSync(`${file}.1`, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    writeFileSync(file, '');
    utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const reader = new Reader(await instance(dir));
    await reader.drain(100);
    appendFileSync(file, `${line(0)}\n`);
    await reader.drain(100);
    expect(reader.seen).toEqual([0]);
  });

  it('lines written after the last poll but before the copy are read from the copy, then the new file', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, [0, 1].map(line).join('\n') + '\n');
    const reader = new Reader(await instance(dir));
    await reader.drain(100);
    appendFileSync(file, [2, 3].map(line).join('\n') + '\n'); // not yet read
    copytruncate(file);
    appendFileSync(file, [4, 5, 6, 7, 8, 9].map(line).join('\n') + '\n');
    await reader.drain(1); // one line per poll: the copy is finished across polls
    expect(reader.seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('loses no line and repeats none while a writer appends and the file is rotated by copytruncate again and again', async () => {
    const rand = prng(16);
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, '');
    const reader = new Reader(await instance(dir));
    let next = 0;
    let rotations = 0;
    const write = (n: number) => {
      appendFileSync(file, Array.from({ length: n }, () => line(next++)).join('\n') + '\n');
    };
    write(10);
    await reader.drain(100); // the collector runs before the first rotation
    while (next < 30_000) {
      write(1 + Math.floor(rand() * 120));
      const r = rand();
      if (r < 0.25) {
        copytruncate(file);
        rotations++;
        // The writer keeps appending after the truncation, often past our old offset, before
        // we poll again; at most one rotation happens between polls (see the README).
        write(1 + Math.floor(rand() * 400));
        await reader.drain(1 + Math.floor(rand() * 300));
      } else if (r < 0.7) {
        await reader.poll(1 + Math.floor(rand() * 300));
      }
    }
    await reader.drain(500);
    expect(rotations).toBeGreaterThan(50);
    const missing = [];
    const counts = new Map<number, number>();
    for (const n of reader.seen) counts.set(n, (counts.get(n) ?? 0) + 1);
    for (let n = 0; n < next; n++) if (!counts.has(n)) missing.push(n);
    expect(missing.length, `missing ${missing.length} of ${next}, e.g. ${missing.slice(0, 10).join(', ')}`).toBe(0);
    expect(reader.garbled).toEqual([]);
    expect([...counts.values()].filter((c) => c > 1)).toHaveLength(0);
    expect(reader.seen).toHaveLength(next);
  }, 60_000);
});

describe('rename rotation and old checkpoints', () => {
  it('a checkpoint written before fingerprints existed still resumes where it was', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, [0, 1, 2].map(line).join('\n') + '\n');
    const reader = new Reader(await instance(dir));
    await reader.poll(2);
    const cp = reader.checkpoint as { files: Record<string, { dev: number; ino: number; offset: number; fp?: string }> };
    for (const pos of Object.values(cp.files)) delete pos.fp;
    expect(plugin.checkpointSchema).toBeDefined();
    const fresh = new Reader(await instance(dir));
    fresh.checkpoint = cp as unknown as Checkpoint;
    await fresh.drain(100);
    expect(fresh.seen).toEqual([2]);
  });

  it('rename rotation several times between two polls: every generation is read, in order', async () => {
    const { reader, written, rotations } = await rotateWhileWriting(11, renameRotate);
    expect(rotations).toBeGreaterThan(30);
    expectEachLineOnce(reader, written);
    // In order, too: generations are finished oldest first.
    expect(reader.seen).toEqual([...reader.seen].sort((a, b) => a - b));
  }, 60_000);

  it('neighbours that are not generations (.bak, .gz) are never read as log data', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, `${line(0)}\n`);
    const reader = new Reader(await instance(dir));
    await reader.drain(100);
    appendFileSync(file, `${line(1)}\n`);
    renameRotate(file);
    writeFileSync(`${file}.bak`, 'not a log line\n');
    writeFileSync(`${file}.2.gz`, 'compressed garbage\n');
    appendFileSync(file, `${line(2)}\n`);
    await reader.drain(100);
    expect(reader.seen).toEqual([0, 1, 2]);
    expect(reader.garbled).toEqual([]);
  });

  it('still finishes a renamed file before the new one', async () => {
    const dir = temp();
    const file = join(dir, 'app.log');
    writeFileSync(file, [0].map(line).join('\n') + '\n');
    const reader = new Reader(await instance(dir));
    await reader.drain(100);
    appendFileSync(file, `${line(1)}\n`);
    renameSync(file, `${file}.1`);
    writeFileSync(file, [2, 3, 4].map(line).join('\n') + '\n');
    await reader.drain(1);
    expect(reader.seen).toEqual([0, 1, 2, 3, 4]);
  });
});
