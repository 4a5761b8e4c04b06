import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { afterAll } from 'vitest';
import type { FabricEvent } from '../src/plugin-api/index.js';
import type { CollectorStatusEvent, Sink, SinkHealth } from '../src/sinks/sink.js';
import { Pipeline, type PipelineOptions } from '../src/pipeline/pipeline.js';
import { FabricMetrics } from '../src/metrics/fabric-metrics.js';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const sharedDir = resolve(repoRoot, '../shared');

// Registered when a test file imports this module, before the file's own hooks, so it runs after
// them (after-hooks run in reverse): whatever uses a folder has been stopped when it is removed.
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

/** A new folder in the OS temp dir, removed when the test file is done. */
export function tempDir(prefix = 'fabric-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export const silentLogger = () => pino({ level: 'silent' });

/**
 * Write a plugin package into `<root>/node_modules/<name>`. The code is plain JS with no imports
 * (definePlugin is an identity function), so it loads whatever resolves modules.
 */
export function writePlugin(root: string, name: string, opts: { apiRange?: string; defApiRange?: string; kind?: string; body: string; version?: string }): void {
  const dir = join(root, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name,
      version: opts.version ?? '1.2.3',
      type: 'module',
      main: 'index.js',
      keywords: ['reactive-fabric-plugin'],
      reactiveFabric: { pluginApi: opts.apiRange ?? '^1.0.0', kind: opts.kind ?? 'source' },
    }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `export default { name: ${JSON.stringify(name)}, version: ${JSON.stringify(opts.version ?? '1.2.3')}, kind: ${JSON.stringify(opts.kind ?? 'source')}, apiVersion: ${JSON.stringify(opts.defApiRange ?? opts.apiRange ?? '^1.0.0')},\n${opts.body}\n};\n`,
  );
}

/** A sink held in memory whose acknowledgements a test can hold back. */
export class MemorySink implements Sink {
  readonly type = 'memory';
  readonly events: FabricEvent[] = [];
  readonly statuses: CollectorStatusEvent[] = [];
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  pending = 0;
  writes = 0;
  private writeWaiters: Array<{ n: number; resolve: () => void }> = [];

  block(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  unblock(): void {
    this.open();
    this.gate = Promise.resolve();
  }

  /** Resolves once write() has been called `n` times in all: the batch is at the sink, held back or not. */
  reached(n = 1): Promise<void> {
    if (this.writes >= n) return Promise.resolve();
    return new Promise((resolve) => this.writeWaiters.push({ n, resolve }));
  }

  async start(): Promise<void> {}

  async write(events: readonly FabricEvent[]): Promise<void> {
    this.pending += events.length;
    this.writes++;
    for (const w of this.writeWaiters.filter((w) => w.n <= this.writes)) w.resolve();
    this.writeWaiters = this.writeWaiters.filter((w) => w.n > this.writes);
    await this.gate;
    this.events.push(...events);
    this.pending -= events.length;
  }

  async writeStatus(status: CollectorStatusEvent): Promise<void> {
    this.statuses.push(status);
  }

  health(): SinkHealth {
    return { state: 'ok', pending: this.pending };
  }

  async close(): Promise<void> {}
}

/** Lets every promise that waits on neither I/O nor a timer settle (they all run before the next macrotask). */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 10): Promise<void> {
  const start = Date.now();
  while (!(await pred())) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * `fabric start -c <config>` from core/dist as a child process (build first), with its stderr
 * collected and its exit as a promise.
 */
export function startFabric(
  config: string,
  cwd: string,
): { child: import('node:child_process').ChildProcess; stderr(): string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [join(repoRoot, 'core/bin/fabric.js'), 'start', '-c', config], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, stderr: () => stderr, exited };
}

/** A pipeline with the tests' usual bounds (4 batches, 1,000 events), no stages, publishing everything from `info` up. */
export function testPipeline(opts: Partial<PipelineOptions> & Pick<PipelineOptions, 'sink'>): Pipeline {
  return new Pipeline({
    stages: [],
    maxInFlightBatches: 4,
    maxBufferedEvents: 1000,
    publish: 'all',
    minPriority: 'info',
    metrics: new FabricMetrics(),
    logger: silentLogger(),
    ...opts,
  });
}

/**
 * A config at `<dir>/fabric.yaml` reading `<dir>/logs/auth.log` (holding `lines`) with the log-file
 * plugin, on the embedded sink; `head` adds top-level settings (log level, admin, …).
 */
export function writeAuthLogConfig(dir: string, head: string[], lines: string[]): string {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  writeFileSync(join(dir, 'logs/auth.log'), `${lines.join('\n')}\n`);
  const config = join(dir, 'fabric.yaml');
  writeFileSync(
    config,
    [
      'state_dir: ./state',
      ...head,
      'sink: { type: jsonl }',
      'collectors:',
      '  - id: auth',
      '    plugin: "@reactive-fabric/plugin-log-file"',
      '    config: { base_dir: ./logs, paths: [auth.log], format: syslog }',
    ].join('\n'),
  );
  return config;
}
