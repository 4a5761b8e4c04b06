// Correlation stage throughput and memory: N detections over K distinct source addresses through
// the stage with the built-in rules, against a baseline loop that only groups the same detections
// into a Map, in the same process and run, and a reference loop of the two counting rules in flat
// typed storage (reference.mjs) for how close correlation can get at all. Writes
// bench/results/correlate.json.
//
//   node --expose-gc bench/correlate/run.mjs [--detections 1000000] [--keys 100000] [--batch 1000]
//                                            [--max-keys N] [--disable rule,rule] [--no-checkpoints]
//
// Needs a build (npx tsc -b): it runs core/dist.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createCorrelationStage, CorrelationConfigSchema } from '../../core/dist/correlation/index.js';
import { validateAgainstSchema } from '../../core/dist/config/validate.js';
import { nodeFlags, runWithNodeFlags } from '../node-flags.mjs';
import { flatReference } from './reference.mjs';

runWithNodeFlags();

const here = path.dirname(fileURLToPath(import.meta.url));
// pino and prom-client are core's dependencies: take the very copies the stage uses.
const fromCore = createRequire(path.resolve(here, '../../core/package.json'));
const { default: pino } = await import(fromCore.resolve('pino'));
const { Registry } = await import(fromCore.resolve('prom-client'));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const DETECTIONS = opt('--detections', 1_000_000);
const KEYS = opt('--keys', 100_000);
const BATCH = opt('--batch', 1000);
/** Event time covered by the run: 1M detections in one hour is ~280/s, a busy SOC's auth feed. */
const SPAN_MS = opt('--span-minutes', 60) * 60_000;
/** 1% of addresses are attackers receiving 10% of the detections: bursts that fire brute force and spraying. */
const ATTACKERS = Math.max(1, Math.floor(KEYS / 100));
const T0 = Date.parse('2026-11-01T00:00:00Z');
/**
 * The stage runs with its default config unless --max-keys says otherwise. Groups alive at once are
 * about (timespan + lateness) of traffic per rule: ~63k for brute force and ~84k for spraying at
 * 1M detections/hour over 100k addresses, within the default 100k per rule; evictions are reported.
 */
const MAX_KEYS = opt('--max-keys', undefined);
/** --disable rule,rule: leave built-in rules out, to tell each rule's cost from the others' (diagnosis only). */
const DISABLED = args.includes('--disable') ? args[args.indexOf('--disable') + 1].split(',') : [];

// Deterministic PRNG (mulberry32): both loops see the very same detections.
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ipOf = (k) => `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
const USERS = ['root', 'admin', 'test', 'oracle', 'ubuntu', 'git', 'postgres', 'user', 'guest', 'pi'];

/** Batch b of the stream, generated on demand so the input never sits in memory all at once. */
function* batches() {
  const rand = rng(42);
  let n = 0;
  while (n < DETECTIONS) {
    const size = Math.min(BATCH, DETECTIONS - n);
    const batch = new Array(size);
    for (let i = 0; i < size; i++, n++) {
      const k = rand() < 0.1 ? Math.floor(rand() * ATTACKERS) : Math.floor(rand() * KEYS);
      // Up to 20 s out of order, well within the default 60 s lateness.
      const t = T0 + Math.floor((n / DETECTIONS) * SPAN_MS) - Math.floor(rand() * 20_000);
      const ok = rand() < 0.02;
      const rule = ok ? 'rf_successful_authentication' : 'rf_failed_authentication';
      batch[i] = {
        '@timestamp': new Date(t).toISOString(),
        message: ok ? 'Accepted password' : 'Failed password',
        event: { id: `d${n}`, kind: 'alert', severity: 21, category: ['authentication'], outcome: ok ? 'success' : 'failure' },
        source: { ip: ipOf(k) },
        user: { name: USERS[Math.floor(rand() * USERS.length)] },
        fabric: {
          collector: n % 2 ? 'auth-file' : 'elastic',
          plugin: 'bench',
          fingerprint: `f${n}`,
          schema_version: '2.0.0',
          alert_type: 'detection',
          matches: [{ id: rule, name: rule, title: rule, level: ok ? 'informational' : 'low', techniques: [], tactics: [] }],
        },
      };
    }
    yield batch;
  }
}

function gc() {
  if (globalThis.gc) {
    globalThis.gc();
    globalThis.gc();
  }
}

/** Heap still reachable after a full collection: what the structure itself keeps, without garbage. */
function retainedHeapMb() {
  gc();
  return +(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1);
}

async function measure(label, fn) {
  gc();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  let peakHeap = process.memoryUsage().heapUsed;
  let busyMs = 0;
  let cpuUs = 0;
  let count = 0;
  for (const batch of batches()) {
    const t = performance.now();
    const c = process.cpuUsage();
    await fn(batch);
    const dc = process.cpuUsage(c);
    cpuUs += dc.user + dc.system;
    busyMs += performance.now() - t;
    count += batch.length;
    // Sampled between batches: cheap, and memory only grows inside a batch by that batch's size.
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  }
  const r = {
    detections: count,
    seconds: +(busyMs / 1000).toFixed(3),
    detections_per_s: Math.round(count / (busyMs / 1000)),
    // The machine is shared: CPU time shows the work itself when other processes steal the cores.
    cpu_seconds: +(cpuUs / 1e6).toFixed(3),
    detections_per_cpu_s: Math.round(count / (cpuUs / 1e6)),
    rss_before_mb: +(rssBefore / 2 ** 20).toFixed(1),
    peak_rss_mb: +(peakRss / 2 ** 20).toFixed(1),
    peak_heap_used_mb: +(peakHeap / 2 ** 20).toFixed(1),
  };
  console.log(
    `${label.padEnd(10)} ${r.detections_per_s.toLocaleString('en')} detections/s (${r.detections_per_cpu_s.toLocaleString('en')}/CPU-s)  ${r.seconds}s  peak RSS ${r.peak_rss_mb} MB  peak heap ${r.peak_heap_used_mb} MB`,
  );
  return r;
}

// Baseline: what any correlation must at least do — bucket each detection by its group key.
let groups = new Map();
const baseline = await measure('baseline', async (batch) => {
  for (const e of batch) {
    if (e.fabric.alert_type !== 'detection') continue;
    const key = e.source.ip;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(e.event.id);
  }
});
const baselineKeys = groups.size;
baseline.retained_heap_mb_after_gc = retainedHeapMb();
groups = undefined;

/**
 * One pass of the stream through a fresh stage. With `checkpoints`, the stage is driven as the
 * pipeline drives it: acknowledge(ticket) after every batch (the sink acknowledged it), which writes
 * the state file every checkpoint_interval_seconds (default 5).
 */
async function runStage(label, { checkpoints }) {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'rf-bench-correlate-'));
  const metrics = new Registry();
  const { value: config } = validateAgainstSchema(CorrelationConfigSchema, { ...(MAX_KEYS ? { max_keys: MAX_KEYS } : {}), ...(DISABLED.length ? { disabled: DISABLED } : {}) });
  const stage = await createCorrelationStage(config, { logger: pino({ level: 'silent' }), metrics, stateDir, configDir: stateDir });
  let alerts = 0;
  const byRule = {};
  let seq = 0;
  const r = await measure(label, async (batch) => {
    const ticket = { seq: ++seq, collector: 'bench' };
    const out = await stage.process(batch, ticket);
    for (let i = batch.length; i < out.length; i++) {
      alerts++;
      byRule[out[i].fabric.rule.name] = (byRule[out[i].fabric.rule.name] ?? 0) + 1;
    }
    if (checkpoints) await stage.acknowledge(ticket);
  });
  r.retained_heap_mb_after_gc = retainedHeapMb();
  const metric = async (name) => (await metrics.getSingleMetric(name)?.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;
  const t = performance.now();
  await stage.stop();
  const finalCheckpointMs = performance.now() - t;
  // On disk: the base file and the journals of what changed since (state-file.ts).
  const checkpointBytes = readdirSync(stateDir)
    .filter((f) => f === config.state_file || (f.startsWith(`${config.state_file}.`) && f.endsWith('.journal')))
    .reduce((sum, f) => sum + statSync(path.join(stateDir, f)).size, 0);
  rmSync(stateDir, { recursive: true, force: true });
  Object.assign(r, {
    alerts,
    alerts_by_rule: byRule,
    groups_in_memory_at_end: await metric('fabric_correlation_keys'),
    evicted_keys: await metric('fabric_correlation_evicted_keys_total'),
    late_detections: await metric('fabric_correlation_late_detections_total'),
    final_checkpoint_ms: Math.round(finalCheckpointMs),
    checkpoint_bytes: checkpointBytes,
  });
  return { r, rules: stage.rules.map((x) => x.name), defs: stage.rules, config };
}

/**
 * One address hammering at 20 detections/s with the same two user names: spraying never fires, so
 * its group holds every detection of the last 11 minutes (~13k, capped by max_events_per_key 10k).
 * Each new detection must then cost linear, not quadratic, time in that group's size.
 */
async function floodOneGroup(n) {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'rf-bench-correlate-flood-'));
  const { value: config } = validateAgainstSchema(CorrelationConfigSchema, {});
  const stage = await createCorrelationStage(config, { logger: pino({ level: 'silent' }), metrics: new Registry(), stateDir, configDir: stateDir });
  const c = process.cpuUsage();
  const t0 = performance.now();
  let alerts = 0;
  for (let i = 0; i < n; i += BATCH) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + BATCH); k++) {
      batch.push({
        '@timestamp': new Date(T0 + k * 50).toISOString(),
        event: { id: `f${k}`, kind: 'alert' },
        source: { ip: '203.0.113.1' },
        user: { name: k % 2 ? 'root' : 'admin' },
        fabric: {
          collector: 'flood',
          plugin: 'bench',
          fingerprint: `f${k}`,
          schema_version: '2.0.0',
          alert_type: 'detection',
          matches: [{ id: 'rf_failed_authentication', name: 'rf_failed_authentication', level: 'low' }],
        },
      });
    }
    alerts += (await stage.process(batch, { seq: i / BATCH + 1, collector: 'flood' })).length - batch.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  const dc = process.cpuUsage(c);
  await stage.stop();
  rmSync(stateDir, { recursive: true, force: true });
  const r = { detections: n, seconds: +seconds.toFixed(3), detections_per_s: Math.round(n / seconds), detections_per_cpu_s: Math.round(n / ((dc.user + dc.system) / 1e6)), alerts };
  console.log(`flood      ${r.detections_per_s.toLocaleString('en')} detections/s (${r.detections_per_cpu_s.toLocaleString('en')}/CPU-s) into one group, ${alerts} alerts`);
  return r;
}

const pure = await runStage('stage', { checkpoints: false });
const correlated = pure.r;
const alerts = correlated.alerts;
const byRule = correlated.alerts_by_rule;
const checkpointBytes = correlated.checkpoint_bytes;
const withCheckpoints = args.includes('--no-checkpoints') ? undefined : (await runStage('stage+ckpt', { checkpoints: true })).r;
const flood = await floodOneGroup(Math.min(DETECTIONS, 100_000));

// Reference (not a target): the two counting built-ins in flat typed storage without the product's
// guarantees (reference.mjs), to show how much of the baseline's speed correlation can keep at all.
// Left out when rules are disabled: it would not count the same thing. Run last, so its memory
// does not add to the stage's peak RSS.
let reference;
if (DISABLED.length === 0) {
  const flat = flatReference({ maxKeys: pure.config.max_keys, allowedLatenessMs: pure.config.allowed_lateness_seconds * 1000, rules: pure.defs });
  reference = await measure('reference', async (batch) => flat.process(batch));
  reference.alerts_by_rule = flat.alerts();
  reference.dropped_by_slot_cap = flat.dropped();
  reference.groups_in_memory_at_end = flat.groups();
}

const result = {
  benchmark: 'correlate',
  date: new Date().toISOString(),
  node_flags: nodeFlags(),
  node: process.version,
  cpus: os.cpus().length,
  params: {
    detections: DETECTIONS,
    distinct_keys: KEYS,
    attacker_keys: ATTACKERS,
    batch: BATCH,
    event_time_span_minutes: SPAN_MS / 60_000,
    rules: pure.rules,
    disabled: DISABLED,
    max_keys: pure.config.max_keys,
  },
  baseline: { ...baseline, groups: baselineKeys },
  stage: correlated,
  ...(withCheckpoints ? { stage_with_pipeline_checkpoints: withCheckpoints } : {}),
  single_group_flood: flood,
  ...(reference ? { reference_flat_two_rule_loop: reference, ratio_reference_vs_baseline_throughput: +(reference.detections_per_s / baseline.detections_per_s).toFixed(4) } : {}),
  ratio_stage_vs_baseline_throughput: +(correlated.detections_per_s / baseline.detections_per_s).toFixed(4),
  ratio_stage_vs_baseline_cpu: +(correlated.detections_per_cpu_s / baseline.detections_per_cpu_s).toFixed(4),
  note: 'Same detections, same process; baseline first, then the stage, then the stage driven like the pipeline (acknowledge(ticket) after every batch). RSS is sampled between batches and never shrinks much, so later phases start from the RSS earlier ones left; compare peak_heap_used_mb and retained_heap_mb_after_gc for the memory each needs. The machine is shared: detections_per_cpu_s is the steadier figure.',
};
console.log(`retained heap after gc: baseline ${baseline.retained_heap_mb_after_gc} MB, stage ${correlated.retained_heap_mb_after_gc} MB`);
console.log(
  `stage/baseline throughput ratio: ${result.ratio_stage_vs_baseline_throughput} wall, ${result.ratio_stage_vs_baseline_cpu} CPU (${alerts} alerts: ${JSON.stringify(byRule)}; evicted ${correlated.evicted_keys}; final checkpoint ${correlated.final_checkpoint_ms} ms, ${(checkpointBytes / 2 ** 20).toFixed(1)} MB)`,
);
if (reference) {
  console.log(
    `reference: flat two-rule loop without the stage's guarantees ${reference.detections_per_s.toLocaleString('en')} detections/s, ratio to baseline ${result.ratio_reference_vs_baseline_throughput} wall; stage/reference ${(correlated.detections_per_s / reference.detections_per_s).toFixed(3)} (alerts ${JSON.stringify(reference.alerts_by_rule)}, dropped by its slot cap ${reference.dropped_by_slot_cap})`,
  );
}
mkdirSync(path.join(here, '../results'), { recursive: true });
writeFileSync(path.join(here, '../results/correlate.json'), JSON.stringify(result, null, 2) + '\n');
