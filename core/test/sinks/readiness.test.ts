import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { composeFabric } from '../../src/compose/index.js';
import { JsonlSink, type JsonlFile, type JsonlIo } from '../../src/sinks/jsonl.js';
import { silentLogger, tempDir, until, writePlugin } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Real files on a disk that can be made full: every write then fails with ENOSPC. */
class FillableDisk implements JsonlIo {
  full = false;
  refused = 0;
  async openAppend(path: string): Promise<JsonlFile> {
    const fh = await open(path, 'a');
    return {
      write: async (buf, off, len) => {
        if (this.full && ++this.refused) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return fh.write(buf, off, len);
      },
      datasync: () => fh.datasync(),
      stat: () => fh.stat(),
      truncate: (n) => fh.truncate(n),
      close: () => fh.close(),
    };
  }
}

describe('readiness follows the sink', () => {
  it('/ready is not ready (with the reason) while the jsonl sink is at ENOSPC, and ready again once it writes', async () => {
    const dir = tempDir('fabric-ready-');
    dirs.push(dir);
    // A source that has one more event at every poll.
    writePlugin(dir, 'fabric-plugin-counter', {
      body: `configSchema: { type: 'object' },\ncreate: () => { let n = 0; return { poll: async () => ({ events: [{ '@timestamp': new Date().toISOString(), message: 'tick ' + ++n }], checkpoint: { n } }) }; },`,
    });
    const config = join(dir, 'fabric.yaml');
    writeFileSync(
      config,
      [
        'state_dir: ./state',
        'detection: { enabled: false }',
        'orchestrator: { collection_interval_seconds: 0.05 }',
        'collectors:',
        '  - id: ticks',
        '    plugin: fabric-plugin-counter',
        '    config: {}',
      ].join('\n'),
    );
    const disk = new FillableDisk();
    const events = join(dir, 'state/events.jsonl');
    const sink = new JsonlSink({ events, status: join(dir, 'state/status.jsonl') }, true, { logger: silentLogger() }, disk);
    const orch = await composeFabric(loadConfig(config, {}), { cwd: dir, logger: silentLogger(), sink });
    await orch.start();
    try {
      const published = () => orch.snapshot().total.eventsPublished ?? 0;
      await until(() => published() >= 3);
      expect((await orch.readiness()).ready).toBe(true);

      disk.full = true;
      await until(() => disk.refused >= 2);
      const report = await orch.readiness();
      expect(report.ready).toBe(false);
      expect(report.checks.sink).toEqual({ ok: false, detail: `jsonl: down (ENOSPC at ${events})` });
      expect(orch.isHealthy()).toBe(false);

      disk.full = false;
      const before = published();
      await until(() => published() > before);
      expect((await orch.readiness()).ready).toBe(true);
      // What was accepted while the disk was full is in the file, whole.
      const lines = readFileSync(events, 'utf8').trim().split('\n');
      expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(lines.map((_, i) => `tick ${i + 1}`));
    } finally {
      await orch.stop();
    }
  });
});

describe('start-up', () => {
  it('removes temp files a killed run left in state_dir', async () => {
    const dir = tempDir('fabric-sweep-');
    dirs.push(dir);
    mkdirSync(join(dir, 'state'));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = join(dir, 'state', `.correlation-state.json.${deadPid}.a1b2.tmp`);
    writeFileSync(stale, '{"half":');
    const config = join(dir, 'fabric.yaml');
    writeFileSync(config, 'state_dir: ./state\ndetection: { enabled: false }\ncollectors: []\n');
    const orch = await composeFabric(loadConfig(config, {}), { cwd: dir, logger: silentLogger() });
    expect(existsSync(stale)).toBe(false);
    await orch.stop();
  });
});
