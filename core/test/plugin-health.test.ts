import { afterEach, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { Orchestrator } from '../src/orchestrator.js';
import { silentLogger, tempDir, until, writePlugin } from './helpers.js';

/**
 * A source that polls fine but tells healthCheck() it is degraded (log-file: a configured path
 * that is a folder, a FIFO or missing) must not show "healthy" while it reads nothing.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('plugin-reported health', () => {
  it('a running collector whose plugin reports degraded shows health "degraded", and healthy again when it recovers', async () => {
    const dir = tempDir('fabric-plugin-health-');
    dirs.push(dir);
    writePlugin(dir, 'fabric-plugin-half-blind', {
      body: `
  configSchema: { type: 'object', properties: {} },
  create() {
    return {
      async poll() { return { events: [], checkpoint: null }; },
      async healthCheck() {
        return globalThis.__halfBlindOk ? { status: 'healthy' } : { status: 'degraded', reason: '/var/log/app.log is a FIFO, not a regular file; not read' };
      },
    };
  },`,
    });
    const yaml = `state_dir: ./state
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
orchestrator: { collection_interval_seconds: 0.05, health_check_interval_seconds: 0.05 }
collectors:
  - id: blind
    plugin: fabric-plugin-half-blind
sink: { type: jsonl }
`;
    writeFileSync(join(dir, 'fabric.yaml'), yaml);
    const orch = await Orchestrator.create(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env });
    await orch.start();
    try {
      await until(() => orch.listCollectors()[0]?.health === 'degraded');
      expect(orch.listCollectors()[0]).toMatchObject({ id: 'blind', state: 'running', health: 'degraded' });
      (globalThis as { __halfBlindOk?: boolean }).__halfBlindOk = true;
      await until(() => orch.listCollectors()[0]?.health === 'healthy');
      expect(orch.listCollectors()[0]!.state).toBe('running');
    } finally {
      delete (globalThis as { __halfBlindOk?: boolean }).__halfBlindOk;
      await orch.stop();
    }
  });
});
