import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from '../helpers.js';

// Subprocess test: the writer runs the built sink (core/dist); build first.
const writer = join(repoRoot, 'core/test/sinks/jsonl-writer.mjs');
const KILLS = 10;
const PER_BATCH = 1000;
const PAD = 3000; // ~3 KB lines, as in the report that found torn records
/** How long to watch one batch for the moment it is half on disk before trying the next one. */
const WATCH_MS = 3000;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Run {
  acked: number[];
  stderr: string;
  killedMidBatch: boolean;
  code: number | null;
}

/**
 * Start a writer at batch `from`; unless `finish`, kill -9 it while a batch after its first is
 * partly written (the file has grown past that batch's start but not to its end).
 */
function run(file: string, from: number, finish = false): Promise<Run> {
  const child: ChildProcess = spawn(process.execPath, [writer, file, String(from), finish ? '1' : '0', String(PER_BATCH), String(PAD)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result: Run = { acked: [], stderr: '', killedMidBatch: false, code: null };
  let buffered = '';
  child.stderr!.on('data', (d) => (result.stderr += d));
  child.stdout!.on('data', (d) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const [kind, b, before, bytes] = buffered.slice(0, nl).split(' ');
      buffered = buffered.slice(nl + 1);
      if (kind === 'ack') result.acked.push(Number(b));
      if (kind !== 'begin' || finish || result.killedMidBatch || Number(b) === from) continue;
      if (Number(b) > from + 20) {
        child.kill('SIGKILL'); // never caught mid-write: the assertions below fail
        continue;
      }
      // Watch the file grow, synchronously, and kill the moment the batch is half on disk.
      const start = Number(before);
      const end = start + Number(bytes);
      const until = Date.now() + WATCH_MS;
      while (Date.now() < until) {
        const size = statSync(file).size;
        if (size > start && size < end) {
          process.kill(child.pid!, 'SIGKILL');
          result.killedMidBatch = true;
          break;
        }
        if (size >= end) break;
      }
    }
  });
  return new Promise((resolve) =>
    child.on('close', (code) => {
      result.code = code;
      resolve(result);
    }),
  );
}

function tornTail(file: string): boolean {
  const size = statSync(file).size;
  if (size === 0) return false;
  return readFileSync(file).subarray(size - 1)[0] !== 0x0a;
}

describe('jsonl sink under kill -9 mid-batch', () => {
  it(`after ${KILLS} kills during large writes every line parses and every acknowledged batch is there`, async () => {
    const dir = tempDir('fabric-jsonl-crash-');
    dirs.push(dir);
    const file = join(dir, 'events.jsonl');
    const acked = new Set<number>();
    let next = 0;
    let torn = 0;
    const repairs: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      const r = run(file, next);
      const done = await r;
      expect(done.killedMidBatch, done.stderr).toBe(true);
      for (const b of done.acked) acked.add(b);
      if (tornTail(file)) torn++;
      repairs.push(...done.stderr.split('\n').filter((l) => l.includes('incomplete record')));
      // The source re-delivers from the first batch not acknowledged, as a checkpoint would.
      next = Math.max(next, ...done.acked.map((b) => b + 1));
    }
    const last = await run(file, next, true);
    expect(last.code, last.stderr).toBe(0);
    for (const b of last.acked) acked.add(b);
    repairs.push(...last.stderr.split('\n').filter((l) => l.includes('incomplete record')));

    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const seen = new Set<string>();
    let unparsable = 0;
    for (const line of text.slice(0, -1).split('\n')) {
      try {
        seen.add((JSON.parse(line) as { event: { id: string } }).event.id);
      } catch {
        unparsable++;
      }
    }
    const lost = [...acked].flatMap((b) => Array.from({ length: PER_BATCH }, (_, i) => `${b}-${i}`)).filter((id) => !seen.has(id));
    console.log(
      `jsonl kill -9: ${KILLS} kills mid-batch, ${torn} left a torn record, ${acked.size} batches acknowledged, ${unparsable} unparsable lines, ${lost.length} acknowledged events missing`,
    );
    // The kills really tore records (otherwise this test would prove nothing)…
    expect(torn).toBeGreaterThan(0);
    // …each torn record was repaired at the next start, with the byte count, and kept aside…
    expect(repairs).toHaveLength(torn);
    for (const line of repairs) expect((JSON.parse(line) as { bytes: number }).bytes).toBeGreaterThan(0);
    expect(readFileSync(`${file}.torn`, 'utf8').split('\n').filter(Boolean)).toHaveLength(torn);
    // …and the file is whole: every line parses, nothing acknowledged is missing.
    expect(unparsable).toBe(0);
    expect(lost).toEqual([]);
  }, 120_000);
});
