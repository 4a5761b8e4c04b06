#!/usr/bin/env node
// `npm start`: install, build, generate the sample logs, then run the quickstart config on the
// embedded sink, with a generator appending fresh traffic so events keep flowing. Ctrl+C stops
// both gracefully.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pnpm } from './pnpm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (pnpm(['install', '--frozen-lockfile', '--reporter=silent']) !== 0) process.exit(1);
if (pnpm(['exec', 'tsc', '-b']) !== 0) process.exit(1);
const gen = spawnSync(process.execPath, [join(root, 'scripts/generate-sample-logs.mjs')], { stdio: 'inherit' });
if (gen.status !== 0) process.exit(1);

const follow = spawn(process.execPath, [join(root, 'scripts/generate-sample-logs.mjs'), '--follow', '--seed', String(Date.now() % 100000)], { stdio: 'ignore' });
const config = process.argv[2] ?? 'examples/quickstart.yaml';
process.stdout.write(`\nevents go to ${join(root, '.fabric/events.jsonl')} — in another terminal: tail -f .fabric/events.jsonl\n\n`);
const fabric = spawn(process.execPath, [join(root, 'core/bin/fabric.js'), 'start', '-c', config], { stdio: 'inherit', cwd: root });
const forward = (sig) => () => fabric.kill(sig);
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));
fabric.on('exit', (code) => {
  follow.kill('SIGTERM');
  process.exit(code ?? 0);
});
