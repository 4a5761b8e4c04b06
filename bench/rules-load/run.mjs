// Rule loading as `fabric scan` does it before reading a line: SigmaHQ's rules (the 1,078-rule
// sigmahq folder and the 75 Linux rules, --copies times) plus the built-ins.
//
//   baseline  the loader as it was: files read one after another, every file parsed (YAML) and
//             every rule compiled once to find refusals, then the whole set compiled again on the
//             main thread for the rule table (what scan did before its rule info came from data);
//   cold      loadDetection with an empty cache folder: files read, parsed and checked once, results
//             written to the cache;
//   warm      the same with that cache: parse results found by content hash, nothing re-parsed.
//
// Each variant runs in a fresh process (module caches would flatter a second run in the same
// one), --repeat times; the fastest wall time and its CPU time are kept (on a shared machine the
// slower runs measure the neighbours). Module imports (the CLI's start-up, the same for all) are
// timed apart; the compile each detection worker does (the same in all variants) is reported
// alongside. Writes bench/results/rules-load.json.
//
//   node bench/rules-load/run.mjs [--copies 2] [--repeat 3]
//
// Needs a build (npx tsc -b).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const datasets = path.resolve(repoRoot, '../shared/datasets');
const dist = path.join(repoRoot, 'core/dist/detection');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : args[i + 1];
};

const phase = opt('--phase', undefined);
if (phase) {
  await runPhase(phase, opt('--dirs', '').split(path.delimiter), opt('--cache', undefined));
  process.exit(0);
}

/** One measurement, in this (fresh) process; prints JSON. */
async function runPhase(which, dirs, cacheDir) {
  const i0 = performance.now();
  const { loadDetection, parseRuleText } = await import(path.join(dist, 'sigma/loader.js'));
  const { LogsourceResolver } = await import(path.join(dist, 'sigma/logsource.js'));
  const { CompileSession } = await import(path.join(dist, 'sigma/context.js'));
  const { DetectionEngine } = await import(path.join(dist, 'engine.js'));
  const { selectRules } = await import(path.join(dist, 'select.js'));
  const { DetectionConfigSchema } = await import(path.join(dist, 'config.js'));
  const { validateAgainstSchema } = await import(path.join(repoRoot, 'core/dist/plugins/validate.js'));
  const { attackFromTags } = await import(path.join(dist, 'sigma/attack.js'));
  const config = validateAgainstSchema(DetectionConfigSchema, {}).value;
  // Module imports are the CLI's start-up, paid whatever the loader does: timed apart.
  const import_ms = performance.now() - i0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let rules;
  let files = 0;
  let cached = 0;
  if (which === 'baseline') {
    const { readFile } = await import('node:fs/promises');
    const list = (d) =>
      readdirSync(d, { withFileTypes: true })
        .sort((a, b) => a.name.localeCompare(b.name))
        .flatMap((e) => (e.isDirectory() ? list(path.join(d, e.name)) : /\.ya?ml$/i.test(e.name) ? [path.join(d, e.name)] : []));
    const resolver = new LogsourceResolver(new CompileSession(), []);
    const loaded = [];
    for (const [i, d] of [path.join(repoRoot, 'core/rules'), ...dirs].entries()) {
      for (const f of list(d)) {
        files++;
        loaded.push(...parseRuleText(f, await readFile(f, 'utf8'), resolver, i === 0).rules);
      }
    }
    rules = selectRules(loaded, config).rules;
    new DetectionEngine({ rules }).info();
  } else {
    const { spec, loaded } = await loadDetection(config, repoRoot, { extraRules: dirs, structured: false, ...(cacheDir ? { cacheDir } : {}) });
    rules = spec.rules;
    files = loaded.files;
    cached = loaded.cached;
    rules.forEach((r) => attackFromTags(r.tags));
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  let compile;
  if (which === 'warm') {
    // What each worker does with the rule set (not part of the comparison: the same in every variant).
    const t = performance.now();
    new DetectionEngine({ rules });
    compile = performance.now() - t;
  }
  process.stdout.write(JSON.stringify({ files, rules: rules.length, cached, import_ms, wall_ms: wall, cpu_ms: (cpu.user + cpu.system) / 1000, worker_compile_ms: compile }) + '\n');
}

const copies = Number(opt('--copies', 2));
const repeat = Number(opt('--repeat', 3));
const work = mkdtempSync(path.join(tmpdir(), 'rf-bench-rules-'));
try {
  const dirs = [];
  for (let i = 0; i < copies; i++) {
    for (const name of ['sigmahq', 'sigma-rules']) {
      const to = path.join(work, `copy${i}`, name);
      mkdirSync(path.dirname(to), { recursive: true });
      cpSync(path.join(datasets, name), to, { recursive: true });
      dirs.push(to);
    }
  }
  const cache = path.join(work, 'cache');
  const run = (which, cacheDir) =>
    JSON.parse(
      execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--phase', which, '--dirs', dirs.join(path.delimiter), ...(cacheDir ? ['--cache', cacheDir] : [])], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      }).trim(),
    );
  const best = (which, before) => {
    let top;
    for (let i = 0; i < repeat; i++) {
      before?.();
      const r = run(which, which === 'baseline' ? undefined : cache);
      if (!top || r.wall_ms < top.wall_ms) top = r;
    }
    return top;
  };
  const load0 = loadavg()[0];
  const baseline = best('baseline');
  const cold = best('cold', () => rmSync(cache, { recursive: true, force: true }));
  const warm = best('warm');
  const ratio = (a, b) => Math.round((a / b) * 10) / 10;
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    load_average: [load0, loadavg()[0]],
    files: baseline.files,
    rules: baseline.rules,
    copies,
    repeat,
    baseline,
    cold,
    warm,
    speedup_cold_wall: ratio(baseline.wall_ms, cold.wall_ms),
    speedup_warm_wall: ratio(baseline.wall_ms, warm.wall_ms),
    speedup_warm_cpu: ratio(baseline.cpu_ms, warm.cpu_ms),
  };
  const f = (x) => `${Math.round(x.wall_ms)} ms wall, ${Math.round(x.cpu_ms)} ms CPU`;
  process.stdout.write(
    `rule loading, ${result.files} files → ${result.rules} rules (load average ${load0.toFixed(1)}):\n` +
      `  baseline (async reads, parse + compile twice): ${f(baseline)}\n` +
      `  cold cache (parse once, write the cache):     ${f(cold)}  ×${result.speedup_cold_wall}\n` +
      `  warm cache (content hash, no parse):          ${f(warm)}  ×${result.speedup_warm_wall} wall, ×${result.speedup_warm_cpu} CPU\n` +
      `  per-worker compile of the rule set (all variants): ${Math.round(warm.worker_compile_ms)} ms; module imports ${Math.round(warm.import_ms)} ms (not counted)\n`,
  );
  mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
  writeFileSync(path.join(repoRoot, 'bench/results/rules-load.json'), JSON.stringify(result, null, 2) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
