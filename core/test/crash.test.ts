import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir, until } from './helpers.js';

const fabric = join(repoRoot, 'core/bin/fabric.js');
const LINES = 20_000;
const BATCH = 500;
const IN_FLIGHT = 2;

function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  return text.length === 0 ? 0 : text.split('\n').length - 1;
}

describe('crash safety (kill -9 mid-run)', () => {
  it('after a restart every event is in the sink; only unconfirmed batches repeat', async () => {
    const dir = tempDir('fabric-crash-');
    const log = join(dir, 'auth.log');
    writeFileSync(
      log,
      Array.from({ length: LINES }, (_, i) => `Dec 10 06:55:46 LabSZ sshd[${i}]: Failed password for user${i} from 10.1.${i >> 8}.${i & 255} port 22 ssh2`).join('\n') + '\n',
    );
    const config = join(dir, 'fabric.yaml');
    writeFileSync(
      config,
      [
        'state_dir: ./state',
        'log_level: warn',
        'detection: { enabled: false }',
        'orchestrator: { collection_interval_seconds: 0.05, event_batch_size: ' + BATCH + ' }',
        `pipeline: { max_in_flight_batches: ${IN_FLIGHT} }`,
        'collectors:',
        '  - id: auth',
        '    plugin: "@reactive-fabric/plugin-log-file"',
        '    config: { paths: [auth.log], format: syslog }',
      ].join('\n'),
    );
    const events = join(dir, 'state/events.jsonl');

    const child = spawn(process.execPath, [fabric, 'start', '-c', config], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await until(() => countLines(events) >= 4_000 || child.exitCode !== null, 30_000);
    expect(child.exitCode, stderr).toBeNull();
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const atCrash = countLines(events);
    expect(atCrash).toBeLessThan(LINES); // really killed mid-stream

    const rerun = spawnSync(process.execPath, [fabric, 'run', '--once', '-c', config], { cwd: repoRoot, encoding: 'utf8' });
    expect(rerun.status, rerun.stderr).toBe(0);

    const ids = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { event: { original: string } }).event.original);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const missing = LINES - counts.size;
    const duplicated = [...counts.values()].filter((n) => n > 1).length;
    console.log(`crash test: ${atCrash} events in the sink at kill -9, ${ids.length} after restart, ${missing} missing, ${duplicated} duplicated`);
    expect(missing).toBe(0);
    expect([...counts.values()].every((n) => n <= 2)).toBe(true);
    expect(duplicated).toBeLessThanOrEqual(IN_FLIGHT * BATCH);
  }, 60_000);
});
