import { onTestFinished } from 'vitest';
import { Collector, type CollectorTiming } from '../src/collectors/collector.js';
import type { MachinePolicy } from '../src/collectors/machine.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { FabricMetrics } from '../src/metrics/fabric-metrics.js';
import { FileCheckpointStore } from '../src/state/checkpoint-store.js';
import { Semaphore } from '../src/async/semaphore.js';
import type { PluginDefinition, SourceInstance } from '../src/plugin-api/index.js';
import type { LoadedPlugin } from '../src/plugins/loader.js';
import type { TransitionRecord } from '../src/host.js';
import { MemorySink, silentLogger, tempDir } from './helpers.js';

// Taken at load, before a test installs fake timers, so the clean-up's deadline is real time.
const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis;

export const fastTiming: CollectorTiming = {
  intervalMs: 1000,
  jitter: 0,
  batchSize: 100,
  pollTimeoutMs: 5000,
  stallAfterMs: 60_000,
  healthIntervalMs: 10_000,
  maxUncommittedBatches: 4,
};
export const testPolicy: MachinePolicy = {
  backoffMinMs: 1000,
  backoffMaxMs: 16_000,
  stableAfterMs: 60_000,
  intensity: 3,
  periodMs: 120_000,
  degradedAfterErrors: 3,
  restartDegradedAfterChecks: 2,
  autoRestartUnhealthy: true,
};

export function loadedPlugin(create: () => SourceInstance | Promise<SourceInstance>): LoadedPlugin {
  const definition: PluginDefinition = {
    name: 'test-plugin',
    version: '1.0.0',
    kind: 'source',
    apiVersion: '^1.0.0',
    configSchema: { type: 'object' } as never,
    create: create as never,
  };
  return { pkg: { name: 'test-plugin', version: '1.0.0', dir: '/', entry: '/', apiRange: '^1.0.0', kind: 'source', manifest: {} }, definition };
}

/** A collector over a memory sink, disposed of when the calling test finishes. */
export function harness(
  create: () => SourceInstance | Promise<SourceInstance>,
  over: { timing?: Partial<CollectorTiming>; policy?: Partial<MachinePolicy>; pipeline?: Partial<ConstructorParameters<typeof Pipeline>[0]>; sink?: MemorySink } = {},
) {
  const stateDir = tempDir();
  const metrics = new FabricMetrics();
  const sink = over.sink ?? new MemorySink();
  const logger = silentLogger();
  const pipeline = new Pipeline({ stages: [], sink, maxInFlightBatches: 4, maxBufferedEvents: 10_000, publish: 'all', minPriority: 'info', metrics, logger, ...over.pipeline });
  const checkpoints = new FileCheckpointStore(stateDir);
  const transitions: TransitionRecord[] = [];
  const collector = new Collector({
    id: 'c1',
    loaded: loadedPlugin(create),
    pluginConfig: {},
    secrets: ['s3cr3t-token'],
    timing: { ...fastTiming, ...over.timing },
    policy: { ...testPolicy, ...over.policy },
    pipeline,
    checkpoints,
    slots: new Semaphore(3),
    metrics,
    logger,
    stateDir,
    configDir: stateDir,
    hostSignal: new AbortController().signal,
    initialCheckpoint: { value: undefined },
    random: () => 0.5,
  });
  collector.onTransition((r) => transitions.push(r));
  onTestFinished(async () => {
    // Left running, it would go on polling into the next tests (on real timers once a test restores them).
    collector.dispose();
    // A checkpoint write on its way ends before tempDir removes the folder at the end of the file;
    // bounded, as a test may leave its sink blocked, and the commits with it.
    let deadline: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([collector.drained(), new Promise((r) => (deadline = realSetTimeout(r, 2_000)))]);
    realClearTimeout(deadline);
  });
  const states = () => transitions.map((t) => t.to);
  return { collector, sink, pipeline, checkpoints, metrics, transitions, states, stateDir };
}

export function events(n: number, from = 0, ts = '2026-01-01T00:00:00.000Z') {
  return Array.from({ length: n }, (_, i) => ({ '@timestamp': ts, message: `line ${from + i}`, event: { id: `e${from + i}` } }));
}
