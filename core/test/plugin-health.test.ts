import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { repoRoot, silentLogger, tempDir, until, writePlugin } from './helpers.js';

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
        // The plugin runs in its own worker thread: the test talks to it through a file.
        return (await import('node:fs')).existsSync(process.env.HALF_BLIND_OK_FILE) ? { status: 'healthy' } : { status: 'degraded', reason: '/var/log/app.log is a FIFO, not a regular file; not read' };
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
    process.env.HALF_BLIND_OK_FILE = join(dir, 'ok');
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env });
    await orch.start();
    try {
      await until(() => orch.listCollectors()[0]?.health === 'degraded');
      expect(orch.listCollectors()[0]).toMatchObject({ id: 'blind', state: 'running', health: 'degraded' });
      writeFileSync(join(dir, 'ok'), '');
      await until(() => orch.listCollectors()[0]?.health === 'healthy');
      expect(orch.listCollectors()[0]!.state).toBe('running');
    } finally {
      await orch.stop();
    }
  });

  it('the real log-file plugin: a FIFO and a missing file among the paths make the running collector "degraded", the readable file is still read', async () => {
    const dir = tempDir('fabric-logfile-health-');
    dirs.push(dir);
    writeFileSync(join(dir, 'auth.log'), 'Dec 10 06:55:01 web1 sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2\n');
    execFileSync('mkfifo', [join(dir, 'pipe.log')]);
    const yaml = `state_dir: ./state
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
pipeline: { publish: all }
orchestrator: { collection_interval_seconds: 0.05, health_check_interval_seconds: 0.05 }
collectors:
  - id: files
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [pipe.log, missing.log, auth.log] }
sink: { type: jsonl }
`;
    writeFileSync(join(dir, 'fabric.yaml'), yaml);
    // The plugin is loaded from the workspace's node_modules (its dist/), as `fabric start` does.
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: repoRoot, logger: silentLogger(), env: process.env });
    await orch.start();
    try {
      await until(() => orch.listCollectors()[0]?.health === 'degraded' && (orch.getCollector('files')?.metrics.eventsPublished ?? 0) >= 1);
      expect(orch.listCollectors()[0]).toMatchObject({ id: 'files', state: 'running', health: 'degraded' });
    } finally {
      await orch.stop();
    }
    expect(readFileSync(join(dir, 'state', 'events.jsonl'), 'utf8')).toContain('Failed password for root');
  });
});
