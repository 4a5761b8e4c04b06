#!/usr/bin/env node
// `npm start`: install, build, generate the sample logs, then run the quickstart config on the
// embedded sink, with a generator appending fresh traffic so events keep flowing. Ctrl+C stops
// both gracefully.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
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
const startedAt = Date.now();
// Its own process group: Ctrl+C in a terminal signals the whole foreground group, and fabric would
// get that SIGINT and the one forwarded below — two signals, which it takes as "exit now". Detached,
// it gets exactly the one we forward, however this script was signalled (terminal, timeout, systemd).
const fabric = spawn(process.execPath, [join(root, 'core/bin/fabric.js'), 'start', '-c', config], { stdio: 'inherit', cwd: root, detached: true });

// The admin API writes its URL to <state_dir>/admin-url once it listens (the quickstart config's
// state_dir is .fabric); print the dashboard's address then. Never the token: say where it is.
if (config === 'examples/quickstart.yaml') {
  const urlFile = join(root, '.fabric/admin-url');
  const poll = setInterval(() => {
    let url;
    try {
      if (statSync(urlFile).mtimeMs < startedAt - 1000) return;
      url = readFileSync(urlFile, 'utf8').trim();
    } catch {
      return;
    }
    clearInterval(poll);
    const where = process.env.FABRIC_ADMIN_TOKEN ? 'the value of $FABRIC_ADMIN_TOKEN' : 'the token in .fabric/admin-token (cat .fabric/admin-token)';
    process.stdout.write(`\ndashboard: ${url}/ui/ — log in with ${where}\n\n`);
  }, 250);
  poll.unref();
  setTimeout(() => clearInterval(poll), 120_000).unref();
}
const forward = (sig) => () => fabric.kill(sig);
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));
// If this script dies without a signal handler running (an uncaught error), fabric must not outlive it.
process.on('exit', () => {
  if (fabric.exitCode === null && fabric.signalCode === null) fabric.kill('SIGTERM');
});
fabric.on('exit', (code) => {
  follow.kill('SIGTERM');
  process.exit(code ?? 0);
});
