import { describe, expect, it } from 'vitest';
import type { EngineSpec } from '../../src/detection/engine.js';
import { DetectionPool } from '../../src/detection/pool.js';

// On Node 20, stopping a worker while it is still loading its ES module aborts the whole process
// (a V8 fatal error, seen when `fabric start` failed right after composing). close() must let the
// workers finish loading first, however soon after creation it is called.
describe('detection pool shutdown', () => {
  it('closed right after it was created, every worker has finished loading before it is stopped', async () => {
    for (let i = 0; i < 4; i++) {
      const pool = new DetectionPool({ spec: { rules: [] }, threads: 2 });
      await pool.close();
      expect(pool.workersLoaded).toBe(2);
    }
  });

  it('a pool that has run a task closes the same way', async () => {
    const pool = new DetectionPool({ spec: { rules: [] }, threads: 1 });
    const r = await pool.scanText('Failed password for root from 45.1.2.3 port 22 ssh2', false);
    expect(r.lines).toBe(1);
    await pool.close();
    expect(pool.workersLoaded).toBe(1);
  });
});

// The main thread builds the engine before the pool exists, so a worker that cannot build it means
// the worker itself is broken (a damaged dist/, no memory for a thread). A spec the main thread's
// loader never produces stands in for that here. Piscina does not replace a worker that failed while
// starting, so a task queued for it used to wait forever, and its 'error' event, unheard, ended
// the process.
describe('a detection pool whose workers cannot start', () => {
  const broken = { rules: [null] } as unknown as EngineSpec;

  it('reports DETECTION_WORKERS_DOWN with the cause, to start-up and to every batch, instead of hanging or crashing', async () => {
    const reported: string[] = [];
    const pool = new DetectionPool({ spec: broken, threads: 2, taskTimeoutMs: 60_000, onWorkerError: (e) => reported.push(e.message) });
    try {
      await expect(pool.ready()).rejects.toMatchObject({ code: 'DETECTION_WORKERS_DOWN', message: expect.stringContaining("reading 'logsource'") });
      expect(pool.failure?.code).toBe('DETECTION_WORKERS_DOWN');
      expect(reported.length).toBeGreaterThanOrEqual(2);
      // Each batch tries to start workers again (a passing cause would heal), and fails with the cause.
      await expect(pool.evaluate([{ message: 'Failed password for root' }])).rejects.toMatchObject({ code: 'DETECTION_WORKERS_DOWN', reason: 'start' });
      await expect(pool.scanText('Failed password for root', false)).rejects.toMatchObject({ code: 'DETECTION_WORKERS_DOWN' });
    } finally {
      await pool.close();
    }
  });

  it('ready() stops waiting once the pool is closed (a stop during start-up must not hang start)', async () => {
    const pool = new DetectionPool({ spec: { rules: [] }, threads: 1 });
    const ready = pool.ready();
    await pool.close();
    await expect(ready).resolves.toBeUndefined();
    await expect(pool.ready()).resolves.toBeUndefined();
  });

  it('a healthy pool is ready once every worker has built the engine', async () => {
    const pool = new DetectionPool({ spec: { rules: [] }, threads: 2 });
    try {
      await pool.ready();
      expect(pool.workersLoaded).toBe(2);
      expect(pool.failure).toBeUndefined();
    } finally {
      await pool.close();
    }
  });
});
