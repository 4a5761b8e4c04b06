// Cost of events that stall a detection worker: batches of 2,000 failed-login events with 0, 1 or 3
// events that make a user extractor's JavaScript regex backtrack (Sigma |re rules run on RE2 and
// cannot stall; extractor patterns are the one place left). Reports per batch the wall time, the
// signals that arrived and the events skipped, then the time of a clean batch right after.
// Writes bench/results/detect-stall.json.
//
//   node bench/detect/stall.mjs [--timeout 1000] [--workers 2]
//
// Needs a build (npx tsc -b): workers run dist/.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createDetectionStage } from '@reactive-fabric/core/runtime';

const here = path.dirname(fileURLToPath(import.meta.url));
// pino and prom-client are core's dependencies, not the bench's: resolve them from core.
const fromCore = createRequire(path.resolve(here, '../../core/package.json'));
const pino = fromCore('pino');
const { Registry } = fromCore('prom-client');
const repoRoot = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const timeout = opt('--timeout', 1000);
const workers = opt('--workers', 2);

const config = {
  enabled: true,
  builtin_rules: true,
  rules: [],
  disabled_rules: [],
  overrides: {},
  logsources: [],
  builtin_extractors: true,
  extractors: [{ name: 'evil_extractor', type: 'regex', patterns: [{ regex: '^(?<app__x>(a+)+)$' }] }],
  pool_size: workers,
  batch_size: 2000,
  max_queue: 64,
  max_line_bytes: 65536,
  task_timeout_ms: timeout,
};
let seq = 0;
const event = (message) => ({
  '@timestamp': '2026-11-27T10:00:00.000Z',
  message,
  event: { id: `e${++seq}`, original: `Dec 10 06:55:48 LabSZ sshd[24200]: ${message}` },
  host: { name: 'LabSZ' },
  process: { name: 'sshd', pid: 24200 },
  fabric: { collector: 'auth', plugin: 'bench', fingerprint: `f${seq}`, schema_version: '1' },
});
const batch = (evil) => {
  const b = Array.from({ length: 2000 }, (_, i) => event(`Failed password for invalid user u${i} from 198.51.100.${i % 250} port ${40000 + i} ssh2`));
  for (let k = 0; k < evil; k++) b[Math.floor(((k + 0.5) * b.length) / evil)] = event('a'.repeat(40) + '!');
  return b;
};

const stage = await createDetectionStage(config, { logger: pino({ level: 'silent' }), metrics: new Registry(), configDir: repoRoot });
await stage.process(batch(0)); // start and warm the workers
const rows = [];
for (const evil of [0, 1, 3]) {
  const b = batch(evil);
  const t0 = performance.now();
  const out = await stage.process(b);
  const ms = performance.now() - t0;
  const t1 = performance.now();
  await stage.process(batch(0));
  const nextMs = performance.now() - t1;
  const row = {
    evil_events: evil,
    batch_ms: Math.round(ms),
    signals: out.filter((e) => e.rule?.name === 'rf_failed_authentication').length,
    expected_signals: 2000 - evil,
    skipped: out.filter((e) => e.fabric?.detection?.skipped).length,
    next_clean_batch_ms: Math.round(nextMs),
  };
  rows.push(row);
  console.log(
    `${evil} stalling event(s): batch ${row.batch_ms} ms, ${row.signals}/${row.expected_signals} signals, ${row.skipped} skipped; next clean batch ${row.next_clean_batch_ms} ms (task_timeout_ms ${timeout}, ${workers} workers)`,
  );
}
await stage.stop();
mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(repoRoot, 'bench/results/detect-stall.json'),
  JSON.stringify({ bench: 'detect-stall', date: new Date().toISOString(), node: process.version, task_timeout_ms: timeout, workers, rows }, null, 2) + '\n',
);
