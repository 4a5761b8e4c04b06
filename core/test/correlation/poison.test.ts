import { afterAll, describe, expect, it, vi } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { readStateFile, type StateFile, type StateWarning } from '../../src/correlation/state-file.js';
import { MIN, NOW, SEC, T0, failed, harness, savedState, tempDir, type Harness } from './helpers.js';

const bruteForceOnly = { disabled: ['rf_password_spraying', 'rf_brute_force_then_success', 'rf_scanning_then_exploitation'] };
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function stateDir(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}

/** One failed login per batch: windows must hold across batches, as they do for a real attack. */
async function bruteForce(h: Harness, ip: string, start: number): Promise<number> {
  let alerts = 0;
  for (let i = 0; i < 5; i++) alerts += (await h.feed([failed(start + i * 10 * SEC, ip)])).length;
  return alerts;
}

/** A real checkpoint holding a fired window for 203.0.113.50 (at T0) and an open one for 203.0.113.51. */
async function checkpointWithFiredWindow(dir: string): Promise<{ file: string; state: StateFile }> {
  const h = await harness(bruteForceOnly, { stateDir: dir });
  expect(await h.feed([0, 1, 2, 3, 4].map((i) => failed(T0 + i * SEC, '203.0.113.50')))).toHaveLength(1);
  await h.feed([failed(T0 + 5 * SEC, '203.0.113.51')]);
  await h.stage.stop();
  const file = path.join(dir, 'correlation-state.json');
  // Base and journals as one state; written back whole, it replaces them (journal_generation).
  return { file, state: await savedState(dir) };
}

describe('a poisoned correlation checkpoint cannot silence correlation', () => {
  const poisons: Array<[string, (s: StateFile) => void, RegExp]> = [
    ['watermark 1e300', (s) => (s.watermark = 1e300), /watermark 1e\+300/],
    ['a collector stamped 1e300', (s) => (s.collectors['auth-log'] = 1e300), /collectors\["auth-log"\] 1e\+300/],
    ['a collector an hour ahead of the wall clock', (s) => (s.collectors['auth-log'] = NOW + 3600 * SEC), /collectors\["auth-log"\]/],
    ['a fired window that never ends', (s) => (s.groups.find((g) => g[4] !== null)![3] = 1e300), /groups\[\d+\] fired window/],
  ];

  it.each(poisons)('%s: refused with a warning naming the file and field; a later brute force still fires', async (_name, poison, field) => {
    const dir = await stateDir();
    const { file, state } = await checkpointWithFiredWindow(dir);
    poison(state);
    await writeFile(file, JSON.stringify(state));

    const warnings: StateWarning[] = [];
    const read = await readStateFile(file, { now: NOW, maxClockSkewMs: 300 * SEC, warn: (w) => warnings.push(w) });
    expect(read.kind).toBe('ok');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(file);
    expect(warnings[0]!.message).toMatch(field);

    const h = await harness(bruteForceOnly, { stateDir: dir });
    // The rest of the checkpoint was kept: the open window for .51 continues (4 more complete it).
    let more = 0;
    for (let i = 1; i <= 4; i++) more += (await h.feed([failed(T0 + 5 * SEC + i * SEC, '203.0.113.51')])).length;
    expect(more).toBe(1);
    // The same address as the fired window, an hour later: a new attack, a new alert.
    expect(await bruteForce(h, '203.0.113.50', T0 + 60 * MIN)).toBe(1);
    await h.stage.stop();
  });

  it('the correlation stage reports a refusal in its own log (file, field, value), not as a bare process warning', async () => {
    const dir = await stateDir();
    const { file, state } = await checkpointWithFiredWindow(dir);
    state.collectors['auth-log'] = NOW + 3600 * SEC; // an hour ahead: beyond the default skew
    await writeFile(file, JSON.stringify(state));
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const h = await harness(bruteForceOnly, { stateDir: dir, logger });
      await h.stage.stop();
      expect(emitted).not.toHaveBeenCalled();
    } finally {
      emitted.mockRestore();
    }
    const refusal = lines.find((l) => l.field === 'collectors["auth-log"]');
    expect(refusal).toMatchObject({ level: 40, file });
    expect(String(refusal!.msg)).toContain('is not a time at or before now');
  });

  it('without a warn callback the refusal is still reported (process warning), never silent', async () => {
    const dir = await stateDir();
    const { file, state } = await checkpointWithFiredWindow(dir);
    state.watermark = 1e300;
    await writeFile(file, JSON.stringify(state));
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const read = await readStateFile(file);
      expect(read.kind === 'ok' && read.state.watermark).toBe(null);
      expect(emitted).toHaveBeenCalledWith(
        expect.stringMatching(/correlation checkpoint .*correlation-state\.json: watermark 1e\+300 is not a time at or before now/),
        expect.objectContaining({ code: 'RF_CORRELATION_STATE' }),
      );
    } finally {
      emitted.mockRestore();
    }
  });

  it('a fired window longer than its rule timespan (a valid time, hand-edited) is cut back to the timespan', async () => {
    const dir = await stateDir();
    const { file, state } = await checkpointWithFiredWindow(dir);
    state.groups.find((g) => g[4] !== null)![3] = T0 + 6 * 24 * 60 * MIN; // 6 days instead of 5 minutes
    await writeFile(file, JSON.stringify(state));
    const h = await harness(bruteForceOnly, { stateDir: dir });
    expect(await bruteForce(h, '203.0.113.50', T0 + 60 * MIN)).toBe(1);
    await h.stage.stop();
  });
});

describe('one detection stamped in the future (inside max_clock_skew_seconds)', () => {
  it('does not make the collector late nor push the watermark past the wall clock: a normal brute force still fires', async () => {
    const dir = await stateDir();
    const h = await harness({ ...bruteForceOnly, max_clock_skew_seconds: 300, allowed_lateness_seconds: 60 }, { stateDir: dir });
    // now is pinned at NOW: one forged line 280 s ahead, from the same collector as the attack.
    expect(await h.feed([failed(NOW + 280 * SEC, '198.51.100.200')])).toHaveLength(0);
    expect(await bruteForce(h, '198.51.100.201', NOW - 50 * SEC)).toBe(1);
    expect(await h.metric('fabric_correlation_late_detections_total')).toBe(0);
    expect(await h.metric('fabric_correlation_watermark_seconds')).toBeLessThanOrEqual((NOW - 60 * SEC) / 1000);
    await h.stage.stop();
  });

  it('the future detection itself is still correlated at its own time', async () => {
    const dir = await stateDir();
    const h = await harness({ ...bruteForceOnly, max_clock_skew_seconds: 300 }, { stateDir: dir });
    expect(await bruteForce(h, '198.51.100.202', NOW + 200 * SEC)).toBe(1);
    await h.stage.stop();
  });
});
