// Enrichment stage throughput: N detections over K distinct public addresses (plus a URL and a
// private address on some) through the stage with two instant in-process enrichers, against a
// baseline loop in the same process and run that does the least any enrichment must do: read
// source.ip, look it up in a Map of verdicts, attach the answer. Reports the warm (cache-hit)
// pass and the cold first pass separately. Writes bench/results/enrichment.json.
//
//   node bench/enrichment/run.mjs [--detections 100000] [--keys 5000] [--batch 500]
//
// Needs a build (npx tsc -b): it runs core/dist.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createEnrichmentStage, resolveEnrichmentConfig } from '../../core/dist/enrichment/index.js';
import { nodeFlags, runWithNodeFlags } from '../node-flags.mjs';

runWithNodeFlags();

const here = path.dirname(fileURLToPath(import.meta.url));
const fromCore = createRequire(path.resolve(here, '../../core/package.json'));
const { default: pino } = await import(fromCore.resolve('pino'));
const { Registry } = await import(fromCore.resolve('prom-client'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const DETECTIONS = opt('--detections', 100_000);
const KEYS = opt('--keys', 5000);
const BATCH = opt('--batch', 500);

// Public-looking addresses outside every reserved range.
const ipOf = (k) => `45.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;

function* batches() {
  let n = 0;
  while (n < DETECTIONS) {
    const size = Math.min(BATCH, DETECTIONS - n);
    const batch = new Array(size);
    for (let i = 0; i < size; i++, n++) {
      const k = (n * 7919) % KEYS;
      batch[i] = {
        '@timestamp': '2026-11-27T10:00:00.000Z',
        event: { id: `d${n}`, kind: 'alert', severity: 47 },
        source: { ip: ipOf(k) },
        destination: { ip: '10.0.0.5' },
        ...(n % 10 === 0 ? { url: { original: `http://evil-${k % 100}.example-bad.net/x.sh` } } : {}),
        fabric: { collector: 'bench', plugin: 'bench', fingerprint: `f${n}`, schema_version: '2.0.0', alert_type: 'detection', priority: 'medium' },
      };
    }
    yield batch;
  }
}

function enricher(name, score) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    supports: ['ipv4', 'ipv6', 'domain', 'url', 'md5', 'sha1', 'sha256'],
    limits: { requestsPerMinute: 1_000_000, maxBatchSize: 100 },
    cacheKey: () => `${name}-key`,
    async lookup(indicators) {
      calls++;
      return indicators.map((indicator) => ({ indicator, status: score > 0.5 ? 'malicious' : 'clean', score, confidence: 0.8, evidence: { source: name } }));
    },
  };
}

async function pass(label, fn) {
  let count = 0;
  const t = performance.now();
  const c = process.cpuUsage();
  for (const batch of batches()) {
    await fn(batch);
    count += batch.length;
  }
  const seconds = (performance.now() - t) / 1000;
  const dc = process.cpuUsage(c);
  const cpu = (dc.user + dc.system) / 1e6;
  const r = { events: count, seconds: +seconds.toFixed(3), events_per_s: Math.round(count / seconds), cpu_seconds: +cpu.toFixed(3), events_per_cpu_s: Math.round(count / cpu) };
  // On a shared machine wall time swings with other load; CPU time is the steadier measure.
  process.stdout.write(`${label.padEnd(28)} ${String(r.events_per_s).padStart(9)} events/s  ${String(r.events_per_cpu_s).padStart(9)} events/CPU-s  (${r.seconds} s)\n`);
  return r;
}

// Baseline: the cheapest possible "enrichment" of the same events.
const verdicts = new Map();
const baseline = await pass('baseline (Map lookup)', async (batch) => {
  for (const e of batch) {
    const ip = e.source.ip;
    let v = verdicts.get(ip);
    if (!v) {
      v = { status: 'malicious', score: 0.9 };
      verdicts.set(ip, v);
    }
    e.fabric.reputation = { score: v.score, verdict: v.status };
  }
});

const stateDir = mkdtempSync(path.join(os.tmpdir(), 'fabric-bench-enrichment-'));
const a = enricher('vt', 0.9);
const b = enricher('abuse', 0.4);
const stage = await createEnrichmentStage(
  resolveEnrichmentConfig({ deadline_ms: 5000 }),
  [
    { id: 'vt', plugin: 'bench-vt', instance: a, config: {} },
    { id: 'abuse', plugin: 'bench-abuse', instance: b, config: {} },
  ],
  { logger: pino({ level: 'silent' }), metrics: new Registry(), stateDir, configDir: stateDir },
);
const cold = await pass('stage, first pass (cold)', (batch) => stage.process(batch));
const callsAfterCold = a.calls + b.calls;
const warm = await pass('stage, second pass (cached)', (batch) => stage.process(batch));
const callsWarm = a.calls + b.calls - callsAfterCold;
await stage.stop();
rmSync(stateDir, { recursive: true, force: true });

const ratio = +(warm.events_per_s / baseline.events_per_s).toFixed(3);
const cpuRatio = +(warm.events_per_cpu_s / baseline.events_per_cpu_s).toFixed(3);
process.stdout.write(`warm stage / baseline = ${ratio} wall, ${cpuRatio} CPU (lookup calls: cold ${callsAfterCold}, warm ${callsWarm})\n`);

const result = {
  benchmark: 'enrichment',
  date: new Date().toISOString(),
  node_flags: nodeFlags(),
  node: process.version,
  cpus: os.cpus().length,
  params: { detections: DETECTIONS, distinct_addresses: KEYS, batch: BATCH, enrichers: 2 },
  baseline,
  stage_cold: { ...cold, lookup_calls: callsAfterCold },
  stage_warm: { ...warm, lookup_calls: callsWarm },
  ratio_warm_to_baseline: ratio,
  ratio_warm_to_baseline_cpu: cpuRatio,
  load_average: os.loadavg().map((x) => +x.toFixed(2)),
};
const out = path.resolve(here, '../results/enrichment.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
