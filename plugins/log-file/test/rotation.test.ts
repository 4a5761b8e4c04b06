import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint, SourceInstance } from '@reactive-fabric/core';
import plugin from '../src/index.js';

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
  return (await plugin.create({ paths: ['app.log'], format: 'plain', start_at: 'beginning', max_line_bytes: 65536, follow_symlinks: false } as never, {
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

/** logrotate's copytruncate: shift app.log.1 → .2, copy app.log → app.log.1, truncate app.log. */
function copytruncate(file: string): void {
  if (existsSync(`${file}.1`)) renameSync(`${file}.1`, `${file}.2`);
  copyFileSync(file, `${file}.1`);
  truncateSync(file, 0);
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
