import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { composeFabric } from '../../src/compose/index.js';
import type { Orchestrator } from '../../src/orchestrator.js';
import { main } from '../../src/cli/main.js';
import { FileCheckpointStore } from '../../src/state/checkpoint-store.js';
import { silentLogger, tempDir, until, writePlugin } from '../helpers.js';
import { expectError, SecretAudit, testApi } from './harness.js';

/**
 * Checkpoints are validated against the plugin's own `checkpointSchema`: a stored one of the
 * wrong shape stops the collector with BAD_CONFIG before it polls, the admin API refuses one with
 * 400 naming the field, and a checkpoint file that is not JSON is a one-line error.
 */

const PLUGIN = 'fabric-plugin-counter';
// Plain JS (no imports): polls count in globalThis so a test can see whether poll() ran at all.
const body = `
  configSchema: { type: 'object', properties: {} },
  checkpointSchema: { type: 'object', required: ['offset'], properties: { offset: { type: 'integer', minimum: 0 } } },
  create() {
    return {
      async poll({ checkpoint }) {
        globalThis.__counterPolls = (globalThis.__counterPolls ?? 0) + 1;
        const offset = checkpoint ? checkpoint.offset : 0;
        const events = offset < 3 ? [{ '@timestamp': '2026-01-01T00:00:00Z', message: 'line ' + offset }] : [];
        return { events, checkpoint: { offset: offset + events.length }, hasMore: offset + events.length < 3 };
      },
    };
  },`;

const dirs: string[] = [];
const polls = () => (globalThis as { __counterPolls?: number }).__counterPolls ?? 0;

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  (globalThis as { __counterPolls?: number }).__counterPolls = 0;
});

function project(): { dir: string; configFile: string; yaml: string; checkpointFile: string } {
  const dir = tempDir('fabric-cp-schema-');
  dirs.push(dir);
  writePlugin(dir, PLUGIN, { body });
  const yaml = `state_dir: ./state
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
pipeline: { publish: all }
orchestrator: { collection_interval_seconds: 0.05, health_check_interval_seconds: 1 }
supervisor: { backoff_min_seconds: 0.05, backoff_max_seconds: 0.1 }
collectors:
  - id: counter
    plugin: ${PLUGIN}
    # inline: the poll counter lives in this thread's globalThis (the check runs before create() in both modes)
    isolation: inline
sink: { type: jsonl }
`;
  const configFile = join(dir, 'fabric.yaml');
  writeFileSync(configFile, yaml);
  return { dir, configFile, yaml, checkpointFile: join(dir, 'state', 'checkpoints', 'counter.json') };
}

function storeCheckpoint(file: string, value: unknown): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify({ value, updatedAt: '2026-01-01T00:00:00.000Z' }));
}

async function orchestrator(p: ReturnType<typeof project>, mode: 'once' | 'continuous' = 'once'): Promise<Orchestrator> {
  return composeFabric(parseConfig(p.yaml, p.configFile, process.env), {
    cwd: p.dir,
    logger: silentLogger(),
    env: process.env,
    ...(mode === 'once' ? { once: { maxPolls: 10_000 } } : {}),
  });
}

describe('a stored checkpoint of the wrong shape', () => {
  const wrong: Array<[string, unknown, string]> = [
    ['an array where an object belongs', { files: [1, 2, 3] }, '/offset'],
    ['a string', 'garbage', '/'],
    ['null', null, '/'],
    ['a number as a string', { offset: '12' }, '/offset'],
  ];
  for (const [what, value, field] of wrong) {
    it(`(${what}) fails the collector's start with BAD_CONFIG naming collector, file and field; poll() never runs`, async () => {
      const p = project();
      storeCheckpoint(p.checkpointFile, value);
      const orch = await orchestrator(p);
      const report = await orch.runOnce();
      const entry = report.collectors.find((c) => c.id === 'counter')!;
      expect(entry.error?.code).toBe('BAD_CONFIG');
      expect(entry.error?.message).toContain('collector "counter"');
      expect(entry.error?.message).toContain(p.checkpointFile);
      expect(entry.error?.message).toContain(`${field}:`);
      expect(entry.error?.message).toContain('DELETE /collectors/counter/checkpoint');
      expect(polls()).toBe(0);
      expect(entry.events).toBe(0);
    });
  }

  it('keeps a supervised collector out of running and reports BAD_CONFIG as its last error', async () => {
    const p = project();
    storeCheckpoint(p.checkpointFile, { offset: '12' });
    const orch = await orchestrator(p, 'continuous');
    await orch.start();
    try {
      await until(() => orch.getCollector('counter')?.lastError?.code === 'BAD_CONFIG');
      const detail = orch.getCollector('counter')!;
      expect(detail.state).not.toBe('running');
      expect(detail.lastError?.message).toContain('/offset');
      expect(polls()).toBe(0);
    } finally {
      await orch.stop();
    }
  });

  it('a valid stored checkpoint is resumed from', async () => {
    const p = project();
    storeCheckpoint(p.checkpointFile, { offset: 2 });
    const report = await (await orchestrator(p)).runOnce();
    expect(report.collectors[0]).toMatchObject({ id: 'counter', events: 1 });
    expect(report.collectors[0]!.error).toBeUndefined();
  });
});

describe('PUT /collectors/:id/checkpoint against the plugin schema', () => {
  it('answers 400 with the field path for a wrong shape and stores nothing', async () => {
    const p = project();
    const orch = await orchestrator(p);
    const audit = new SecretAudit();
    const api = await testApi(orch, audit);
    try {
      const cases: Array<[unknown, string]> = [
        [{ files: [1, 2, 3] }, 'body.value/offset'],
        ['garbage', 'body.value'],
        [null, 'body.value'],
        [{ offset: '12' }, 'body.value/offset'],
        [{ offset: -1 }, 'body.value/offset'],
      ];
      for (const [value, path] of cases) {
        const res = await api.call({ method: 'PUT', url: '/collectors/counter/checkpoint', payload: { value } });
        const err = expectError(res, 400, 'VALIDATION_FAILED');
        expect(err.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
        expect(err.message).toContain('collector "counter"');
      }
      expect(() => readFileSync(p.checkpointFile)).toThrow(/ENOENT/);
      const ok = await api.call({ method: 'PUT', url: '/collectors/counter/checkpoint', payload: { value: { offset: 1 } } });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(JSON.parse(readFileSync(p.checkpointFile, 'utf8')).value).toEqual({ offset: 1 });
    } finally {
      await api.app.close();
      await orch.stop();
    }
  });
});

describe('a checkpoint file that is not a checkpoint', () => {
  it('is a one-line error naming the file and what to do, not a stack trace', async () => {
    const p = project();
    mkdirSync(join(p.checkpointFile, '..'), { recursive: true });
    writeFileSync(p.checkpointFile, '{"value": {"offset": 1'); // torn by hand or by a full disk
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['run', '--once', '-c', p.configFile], {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: process.env,
      cwd: p.dir,
    } as never);
    const text = err.join('');
    expect(code).toBe(1);
    expect(text).toContain(p.checkpointFile);
    expect(text).toContain('not valid JSON');
    expect(text).toContain('delete it');
    expect(text).not.toMatch(/\n\s+at /);
    expect(text.trim().split('\n')).toHaveLength(1);
  });

  it('a JSON file without a value is refused too, instead of silently starting over', async () => {
    const dir = tempDir('fabric-cp-store-');
    dirs.push(dir);
    const store = new FileCheckpointStore(dir);
    mkdirSync(join(dir, 'checkpoints'));
    for (const content of ['null', '"garbage"', '[1,2]', '{"updatedAt":"2026-01-01T00:00:00Z"}']) {
      writeFileSync(store.fileOf('x'), content);
      await expect(store.read('x')).rejects.toMatchObject({ code: 'CHECKPOINT_UNREADABLE', message: expect.stringContaining(store.fileOf('x')) });
    }
  });
});
