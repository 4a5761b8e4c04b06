#!/usr/bin/env node
// `npm test`: install, build, start the services the tests need (a real Kafka broker, a real
// OpenSearch node), run every vitest suite, stop the services, and print one closing line
// "N passed, N failed" (vitest does not print that line itself). Extra args go to vitest:
//   npm test -- core/test/pipeline
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

const jsonOut = join(resultsDir, 'vitest.json');
const vitestCode = step('vitest', () => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonOut}`, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, FABRIC_TEST_ROOT: root },
  });
  return r.status ?? 1;
});

stopServices();

function stopServices() {
  for (const s of [...services].reverse()) spawnSync(process.execPath, [join(root, s), 'stop'], { cwd: root, stdio: 'inherit' });
}

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(jsonOut, 'utf8'));
  passed = report.numPassedTests ?? 0;
  // A file that failed outside any test (an import error, a failing beforeAll) counts once.
  failed = (report.numFailedTests ?? 0) + (report.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
} catch {
  failed = Math.max(1, failed);
}
if (vitestCode !== 0 && failed === 0) failed = 1; // a crash outside any test still fails the run
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(vitestCode === 0 && failed === 0 ? 0 : 1);
