// Source isolation cost: the same source plugin run by the orchestrator inline (in the host
// thread) and in its own worker thread (the default), same process, same run, alternating
// rounds. Events/s and process CPU µs/event (worker threads' CPU included: it is process-wide)
// at the pipeline's default batch size (orchestrator.event_batch_size 100). Two pipelines:
//   transport: detection and correlation off, every event published (the boundary's cost shows most);
//   default:   the shipped pipeline (built-in Sigma rules, correlation), detections published.
// Plus /health latency while the plugin runs a 2 s synchronous loop in each poll, inline vs worker.
// Target (issue 17): worker >= 0.9 of inline events/s. Writes bench/results/isolation.json.
//
//   node bench/isolation/run.mjs [--events 200000] [--rounds 3]
//
// Needs a build (npx tsc -b): it runs core/dist.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../core/dist/config/load.js';
import { composeFabric } from '../../core/dist/compose/index.js';
import { buildAdminApp } from '../../core/dist/admin/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fromCore = createRequire(path.resolve(here, '../../core/package.json'));
const { default: pino } = await import(fromCore.resolve('pino'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const EVENTS = opt('--events', 200_000);
const ROUNDS = opt('--rounds', 3);

// sshd-like events of ~300 bytes; one in 50 is a failed password so the default pipeline detects something.
const SOURCE = `
export default {
  name: 'bench-source', version: '1.0.0', kind: 'source', apiVersion: '^1.0.0',
  configSchema: { type: 'object', properties: { total: { type: 'integer' }, busy_ms: { type: 'integer', default: 0 } } },
  create(config) {
    return {
      async poll({ checkpoint, maxEvents }) {
        if (config.busy_ms) { const end = Date.now() + config.busy_ms; while (Date.now() < end) {} }
        const n = checkpoint ? checkpoint.n : 0;
        const size = Math.max(0, Math.min(maxEvents, config.total - n));
        const events = new Array(size);
        for (let i = 0; i < size; i++) {
          const k = n + i;
          events[i] = {
            '@timestamp': new Date(1764547200000 + k).toISOString(),
            message: k % 50 === 0 ? 'Failed password for root from 45.33.' + (k % 250) + '.7 port ' + (1024 + (k % 60000)) + ' ssh2' : 'Accepted publickey for deploy from 10.0.' + (k % 250) + '.4 port ' + (1024 + (k % 60000)) + ' ssh2: RSA SHA256:' + k,
            host: { name: 'web-' + (k % 16) },
            process: { name: 'sshd', pid: 1000 + (k % 5000) },
            log: { file: { path: '/var/log/auth.log' } },
          };
        }
        return { events, checkpoint: { n: n + size }, hasMore: n + size < config.total };
      },
    };
  },
};
`;

function project() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fabric-bench-isolation-'));
  const pkg = path.join(dir, 'node_modules', 'bench-source');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name: 'bench-source', version: '1.0.0', type: 'module', main: 'index.js', reactiveFabric: { pluginApi: '^1.0.0', kind: 'source' } }),
  );
  writeFileSync(path.join(pkg, 'index.js'), SOURCE);
  return dir;
}

class CountingSink {
  type = 'bench';
  count = 0;
  async start() {}
  async write(events) {
    this.count += events.length;
  }
  async writeStatus() {}
  health() {
    return { state: 'ok', pending: 0 };
  }
  async close() {}
}

function yamlFor(mode, pipeline, config) {
  const transport = pipeline === 'transport';
  return `state_dir: ./state-${mode}-${pipeline}-${Math.random().toString(36).slice(2)}
detection: { enabled: ${!transport} }
correlation: { enabled: ${!transport} }
enrichment: { enabled: false }
pipeline: { publish: ${transport ? 'all' : 'detections'} }
orchestrator: { collection_interval_seconds: 0.01, interval_jitter: 0, event_deduplication_window_seconds: 0, health_check_interval_seconds: 5, isolation: ${mode} }
collectors:
  - id: bench
    plugin: bench-source
    config: ${JSON.stringify(config)}
`;
}

async function once(dir, mode, pipeline) {
  const sink = new CountingSink();
  const yaml = yamlFor(mode, pipeline, { total: EVENTS });
  const orch = await composeFabric(parseConfig(yaml, path.join(dir, 'fabric.yaml'), {}), { cwd: dir, logger: pino({ level: 'silent' }), env: {}, sink });
  const t = performance.now();
  const c = process.cpuUsage();
  await orch.start();
  for (;;) {
    const d = orch.getCollector('bench');
    if ((d?.metrics.eventsCollected ?? 0) >= EVENTS && (d?.metrics.inFlight ?? 1) === 0) break;
    if (d?.state === 'failed') throw new Error(`bench collector failed: ${d.lastError?.message}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (performance.now() - t) / 1000;
  const dc = process.cpuUsage(c);
  await orch.stop();
  return { eventsPerSecond: EVENTS / seconds, cpuMicrosPerEvent: (dc.user + dc.system) / EVENTS, published: sink.count };
}

/** /health latency while each poll of the plugin runs a 2 s synchronous loop. */
async function healthUnderBusyPlugin(dir, mode) {
  const yaml = yamlFor(mode, 'transport', { total: 1_000_000_000, busy_ms: 2000 }).replace(
    'health_check_interval_seconds: 5',
    'health_check_interval_seconds: 5, poll_timeout_seconds: 60',
  );
  const orch = await composeFabric(parseConfig(yaml.replace('isolation: worker', 'isolation: worker, unresponsive_after_seconds: 30'), path.join(dir, 'fabric.yaml'), {}), {
    cwd: dir,
    logger: pino({ level: 'silent' }),
    env: {},
    sink: new CountingSink(),
  });
  const app = await buildAdminApp(orch, {}, { logger: pino({ level: 'silent' }), token: 'bench-isolation-token-0123456789abcdef' });
  await orch.start();
  const times = [];
  const end = Date.now() + 6000;
  while (Date.now() < end) {
    const t = performance.now();
    await app.inject({ url: '/health' });
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
  await orch.stop();
  await app.close();
  times.sort((a, b) => a - b);
  return { samples: times.length, p50Ms: times[Math.floor(times.length / 2)], maxMs: times.at(-1) };
}

const dir = project();
const results = {};
try {
  for (const pipeline of ['transport', 'default']) {
    const runs = { inline: [], worker: [] };
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first so warm-up and machine noise do not favour one mode.
      const order = r % 2 === 0 ? ['inline', 'worker'] : ['worker', 'inline'];
      for (const mode of order) runs[mode].push(await once(dir, mode, pipeline));
    }
    const median = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const row = {};
    for (const mode of ['inline', 'worker'])
      row[mode] = { eventsPerSecond: Math.round(median(runs[mode], 'eventsPerSecond')), cpuMicrosPerEvent: +median(runs[mode], 'cpuMicrosPerEvent').toFixed(2), runs: runs[mode] };
    row.ratio = +(row.worker.eventsPerSecond / row.inline.eventsPerSecond).toFixed(3);
    results[pipeline] = row;
    console.log(
      `${pipeline.padEnd(9)} inline ${row.inline.eventsPerSecond.toLocaleString()} ev/s ${row.inline.cpuMicrosPerEvent} µs CPU/ev | worker ${row.worker.eventsPerSecond.toLocaleString()} ev/s ${row.worker.cpuMicrosPerEvent} µs CPU/ev | worker/inline ${row.ratio} (target >= 0.9${row.ratio >= 0.9 ? ', met' : ', MISSED'})`,
    );
  }
  const health = { inline: await healthUnderBusyPlugin(dir, 'inline'), worker: await healthUnderBusyPlugin(dir, 'worker') };
  results.healthWhilePluginBusy = health;
  console.log(
    `/health while the plugin loops 2 s per poll: inline p50 ${health.inline.p50Ms.toFixed(1)} ms max ${health.inline.maxMs.toFixed(0)} ms | worker p50 ${health.worker.p50Ms.toFixed(1)} ms max ${health.worker.maxMs.toFixed(0)} ms`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const out = path.join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(
  path.join(out, 'isolation.json'),
  JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: os.availableParallelism(), events: EVENTS, rounds: ROUNDS, batchSize: 100, ...results }, null, 2),
);
console.log(`wrote ${path.join(out, 'isolation.json')}`);
