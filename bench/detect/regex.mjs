// Sigma |re cost: every |re pattern of the SigmaHQ sample (../shared/datasets/sigmahq) run over the
// loghub OpenSSH + Linux lines with RE2 (re2js, what rules use) and with V8's RegExp (what they used
// before), plus the catastrophic `^(a+)+$` on 40 a and a "!". Writes bench/results/detect-regex.json.
//
//   node bench/detect/regex.mjs [--lines 200000]
//
// Needs a build (npx tsc -b): imports core/dist.
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { compileSigmaRegex } from '../../core/dist/detection/sigma/regex.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// yaml is core's dependency, not the bench's: resolve it from core.
const { parse } = createRequire(path.resolve(here, '../../core/package.json'))('yaml');
const repoRoot = path.resolve(here, '../..');
const datasets = path.resolve(repoRoot, '../shared/datasets');
const args = process.argv.slice(2);
const i = args.indexOf('--lines');
const target = i === -1 ? 200_000 : Number(args[i + 1]);

function* walk(d) {
  for (const f of readdirSync(d)) {
    const p = path.join(d, f);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (/\.ya?ml$/.test(f)) yield p;
  }
}
const patterns = [];
for (const f of walk(path.join(datasets, 'sigmahq'))) {
  let doc;
  try {
    doc = parse(readFileSync(f, 'utf8'));
  } catch {
    continue;
  }
  const visit = (o) => {
    if (Array.isArray(o)) return o.forEach(visit);
    if (o && typeof o === 'object')
      for (const [k, v] of Object.entries(o)) {
        const mods = k.split('|');
        if (mods.includes('re')) for (const p of [v].flat()) patterns.push({ p: String(p), i: mods.includes('i'), m: mods.includes('m'), s: mods.includes('s') });
        else visit(v);
      }
  };
  visit(doc?.detection);
}
const src = ['OpenSSH_2k.log', 'Linux_2k.log'].flatMap((f) => readFileSync(path.join(datasets, 'loghub', f), 'utf8').split('\n')).filter(Boolean);
const lines = [];
while (lines.length < target) lines.push(...src.slice(0, target - lines.length));

const re2 = patterns.map((x) => compileSigmaRegex(x.p, x));
// The same patterns on V8, where V8 accepts them (it refuses (?i) and other PCRE syntax).
const v8 = [];
const re2Same = [];
patterns.forEach((x, k) => {
  try {
    v8.push(new RegExp(x.p, (x.i ? 'i' : '') + (x.m ? 'm' : '') + (x.s ? 's' : '')));
    re2Same.push(re2[k]);
  } catch {
    /* not valid in V8 */
  }
});
function run(res) {
  let hits = 0;
  for (const l of lines.slice(0, 5000)) for (const r of res) if (r.test(l)) hits++;
  const t0 = process.hrtime.bigint();
  hits = 0;
  for (const l of lines) for (const r of res) if (r.test(l)) hits++;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds: +s.toFixed(3), lines_per_s: Math.round(lines.length / s), pattern_tests_per_s: Math.round((lines.length * res.length) / s), hits };
}
const evil = 'a'.repeat(40) + '!';
const t0 = process.hrtime.bigint();
const verdict = compileSigmaRegex('^(a+)+$').test(evil);
const evilMs = Number(process.hrtime.bigint() - t0) / 1e6;
const out = {
  bench: 'detect-regex',
  date: new Date().toISOString(),
  node: process.version,
  lines: lines.length,
  patterns: patterns.length,
  v8_compilable: v8.length,
  re2: run(re2),
  v8_same_set: run(v8),
  re2_same_set: run(re2Same),
  catastrophic_40a_bang_ms: +evilMs.toFixed(3),
  catastrophic_verdict: verdict,
};
console.log(`${patterns.length} SigmaHQ |re patterns (${v8.length} valid in V8) over ${lines.length} loghub lines`);
console.log(`RE2 (all ${patterns.length}): ${out.re2.lines_per_s.toLocaleString('en-US')} lines/s, ${out.re2.pattern_tests_per_s.toLocaleString('en-US')} pattern tests/s`);
console.log(
  `V8 RegExp (${v8.length}): ${out.v8_same_set.lines_per_s.toLocaleString('en-US')} lines/s, ${out.v8_same_set.hits} hits; RE2 on the same ${v8.length}: ${out.re2_same_set.lines_per_s.toLocaleString('en-US')} lines/s, ${out.re2_same_set.hits} hits`,
);
console.log(`^(a+)+$ on 40 a + "!": ${verdict} in ${out.catastrophic_40a_bang_ms} ms (V8: effectively never)`);
mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(path.join(repoRoot, 'bench/results/detect-regex.json'), JSON.stringify(out, null, 2) + '\n');
