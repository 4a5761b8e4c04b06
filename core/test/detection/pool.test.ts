import { describe, expect, it } from 'vitest';
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
