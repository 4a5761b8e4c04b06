// An in-memory FabricHost with N registered collectors, enough for the read routes the benchmark
// drives (GET /collectors, GET /collectors/:id). Shapes match the orchestrator's.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fromCore = createRequire(path.resolve(here, '../../core/package.json'));
const { Registry } = await import(fromCore.resolve('prom-client'));

const STATES = ['running', 'running', 'running', 'degraded', 'paused', 'stopped', 'failed'];
const PLUGINS = [
  ['@reactive-fabric/plugin-log-file', 'file'],
  ['@reactive-fabric/plugin-log-elasticsearch', 'elasticsearch'],
  ['@reactive-fabric/plugin-log-splunk', 'splunk'],
  ['@reactive-fabric/plugin-ti-otx', 'otx'],
];

export function benchHost(count) {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const details = new Map();
  for (let i = 0; i < count; i++) {
    const [plugin, backend] = PLUGINS[i % PLUGINS.length];
    const state = STATES[i % STATES.length];
    const id = `collector-${String(i).padStart(3, '0')}`;
    const since = new Date(t0 + i * 1000).toISOString();
    details.set(id, {
      id,
      plugin,
      pluginVersion: '0.1.0',
      kind: backend === 'otx' ? 'enricher' : 'source',
      state,
      since,
      health: state === 'running' ? 'healthy' : state === 'degraded' ? 'degraded' : state === 'failed' ? 'unhealthy' : 'unknown',
      description: { backend, target: backend === 'file' ? `/var/log/host-${i}/auth.log` : `https://${backend}-${i}.internal:9200`, index: 'logs-*' },
      metrics: {
        eventsCollected: 1000 + i,
        eventsPublished: 990 + i,
        eventsDeduplicated: 10,
        polls: 50,
        pollErrors: i % 3,
        restarts: i % 2,
        lastPollAt: since,
        lastSuccessAt: since,
        inFlight: 0,
      },
      ...(state === 'failed' || state === 'degraded'
        ? { lastError: { code: 'UNAVAILABLE', message: `${backend}-${i}.internal answered 503`, retriable: true, count: 3, since } }
        : {}),
      checkpoint: { value: { files: { [`/var/log/host-${i}/auth.log`]: { dev: 2049, ino: 1000 + i, offset: 4096 * i } } }, updatedAt: since },
      restartCount: i % 2,
    });
  }
  const summaries = () => [...details.values()].map(({ id, plugin, pluginVersion, kind, state, since, health }) => ({ id, plugin, pluginVersion, kind, state, since, health }));
  return {
    events: new EventEmitter(),
    metrics: new Registry(),
    listCollectors: summaries,
    getCollector: (id) => details.get(id),
    machine: () => undefined,
    transitions: () => undefined,
    command: async (_id, _cmd) => ({ ok: false, state: 'running', reason: 'benchmark host' }),
    getCheckpoint: async (id) => details.get(id)?.checkpoint,
    setCheckpoint: async () => {
      throw new Error('benchmark host');
    },
    resetCheckpoint: async () => {
      throw new Error('benchmark host');
    },
    plugins: async () => [],
    validatePluginConfig: async () => [],
    readiness: async () => ({ ready: true, checks: {} }),
    stats: async () => ({}),
    listFalsePositives: async () => [],
    markFalsePositive: async () => {
      throw new Error('benchmark host');
    },
    unmarkFalsePositive: async () => false,
  };
}
