// Detection throughput on real loghub lines: (a) the compiled engine in a tight loop on the main
// thread, (b) the Piscina pool with 1 worker, (c) with 2 workers — for the built-in rules and for
// the built-ins plus every loadable SigmaHQ Linux rule. Writes bench/results/detect.json.
//
//   node bench/detect/run.mjs [--lines 1000000] [--batch 20000] [--fields] [--repeat 3]
//
// Each measurement runs --repeat times and keeps the fastest (wall clock): on a shared machine the
// slower runs measure the neighbours. CPU-seconds of the whole process are reported alongside.
//
// Needs a build (npx tsc -b): workers run dist/.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import { loadRules, DetectionEngine, DetectionPool } from '@reactive-fabric/core/runtime';
import { nodeFlags, runWithNodeFlags } from '../node-flags.mjs';

runWithNodeFlags();

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const datasets = path.resolve(repoRoot, '../shared/datasets');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const targetLines = opt('--lines', 1_000_000);
const batchLines = opt('--batch', 20_000);
const withFields = args.includes('--fields');
const repeat = opt('--repeat', 3);

async function best(measure) {
  let top;
  for (let i = 0; i < repeat; i++) {
    const r = await measure();
    if (!top || r.seconds < top.seconds) top = { ...r, peak_rss_mb: Math.max(r.peak_rss_mb, top?.peak_rss_mb ?? 0) };
    else top.peak_rss_mb = Math.max(top.peak_rss_mb, r.peak_rss_mb);
  }
  return top;
}

const source = ['OpenSSH_2k.log', 'Linux_2k.log'].flatMap((f) => readFileSync(path.join(datasets, 'loghub', f), 'utf8').split('\n')).filter((l) => l.length > 0);
const lines = [];
while (lines.length < targetLines) lines.push(...source.slice(0, targetLines - lines.length));
const batches = [];
for (let i = 0; i < lines.length; i += batchLines) batches.push(lines.slice(i, i + batchLines).join('\n'));
const bytes = batches.reduce((n, b) => n + b.length, 0);

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return () => {
    clearInterval(t);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

function countHits(results) {
  let hits = 0;
  let n = 0;
  for (const r of results) {
    if (!r.hits) throw new Error('bad result ' + JSON.stringify(r).slice(0, 300));
    hits += r.hits.length / 2;
    n += r.lines;
  }
  return { hits, lines: n };
}

/** Process CPU time (all threads) next to wall time: on a shared machine wall time alone hides contention. */
function clock() {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const l0 = loadavg()[0];
  return () => {
    const c = process.cpuUsage(c0);
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpu_seconds: (c.user + c.system) / 1e6, load1: +((l0 + loadavg()[0]) / 2).toFixed(1) };
  };
}

/** The reference the issue quotes: six plain regexes over the same lines, one core, no extraction. */
function measureBareOnce() {
  const res = [/Failed password/, /Invalid user/, /authentication failure/, /Accepted password/, /sudo:/, /POSSIBLE BREAK-IN/];
  const src = lines.slice(0, 200_000);
  let h = 0;
  for (const l of src.slice(0, 20_000)) for (const r of res) if (r.test(l)) h++;
  const stop = clock();
  for (let k = 0; k < 5; k++) for (const l of src) for (const r of res) if (r.test(l)) h++;
  const t = stop();
  return { lines: src.length * 5, ...t, hits: h };
}

async function measureLoop(spec) {
  const engine = new DetectionEngine(spec);
  for (const b of batches.slice(0, 3)) engine.scanText(b, withFields); // warm-up (JIT)
  globalThis.gc?.();
  const stop = rssSampler();
  const time = clock();
  const results = batches.map((b) => engine.scanText(b, withFields));
  const t = time();
  const rss = stop();
  return { ...t, ...countHits(results), peak_rss_mb: rss / 1048576 };
}

async function measurePool(spec, threads) {
  const pool = new DetectionPool({ spec, threads, maxQueue: threads * 2, taskTimeoutMs: 60_000 });
  await Promise.all(batches.slice(0, threads * 3).map((b) => pool.scanText(b, withFields))); // start + warm workers
  globalThis.gc?.();
  const stop = rssSampler();
  const time = clock();
  const pending = [];
  for (const b of batches) {
    if (pool.needsDrain) await pool.drain();
    pending.push(pool.scanText(b, withFields));
  }
  const results = await Promise.all(pending);
  const t = time();
  const rss = stop();
  await pool.close();
  return { ...t, ...countHits(results), peak_rss_mb: rss / 1048576 };
}

const builtin = await loadRules([], { builtin: true });
const sigma = await loadRules([path.join(datasets, 'sigma-rules/rules')]);
const sets = [
  { name: 'builtin', rules: builtin.rules },
  { name: 'builtin+sigmahq', rules: [...builtin.rules, ...sigma.rules] },
];

const out = {
  bench: 'detect',
  date: new Date().toISOString(),
  node_flags: nodeFlags(),
  node: process.version,
  cpus: availableParallelism(),
  lines: lines.length,
  mb: +(bytes / 1048576).toFixed(1),
  batch_lines: batchLines,
  return_fields: withFields,
  repeat,
  sigmahq: { files: sigma.files, loaded: sigma.rules.length, refused: sigma.refusals.length },
  results: [],
};
let bare = measureBareOnce();
for (let i = 1; i < repeat; i++) {
  const r = measureBareOnce();
  if (r.seconds < bare.seconds) bare = r;
}
out.bare_six_regex_loop = { lines_per_s: Math.round(bare.lines / bare.seconds), lines_per_cpu_s: Math.round(bare.lines / bare.cpu_seconds), load1: bare.load1 };
console.log(
  `detect bench: ${lines.length} lines (${out.mb} MB) of loghub OpenSSH+Linux, batches of ${batchLines}, ${out.cpus} cpus, fields ${withFields ? 'returned' : 'not returned'}`,
);
console.log(
  `reference: bare loop of six regexes ${out.bare_six_regex_loop.lines_per_s.toLocaleString('en-US')} lines/s (${out.bare_six_regex_loop.lines_per_cpu_s.toLocaleString('en-US')} per CPU-second), load avg ${bare.load1}`,
);
for (const set of sets) {
  const spec = { rules: set.rules };
  const a = await best(() => measureLoop(spec));
  const b = await best(() => measurePool(spec, 1));
  const c = await best(() => measurePool(spec, 2));
  if (a.hits !== b.hits || a.hits !== c.hits) throw new Error(`hit counts differ: loop ${a.hits}, 1 worker ${b.hits}, 2 workers ${c.hits}`);
  const lps = (r) => Math.round(r.lines / r.seconds);
  const cps = (r) => Math.round(r.lines / r.cpu_seconds);
  const row = {
    rules: set.name,
    rule_count: set.rules.length,
    hits: a.hits,
    a_loop_lines_per_s: lps(a),
    b_pool1_lines_per_s: lps(b),
    c_pool2_lines_per_s: lps(c),
    c_over_a: +(lps(c) / lps(a)).toFixed(2),
    lines_per_cpu_s: { a: cps(a), b: cps(b), c: cps(c) },
    load1: { a: a.load1, b: b.load1, c: c.load1 },
    peak_rss_mb: { a: Math.round(a.peak_rss_mb), b: Math.round(b.peak_rss_mb), c: Math.round(c.peak_rss_mb) },
  };
  out.results.push(row);
  console.log(
    `${set.name.padEnd(16)} ${String(set.rules.length).padStart(3)} rules  (a) loop ${row.a_loop_lines_per_s.toLocaleString('en-US')}/s  ` +
      `(b) 1 worker ${row.b_pool1_lines_per_s.toLocaleString('en-US')}/s  (c) 2 workers ${row.c_pool2_lines_per_s.toLocaleString('en-US')}/s  ` +
      `(c)/(a) ${row.c_over_a}  peak RSS ${row.peak_rss_mb.a}/${row.peak_rss_mb.b}/${row.peak_rss_mb.c} MB  hits ${row.hits}`,
  );
  console.log(
    `${''.padEnd(16)}     per CPU-second (all threads): (a) ${row.lines_per_cpu_s.a.toLocaleString('en-US')}  (b) ${row.lines_per_cpu_s.b.toLocaleString('en-US')}  (c) ${row.lines_per_cpu_s.c.toLocaleString('en-US')}  load avg ${row.load1.a}/${row.load1.b}/${row.load1.c}`,
  );
}
mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
const file = path.join(repoRoot, 'bench/results', withFields ? 'detect-fields.json' : 'detect.json');
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${path.relative(repoRoot, file)}`);
