import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFabric, tempDir, until, writePlugin } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('fabric start with a plugin stuck in a synchronous loop', () => {
  it('keeps the other collector publishing and stops gracefully on SIGTERM within shutdown_timeout_seconds', async () => {
    const dir = tempDir('fabric-sigterm-');
    dirs.push(dir);
    writePlugin(dir, 'plugin-spin', {
      body: `configSchema: { type: 'object', properties: {} },
  create() { return { async poll() { for (;;) {} } }; },`,
    });
    writePlugin(dir, 'plugin-steady', {
      body: `configSchema: { type: 'object', properties: {} },
  create() {
    return {
      async poll({ checkpoint }) {
        const n = checkpoint ? checkpoint.n : 0;
        return { events: [{ '@timestamp': new Date().toISOString(), message: 'steady ' + n }], checkpoint: { n: n + 1 } };
      },
    };
  },`,
    });
    writeFileSync(
      join(dir, 'fabric.yaml'),
      [
        'state_dir: ./state',
        'log_level: info',
        'detection: { enabled: false }',
        'correlation: { enabled: false }',
        'pipeline: { publish: all }',
        // A long unresponsive deadline: the worker is still spinning when SIGTERM arrives.
        'orchestrator: { collection_interval_seconds: 0.05, unresponsive_after_seconds: 600, poll_timeout_seconds: 600 }',
        'supervisor: { shutdown_timeout_seconds: 3 }',
        'admin: { enabled: false }',
        'collectors:',
        '  - { id: spin, plugin: plugin-spin }',
        '  - { id: steady, plugin: plugin-steady }',
        'sink: { type: jsonl }',
      ].join('\n'),
    );
    const { child, stderr: output, exited } = startFabric(join(dir, 'fabric.yaml'), dir);
    const events = join(dir, 'state', 'events.jsonl');
    const steady = () =>
      existsSync(events)
        ? readFileSync(events, 'utf8')
            .split('\n')
            .filter((l) => l.includes('"steady ')).length
        : 0;
    try {
      // The spinning worker never answers its poll, and the steady collector keeps publishing beside it.
      await until(() => steady() >= 20, 30_000, 50);
      const t0 = Date.now();
      child.kill('SIGTERM');
      const result = await exited;
      const took = Date.now() - t0;
      expect(result, output()).toEqual({ code: 0, signal: null });
      expect(output()).toContain('SIGTERM: stopping gracefully');
      expect(took, output()).toBeLessThan(3000 + 2000);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
