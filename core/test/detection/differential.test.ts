import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DetectionEngine } from '../../src/detection/engine.js';
import { CompileSession } from '../../src/detection/sigma/context.js';
import { RuleRefusal } from '../../src/detection/sigma/errors.js';
import { LogsourceResolver } from '../../src/detection/sigma/logsource.js';
import { compileRule, parseDetection, type SigmaRule } from '../../src/detection/sigma/rule.js';
import { generateEvents, type Event } from './differential/generate.js';
import { ALLOWED, type Disagreement } from './differential/allowed.js';
import { datasets, repoRoot } from './helpers.js';

/**
 * Differential test of our Sigma evaluator against an independent one: pySigma + its SQLite
 * backend (PyPI, installed by scripts/ensure-pysigma.sh). Every SigmaHQ rule of
 * ../shared/datasets/sigmahq that both accept is judged on events generated from the rule itself
 * (positives and near-misses, differential/generate.ts). Events carry the Sigma field names and
 * rules are evaluated without a logsource mapping or gate, so this compares value and condition
 * semantics only. A disagreement fails the test unless differential/allowed.ts lists it with the
 * clause of the Sigma specification that decides it.
 */

const SIGMAHQ = path.join(datasets, 'sigmahq');
const MAPPING = { product: 'differential' };
/** Events per pool at most: bounds the pairs (and the run time) of the biggest folder. */
const MAX_POOL = 1500;

function ymlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...ymlFiles(full));
    else if (/\.ya?ml$/.test(e.name)) out.push(full);
  }
  return out;
}

interface Candidate {
  rule: SigmaRule;
  yaml: string;
  events: Event[];
  kinds: string[];
}

const tmp = mkdtempSync(path.join(tmpdir(), 'rf-differential-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Sigma semantics: differential test against pySigma + SQLite', () => {
  it('agrees with pySigma on every generated rule × event pair, except the listed spec differences', () => {
    // The independent evaluator; the script installs it when missing (never skipped).
    const python = execFileSync(path.join(repoRoot, 'scripts/ensure-pysigma.sh'), { encoding: 'utf8', timeout: 180_000, stdio: ['ignore', 'pipe', 'inherit'] }).trim();

    const files = ymlFiles(SIGMAHQ);
    const refused = new Map<string, number>();
    const candidates: Candidate[] = [];
    let documents = 0;
    let correlations = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const docs = parseAllDocuments(text);
      if (!Array.isArray(docs)) continue;
      const data = docs.map((d) => d.toJS() as Record<string, unknown> | null).filter((d): d is Record<string, unknown> => d !== null && typeof d === 'object');
      documents += data.length;
      if (data.some((d) => d.correlation !== undefined)) {
        correlations += data.length;
        continue;
      }
      if (data.length !== 1) {
        refused.set('rule collection', (refused.get('rule collection') ?? 0) + data.length);
        continue;
      }
      const d = data[0]!;
      const rule: SigmaRule = {
        file: path.relative(SIGMAHQ, file),
        title: String(d.title),
        id: String(d.id ?? file),
        level: 'medium',
        tags: [],
        logsource: MAPPING,
        detection: d.detection as Record<string, unknown>,
        builtin: false,
      };
      try {
        compileRule(rule, 0, new LogsourceResolver(new CompileSession(), [MAPPING]), new CompileSession());
      } catch (e) {
        if (!(e instanceof RuleRefusal)) throw e;
        refused.set(e.feature, (refused.get(e.feature) ?? 0) + 1);
        continue;
      }
      const { events, kinds } = generateEvents(rule.id, rule.detection, parseDetection(rule.detection));
      candidates.push({ rule, yaml: text, events, kinds });
    }

    // Pools: the rules of one folder (one logsource family) are judged on the events of all of
    // them — the other rules' positives are realistic near-misses, and the shared literal index
    // of the engine is exercised the way a real rule set uses it.
    const pools = new Map<string, { rules: number[]; events: Event[]; kinds: string[] }>();
    candidates.forEach((c, i) => {
      const dir = path.dirname(c.rule.file);
      let p = pools.get(dir);
      if (!p) pools.set(dir, (p = { rules: [], events: [], kinds: [] }));
      p.rules.push(i);
      p.events.push(...c.events);
      p.kinds.push(...c.kinds.map((k) => `${k} (of ${c.rule.file})`));
    });
    for (const p of pools.values()) {
      // Bound the pool: past MAX_POOL events, keep an even sample (every rule's own events stay in).
      if (p.events.length <= MAX_POOL) continue;
      const keep = new Set<number>();
      let offset = 0;
      for (const r of p.rules) {
        for (let j = 0; j < candidates[r]!.events.length; j++) if (j < 4) keep.add(offset + j);
        offset += candidates[r]!.events.length;
      }
      const step = p.events.length / (MAX_POOL - keep.size);
      for (let x = 0; x < p.events.length && keep.size < MAX_POOL; x += step) keep.add(Math.floor(x));
      const idx = [...keep].sort((a, b) => a - b);
      p.events = idx.map((j) => p.events[j]!);
      p.kinds = idx.map((j) => p.kinds[j]!);
    }

    // Our verdicts: one engine with every accepted rule, identity field mapping, no extractors.
    const engine = new DetectionEngine({ rules: candidates.map((c) => c.rule), logsources: [MAPPING], builtinExtractors: false });
    const ours = new Map<string, Set<number>[]>(); // pool → per event, matching rule indexes
    for (const [dir, p] of pools)
      ours.set(
        dir,
        p.events.map((e) => new Set(engine.evaluate({ ...e }, 'none') ?? [])),
      );

    // Theirs: every pool and rule in one Python process.
    const input = path.join(tmp, 'in.json');
    const output = path.join(tmp, 'out.json');
    writeFileSync(
      input,
      JSON.stringify({ pools: [...pools.values()].map((p) => ({ events: p.events, rules: p.rules.map((i) => ({ id: String(i), yaml: candidates[i]!.yaml })) })) }),
    );
    execFileSync(python, [path.join(repoRoot, 'core/test/detection/differential/pysigma_eval.py'), input, output], { timeout: 120_000, stdio: ['ignore', 'inherit', 'inherit'] });
    const theirs = JSON.parse(readFileSync(output, 'utf8')) as Record<string, { matches?: number[]; error?: string }>;

    let pairs = 0;
    let agreed = 0;
    const pyErrors = new Map<string, number>();
    const unexplained: Disagreement[] = [];
    const used = new Set<number>();
    const verdicts = { own: { matched: 0, notMatched: 0 }, ownPositives: { matched: 0, notMatched: 0 } };
    for (const [dir, p] of pools) {
      const ourSets = ours.get(dir)!;
      for (const i of p.rules) {
        const c = candidates[i]!;
        const t = theirs[String(i)];
        if (!t || t.matches === undefined) {
          const reason = (t?.error ?? 'no result').replace(/'[^']*'|"[^"]*"/g, '…').slice(0, 80);
          pyErrors.set(reason, (pyErrors.get(reason) ?? 0) + 1);
          continue;
        }
        const m = new Set(t.matches);
        p.events.forEach((event, j) => {
          pairs++;
          const o = ourSets[j]!.has(i);
          const kind = p.kinds[j]!;
          if (kind.endsWith(`(of ${c.rule.file})`)) {
            verdicts.own[o ? 'matched' : 'notMatched']++;
            if (kind.startsWith('positive')) verdicts.ownPositives[o ? 'matched' : 'notMatched']++;
          }
          if (o === m.has(j)) {
            agreed++;
            return;
          }
          const d: Disagreement = { file: c.rule.file, ruleId: c.rule.id, event, kind, ours: o, pysigma: m.has(j), detection: c.rule.detection };
          const k = ALLOWED.findIndex((a) => a.applies(d));
          if (k === -1) unexplained.push(d);
          else used.add(k);
        });
      }
    }

    const summary = {
      files: files.length,
      documents,
      correlations,
      candidates: candidates.length,
      refusedByUs: Object.fromEntries(refused),
      pySigmaCouldNotConvert: Object.fromEntries(pyErrors),
      pairs,
      agreed,
      agreement: pairs ? agreed / pairs : 0,
      allowedDisagreements: pairs - agreed - unexplained.length,
      ourVerdictsOnOwnEvents: verdicts,
      unexplained: unexplained.length,
    };
    console.log('differential:', JSON.stringify(summary, null, 1));
    expect(unexplained.slice(0, 20).map(({ detection: _d, ...rest }) => rest)).toEqual([]);
    // Every allowance still explains something: a fixed difference must leave the list.
    expect(ALLOWED.filter((_, k) => !used.has(k)).map((a) => a.reason)).toEqual([]);
    // Rules pySigma cannot convert are not compared: they must stay the exception.
    expect([...pyErrors.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5);
    // The comparison is broad, not a handful of rules: most of the folder takes part.
    expect(candidates.length).toBeGreaterThanOrEqual(1000);
    expect(pairs).toBeGreaterThanOrEqual(100_000);
    // The generated positives are mostly real positives (else the comparison would be hollow).
    expect(verdicts.ownPositives.matched / (verdicts.ownPositives.matched + verdicts.ownPositives.notMatched)).toBeGreaterThan(0.75);
  }, 240_000);
});
