import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFabric, tempDir, until, writePlugin } from './helpers.js';

/**
 * What still escapes into the host thread (here: a plugin trusted with `isolation: inline` that
 * throws from a timer, or leaves a rejection unhandled) is logged, the process stops gracefully
 * and exits 70. Runs the built CLI (core/dist): build first.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const cases = [
  { kind: 'uncaughtException', code: `setTimeout(() => { throw new Error('inline timer boom token=s3cr3t-value-0123456789'); }, 1);` },
  { kind: 'unhandledRejection', code: `Promise.reject(new Error('inline rejection boom token=s3cr3t-value-0123456789'));` },
] as const;

describe('fabric start: an error that escapes every handler', () => {
  for (const c of cases) {
    it(`${c.kind} from an inline plugin: logged (secret redacted), graceful stop, exit 70, what was published stays`, async () => {
      const dir = tempDir('fabric-policy-');
      dirs.push(dir);
      writePlugin(dir, 'plugin-reckless', {
        body: `configSchema: { type: 'object', properties: { token: { type: 'string', writeOnly: true, 'x-secret': true } } },
  create() {
    return {
      async poll({ checkpoint }) {
        const n = checkpoint ? checkpoint.n : 0;
        if (n === 5) { ${c.code} }
        return { events: [{ '@timestamp': new Date().toISOString(), message: 'reckless ' + n }], checkpoint: { n: n + 1 } };
      },
    };
  },`,
      });
      writeFileSync(
        join(dir, 'fabric.yaml'),
        [
          'state_dir: ./state',
          'detection: { enabled: false }',
          'correlation: { enabled: false }',
          'pipeline: { publish: all }',
          'orchestrator: { collection_interval_seconds: 0.05 }',
          'admin: { enabled: false }',
          'collectors:',
          '  - { id: reckless, plugin: plugin-reckless, isolation: inline, config: { token: s3cr3t-value-0123456789 } }',
          'sink: { type: jsonl }',
        ].join('\n'),
      );
      const { child, stderr: output, exited } = startFabric(join(dir, 'fabric.yaml'), dir);
      try {
        const result = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`fabric did not exit: ${output()}`)), 30_000))]);
        expect(result, output()).toEqual({ code: 70, signal: null });
        expect(output()).toContain(`fatal: ${c.kind} escaped every handler; stopping gracefully, then exiting 70`);
        expect(output()).toContain('boom');
        expect(output()).not.toContain('s3cr3t-value-0123456789');
        expect(output()).toMatch(/stopped: \d+ collected/);
        // The batches published before the error are on disk, whole.
        const events = join(dir, 'state', 'events.jsonl');
        await until(() => existsSync(events));
        const lines = readFileSync(events, 'utf8').trim().split('\n');
        expect(lines.length).toBeGreaterThanOrEqual(5);
        for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      } finally {
        child.kill('SIGKILL');
      }
    }, 60_000);
  }
});
