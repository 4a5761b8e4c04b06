#!/usr/bin/env node
// `npm test`: install, build, start the services the tests need (a real Kafka broker, a real
// OpenSearch node), run every vitest suite, stop the services, and print one closing line
// "N passed, N failed" (vitest does not print that line itself). Extra args go to vitest:
//   npm test -- core/test/pipeline
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pnpm } from './pnpm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const resultsDir = join(root, '.fabric-test');
mkdirSync(resultsDir, { recursive: true });

function step(name, fn) {
  const t = Date.now();
  process.stdout.write(`\n== ${name}\n`);
  const code = fn();
  process.stdout.write(`== ${name}: ${code === 0 ? 'ok' : `exit ${code}`} (${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
  return code;
}

if (step('install', () => pnpm(['install', '--frozen-lockfile', '--reporter=append-only'])) !== 0) process.exit(1);

// Services start in the background while TypeScript builds (the machine has 2 cores, but
// both JVMs spend most of their start-up waiting on I/O).
const services = ['scripts/kafka/broker.mjs', 'scripts/opensearch/node.mjs'].filter((s) => existsSync(join(root, s)));
const starting = services.map((s) => ({ s, p: spawn(process.execPath, [join(root, s), 'start'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] }) }));

if (step('build', () => pnpm(['exec', 'tsc', '-b'])) !== 0) {
  stopServices();
  process.exit(1);
}

for (const { s, p } of starting) {
  const code = await new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.on('exit', r)));
  process.stdout.write(`== service ${s}: ${code === 0 ? 'started' : `FAILED to start (exit ${code}); its tests will fail and say why`}\n`);
}

// FABRIC_TEST_NODES=current,22,24 runs the suite once per Node line (CI does: the product supports
// the current LTS lines, not only the machine's Node). Other lines come from the npm registry's `node`
// package; the services and the build (plain JavaScript) are shared by every run.
const lines = (process.env.FABRIC_TEST_NODES ?? 'current')
  .split(',')
  .map((l) => l.trim())
  .filter(Boolean);
const totals = { passed: 0, failed: 0, skipped: 0 };
// The cluster tests run three or four fabric processes each against the broker: beside the rest of
// the suite on 2 cores they starve its timing-sensitive tests (worker heartbeats, 3 s progress
// bounds). So a full run has two phases: everything else, then the cluster tests one file at a time.
// With arguments (`npm test -- <files>`), one run of exactly those.
const CLUSTER_TESTS = 'core/test/cluster/**';
const phases =
  args.length > 0
    ? [{ name: '', args }]
    : [
        { name: '', args: [`--exclude=${CLUSTER_TESTS}`] },
        { name: 'cluster', args: ['--maxWorkers=1', 'core/test/cluster/'] },
      ];
let vitestCode = 0;
for (const line of lines) {
  const node = nodeFor(line);
  const label = line === 'current' ? `node ${process.version}` : `node ${line}`;
  if (!node) {
    process.stdout.write(`== ${label}: no Node binary (npx -p node@${line} failed); counted as one failure\n`);
    totals.failed += 1;
    vitestCode = 1;
    continue;
  }
  for (const phase of phases) {
    const jsonOut = join(resultsDir, `vitest-${line}${phase.name ? `-${phase.name}` : ''}.json`);
    const code = step(`vitest (${label}${phase.name ? `, ${phase.name}` : ''}${node === process.execPath ? '' : `, ${node}`})`, () => {
      const r = spawnSync(node, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonOut}`, ...phase.args], {
        cwd: root,
        stdio: 'inherit',
        // Tests that spawn `node` or process.execPath get the same line as the runner.
        env: { ...process.env, FABRIC_TEST_ROOT: root, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}` },
      });
      return r.status ?? 1;
    });
    const counts = countsOf(jsonOut, code);
    process.stdout.write(
      `== ${label}${phase.name ? ` (${phase.name})` : ''}: ${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}\n`,
    );
    totals.passed += counts.passed;
    totals.failed += counts.failed;
    totals.skipped += counts.skipped;
    if (code !== 0) vitestCode = code;
  }
}

stopServices();

function stopServices() {
  for (const s of [...services].reverse()) spawnSync(process.execPath, [join(root, s), 'stop'], { cwd: root, stdio: 'inherit' });
}

function nodeFor(line) {
  if (line === 'current' || line === process.versions.node.split('.')[0]) return process.execPath;
  const r = spawnSync('npx', ['--yes', '-p', `node@${line}`, 'node', '-p', 'process.execPath'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = r.status === 0 ? r.stdout.trim().split('\n').pop() : '';
  return path && existsSync(path) ? path : undefined;
}

function countsOf(jsonOut, code) {
  const c = { passed: 0, failed: 0, skipped: 0 };
  try {
    const report = JSON.parse(readFileSync(jsonOut, 'utf8'));
    c.passed = report.numPassedTests ?? 0;
    // A file that failed outside any test (an import error, a failing beforeAll) counts once.
    c.failed =
      (report.numFailedTests ?? 0) + (report.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
    c.skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  } catch {
    c.failed = 1;
  }
  if (code !== 0 && c.failed === 0) c.failed = 1; // a crash outside any test still fails the run
  return c;
}

const { passed, failed, skipped } = totals;
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(vitestCode === 0 && failed === 0 ? 0 : 1);
