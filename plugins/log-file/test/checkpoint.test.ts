import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointSchemaErrors, type Checkpoint, type SourceInstance } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { hostConfig } from './config.js';

/** The checkpoint shape is declared (checkpointSchema) and enforced, so a wrong one is refused, not re-read from the start. */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(): Promise<{ dir: string; src: SourceInstance }> {
  const dir = mkdtempSync(join(tmpdir(), 'logfile-cp-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'app.log'), 'one\ntwo\n');
  const src = (await plugin.create(hostConfig({ paths: ['app.log'], format: 'plain' }), {
    collectorId: 'files',
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    stateDir: dir,
    signal: new AbortController().signal,
    configDir: dir,
  })) as SourceInstance;
  return { dir, src };
}

const poll = (src: SourceInstance, checkpoint: Checkpoint | undefined) => src.poll({ checkpoint, signal: new AbortController().signal, maxEvents: 10 });

describe('log-file checkpoint schema', () => {
  const wrong: Array<[unknown, string]> = [
    [{ files: [1, 2, 3] }, '/files'],
    ['garbage', '/'],
    [null, '/'],
    [{ files: { '/var/log/app.log': { dev: 1, ino: 2, offset: '12' } } }, '/files/~1var~1log~1app.log/offset'],
    [{ files: { '/x': { dev: 1, ino: 2, offset: -5 } } }, '/files/~1x/offset'],
  ];

  it('rejects wrong shapes, naming the field', () => {
    for (const [value, path] of wrong) {
      const errors = checkpointSchemaErrors(plugin.checkpointSchema, value as Checkpoint);
      expect(
        errors.map((e) => e.path),
        JSON.stringify(value),
      ).toContain(path);
    }
  });

  it('accepts every checkpoint poll() writes', async () => {
    const { src } = await setup();
    const r = await poll(src, undefined);
    expect(r.events).toHaveLength(2);
    expect(checkpointSchemaErrors(plugin.checkpointSchema, JSON.parse(JSON.stringify(r.checkpoint)))).toEqual([]);
  });

  it('poll() refuses a wrong checkpoint with BAD_CONFIG instead of re-reading the file', async () => {
    const { src } = await setup();
    for (const [value, path] of wrong) {
      await expect(poll(src, value as Checkpoint), JSON.stringify(value)).rejects.toMatchObject({ code: 'BAD_CONFIG', message: expect.stringContaining(path) });
    }
    const first = await poll(src, undefined);
    expect((await poll(src, first.checkpoint)).events).toHaveLength(0);
  });
});
