import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listJournals, readStateFile, type StateWarning } from '../../src/correlation/state-file.js';
import { compactStateFiles } from '../../src/correlation/state-compaction.js';
import { StateJournal } from '../../src/correlation/state-journal.js';
import type { EngineDelta } from '../../src/correlation/checkpoint.js';
import { SEC, T0, failed, harness, savedState, tempDir } from './helpers.js';

const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'], checkpoint_interval_seconds: 0 };
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function stateDir(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}
const FILE = 'correlation-state.json';

/** Records of every journal, oldest first. */
async function records(dir: string): Promise<EngineDelta[]> {
  const out: EngineDelta[] = [];
  for (const j of await listJournals(path.join(dir, FILE))) {
    for (const line of (await readFile(j.path, 'utf8')).split('\n')) if (line) out.push(JSON.parse(line) as EngineDelta);
  }
  return out;
}

/** The state without the fields that say when and where it was written. */
const essence = ({ saved_at: _s, journal_generation: _g, ...rest }: Awaited<ReturnType<typeof savedState>>) => rest;

describe('correlation checkpoints are append-only: each costs what changed, not the whole state', () => {
  it('after 300 open groups, a checkpoint following one detection writes that one group', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    await h.feed(Array.from({ length: 300 }, (_, i) => failed(T0 + i, `10.1.${i >> 8}.${i & 255}`)));
    await h.ack();
    const firstBytes = await h.metric('fabric_correlation_checkpoint_bytes');
    await h.feed([failed(T0 + 400, '10.1.0.7')]);
    await h.ack();
    const lastBytes = await h.metric('fabric_correlation_checkpoint_bytes');
    const recs = await records(dir);
    expect(recs.map((r) => r.groups.length)).toEqual([300, 1]);
    expect(recs[1]!.groups[0]![1]).toEqual(['10.1.0.7']);
    expect(lastBytes * 20).toBeLessThan(firstBytes);
    // A restart still sees all 300 groups, the changed one with both its detections.
    const state = await savedState(dir);
    expect(state.groups).toHaveLength(300);
    expect(state.groups.find((g) => g[1][0] === '10.1.0.7')![5]).toHaveLength(2);
    await h.stage.stop();
  });

  it('a record larger than one write piece (2,500 groups, written 1,000 at a time) reads back whole', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    await h.feed(Array.from({ length: 2500 }, (_, i) => failed(T0 + i, `10.2.${i >> 8}.${i & 255}`, { id: `big-${i}` })));
    await h.ack();
    await h.stage.stop();
    const recs = await records(dir);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.groups).toHaveLength(2500);
    expect(recs[0]!.groups.map((g) => g[5][0]![1])).toEqual(Array.from({ length: 2500 }, (_, i) => `big-${i}`));
    expect((await savedState(dir)).groups).toHaveLength(2500);
  });

  it('groups that closed are recorded as deleted, so a restart does not bring them back', async () => {
    const dir = await stateDir();
    const h = await harness({ ...bruteForceOnly, allowed_lateness_seconds: 0 }, { stateDir: dir });
    await h.feed([failed(T0, '192.0.2.1')]);
    await h.ack();
    // 10 minutes later in event time: the 5-minute window of 192.0.2.1 closed without firing.
    await h.feed([failed(T0 + 600 * SEC, '192.0.2.2')]);
    await h.ack();
    expect((await records(dir))[1]!.deleted).toEqual([[expect.any(String), '192.0.2.1']]);
    expect((await savedState(dir)).groups.map((g) => g[1][0])).toEqual(['192.0.2.2']);
    await h.stage.stop();
  });

  it('compaction folds the journals into the base: the state read back is the same, the journals are gone', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    for (let b = 0; b < 5; b++) {
      await h.feed([0, 1, 2].map((i) => failed(T0 + b * 10 * SEC + i * SEC, `198.51.100.${b}`, { id: `c-${b}-${i}` })));
      await h.ack();
    }
    await h.stage.stop();
    const file = path.join(dir, FILE);
    const before = await savedState(dir);
    const journals = await listJournals(file);
    expect(journals.length).toBeGreaterThan(0);
    await compactStateFiles(file, journals.at(-1)!.gen);
    expect(await listJournals(file)).toEqual([]);
    const base = JSON.parse(await readFile(file, 'utf8'));
    expect(base.journal_generation).toBe(journals.at(-1)!.gen + 1);
    expect(essence(await savedState(dir))).toEqual(essence(before));
    // And the stage resumes from it: two more detections complete a window opened before.
    const again = await harness(bruteForceOnly, { stateDir: dir });
    expect(await again.feed([3, 4].map((i) => failed(T0 + 40 * SEC + i * SEC, '198.51.100.4')))).toHaveLength(1);
    await again.stage.stop();
  });

  it('a compaction that died after replacing the base (journals not yet removed) reads the same state', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    for (let b = 0; b < 3; b++) {
      await h.feed([failed(T0 + b * SEC, `203.0.113.${b}`)]);
      await h.ack();
    }
    await h.stage.stop();
    const file = path.join(dir, FILE);
    const before = await savedState(dir);
    const journals = await listJournals(file);
    await mkdir(path.join(dir, 'keep'));
    for (const j of journals) await copyFile(j.path, path.join(dir, 'keep', path.basename(j.path)));
    await compactStateFiles(file, journals.at(-1)!.gen);
    // Put the old journals back, as if the process died between the rename and the unlinks.
    for (const j of journals) await copyFile(path.join(dir, 'keep', path.basename(j.path)), j.path);
    expect(essence(await savedState(dir))).toEqual(essence(before));
  });

  it('a torn last line (crash mid-append) is skipped with a warning naming the journal; earlier checkpoints still apply', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    await h.feed([failed(T0, '192.0.2.50')]);
    await h.ack();
    await h.stage.stop();
    const [journal] = await listJournals(path.join(dir, FILE));
    await appendFile(journal!.path, '{"saved_at":"2026-11-27T12:00:00.000Z","watermark":null,"groups":[["rf');
    const warnings: StateWarning[] = [];
    const read = await readStateFile(path.join(dir, FILE), { warn: (w) => warnings.push(w) });
    expect(read.kind === 'ok' && read.state.groups.map((g) => g[1][0])).toEqual(['192.0.2.50']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(journal!.path);
    expect(warnings[0]!.message).toMatch(/line 2 is cut short/);
    // The restarted stage writes to a new journal, never after the torn line.
    const again = await harness(bruteForceOnly, { stateDir: dir });
    await again.feed([failed(T0 + SEC, '192.0.2.51')]);
    await again.ack();
    await again.stage.stop();
    expect((await listJournals(path.join(dir, FILE))).map((j) => j.gen)).toEqual([0, 1]);
    expect((await savedState(dir)).groups.map((g) => g[1][0]).sort()).toEqual(['192.0.2.50', '192.0.2.51']);
  });

  it('a checkpoint that could not be written is carried by the next one', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    // The journal's name is taken by a folder: appending fails.
    await mkdir(path.join(dir, `${FILE}.0.journal`));
    await h.feed([failed(T0, '192.0.2.60')]);
    await expect(h.ack()).rejects.toThrow(/correlation checkpoint .* could not be written/);
    await h.feed([failed(T0 + SEC, '192.0.2.61')]);
    await h.ack();
    await rm(path.join(dir, `${FILE}.0.journal`), { recursive: true });
    expect((await savedState(dir)).groups.map((g) => g[1][0]).sort()).toEqual(['192.0.2.60', '192.0.2.61']);
    await h.stage.stop();
  });

  it('restarts do not pile up journals: past 16 files they are folded into the base', async () => {
    const dir = await stateDir();
    for (let i = 0; i < 20; i++) {
      const h = await harness(bruteForceOnly, { stateDir: dir });
      await h.feed([failed(T0 + i * SEC, `192.0.2.${100 + i}`)]);
      await h.ack();
      await h.stage.stop(); // waits for a compaction in progress
    }
    expect((await listJournals(path.join(dir, FILE))).length).toBeLessThanOrEqual(16);
    expect(JSON.parse(await readFile(path.join(dir, FILE), 'utf8')).groups.length).toBeGreaterThan(0);
    expect((await savedState(dir)).groups).toHaveLength(20);
  });

  it('a part refused at start-up is not refused again at the next one: the first checkpoint after it is whole', async () => {
    const dir = await stateDir();
    const h = await harness(bruteForceOnly, { stateDir: dir });
    await h.feed([failed(T0, '192.0.2.70')]);
    await h.ack();
    await h.stage.stop();
    const file = path.join(dir, FILE);
    const state = await savedState(dir);
    state.watermark = 1e300;
    await writeFile(file, JSON.stringify(state));
    const first: StateWarning[] = [];
    expect((await readStateFile(file, { warn: (w) => first.push(w) })).kind).toBe('ok');
    expect(first.map((w) => w.field)).toEqual(['watermark']);
    const again = await harness(bruteForceOnly, { stateDir: dir });
    await again.feed([failed(T0 + SEC, '192.0.2.71')]);
    await again.ack();
    await again.stage.stop();
    expect((await records(dir)).at(-1)).toMatchObject({ full: true });
    const second: StateWarning[] = [];
    const read = await readStateFile(file, { warn: (w) => second.push(w) });
    expect(second).toEqual([]);
    expect(read.kind === 'ok' && read.state.groups.map((g) => g[1][0]).sort()).toEqual(['192.0.2.70', '192.0.2.71']);
  });

  it('the journal writer compacts in the background once the journals outgrow the base', async () => {
    const dir = await stateDir();
    const file = path.join(dir, FILE);
    const compacted: number[] = [];
    const journal = new StateJournal(file, {
      generation: 0,
      compactAfterBytes: 1,
      onCompacted: (r) => compacted.push(r.journals),
      onCompactionError: (err) => {
        throw err;
      },
    });
    const delta = (ip: string, t: number): EngineDelta => ({
      watermark: null,
      collectors: { 'auth-log': t },
      rules: { bf: 'fp' },
      alerts: [],
      alerts_kept: 1000,
      deleted: [],
      groups: [['bf', [ip], null, null, null, [[t, `id-${ip}`, 'auth-log', 0]]]],
    });
    await journal.append(delta('10.9.0.1', T0), false, new Date());
    await journal.append(delta('10.9.0.2', T0 + 1), false, new Date());
    await journal.close();
    expect(compacted.length).toBeGreaterThan(0);
    const read = await readStateFile(file, { warn: () => {} });
    expect(read.kind === 'ok' && read.state.groups.map((g) => g[1][0])).toEqual(['10.9.0.1', '10.9.0.2']);
    expect(JSON.parse(await readFile(file, 'utf8')).groups.length).toBeGreaterThan(0);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});
