#!/usr/bin/env node
// `npm start`: install, build, generate the sample logs, then run the quickstart config on the
// embedded sink, with a generator appending fresh traffic so events keep flowing, and a short
// live line per detection. SIGINT/SIGTERM (Ctrl+C, `kill`, systemd) stop everything gracefully,
// at any moment: during the install or the build too.
//
//   node scripts/quickstart.mjs [config.yaml]     (default examples/quickstart.yaml)
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EventsFollower, Throttle, summarise } from './detection-summary.mjs';
import { pnpmAsync, pnpmHint, runAsync } from './pnpm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const configArg = process.argv[2] ?? 'examples/quickstart.yaml';
const config = isAbsolute(configArg) ? configArg : resolve(root, configArg);
const say = (line) => process.stdout.write(`${line}\n`);
const tty = process.stdout.isTTY === true;

/** What runs right now: an install or build step, then fabric. A signal goes to it. */
let current;
let fabric;
let signalled;

function onSignal(sig) {
  if (fabric) {
    // fabric takes a first signal as "stop gracefully", a second as "exit now".
    signalled = sig;
    if (fabric.exitCode === null && fabric.signalCode === null) fabric.kill(sig);
    return;
  }
  if (signalled) process.exit(130);
  signalled = sig;
  say(`\n${sig}: stopping`);
  current?.kill(sig);
  process.exit(sig === 'SIGINT' ? 130 : 143);
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
// `npm start` runs us through `sh -c`; a shell that does not pass SIGTERM on dies and leaves us
// re-parented. Losing the parent means the same as being told to stop.
// Only if no signal came first: the shell may have passed one on before it went.
const parent = process.ppid;
const orphanWatch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphanWatch);
  if (!signalled) onSignal('SIGTERM');
}, 1000).unref();
// If this script dies without a signal handler running (an uncaught error), fabric must not outlive it.
process.on('exit', () => {
  if (fabric && fabric.exitCode === null && fabric.signalCode === null) fabric.kill('SIGTERM');
});

const seconds = (since) => `${Math.round((Date.now() - since) / 1000)} s`;

/** One setup step with a progress line (ticking on a terminal); its output is shown only if it fails. */
async function step(label, run) {
  const at = Date.now();
  process.stdout.write(tty ? `${label}…` : `${label}…\n`);
  const ticker = tty ? setInterval(() => process.stdout.write(`\r${label}… ${seconds(at)}`), 1000) : undefined;
  const result = await run((child) => (current = child));
  clearInterval(ticker);
  current = undefined;
  if (result.code !== 0) {
    process.stdout.write(`${tty ? '\n' : ''}${label} failed (exit ${result.code}) after ${seconds(at)}:\n${result.output}\n`);
    process.exit(1);
  }
  process.stdout.write(`${tty ? '\r' : ''}${label}: done in ${seconds(at)}\n`);
}

await step('installing dependencies', (onChild) => pnpmAsync(['install', '--frozen-lockfile', '--reporter=silent'], onChild));
await step('building (about a minute on first run)', (onChild) => pnpmAsync(['exec', 'tsc', '-b'], onChild));
await step('generating sample logs', (onChild) => runAsync(process.execPath, [join(root, 'scripts/generate-sample-logs.mjs')], onChild));

// Where the embedded sink writes and the admin API announces itself, from the config itself (the
// build has just made core's loader available). A config it cannot read: fabric will say why.
let where;
try {
  const { loadConfig } = await import(pathToFileURL(join(root, 'core/dist/config/load.js')).href);
  const loaded = loadConfig(config, process.env);
  const sink = loaded.config.sink;
  where = {
    stateDir: loaded.stateDir,
    events: sink.type === 'jsonl' ? resolve(loaded.dir, sink.path ?? join(loaded.stateDir, 'events.jsonl')) : undefined,
    admin: loaded.config.admin.enabled,
  };
} catch {
  where = undefined;
}

const follow = spawn(process.execPath, [join(root, 'scripts/generate-sample-logs.mjs'), '--follow', '--seed', String(Date.now() % 100000)], { stdio: 'ignore' });
const startedAt = Date.now();
// With the V8 flags the fabric bin's shebang sets (core/src/cli/node-flags.ts).
const { NODE_FLAGS } = await import(pathToFileURL(join(root, 'core/dist/cli/node-flags.js')).href);
// Its own process group: Ctrl+C in a terminal signals the whole foreground group, and fabric would
// get that SIGINT and the one forwarded above — two signals, which it takes as "exit now". Detached,
// it gets exactly the one we forward, however this script was signalled (terminal, timeout, systemd).
fabric = spawn(process.execPath, [...NODE_FLAGS, join(root, 'core/bin/fabric.js'), 'start', '-c', config], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, detached: true });
say(`\nstarting fabric with ${configArg}${where?.events ? `; events go to ${where.events}` : ''}`);
say(`the CLI: npx fabric --help (or ${pnpmHint()} exec fabric --help); Ctrl+C stops\n`);

// The admin API writes its URL to <state_dir>/admin-url once it listens: print the dashboard's
// address then. Never the token: say where it is.
if (where?.admin) {
  const urlFile = join(where.stateDir, 'admin-url');
  const poll = setInterval(() => {
    let url;
    try {
      if (statSync(urlFile).mtimeMs < startedAt - 1000) return;
      url = readFileSync(urlFile, 'utf8').trim();
    } catch {
      return;
    }
    clearInterval(poll);
    const token = process.env.FABRIC_ADMIN_TOKEN ? 'the value of $FABRIC_ADMIN_TOKEN' : `the token in ${join(where.stateDir, 'admin-token')}`;
    say(`\ndashboard: ${url}/ui/ — log in with ${token}\n`);
  }, 250);
  setTimeout(() => clearInterval(poll), 120_000).unref();
}

// The live summary: one line per detection, at most 5 per 5 s.
let summary;
if (where?.events) {
  const throttle = new Throttle({ limit: 5, windowMs: 5000 });
  let header = false;
  const print = (lines) => {
    if (lines.length > 0 && !header) {
      header = true;
      say(`detections (time, priority, rule, source, collector) from ${where.events}:`);
    }
    for (const line of lines) say(line);
  };
  const follower = new EventsFollower(where.events, (event) => {
    const line = summarise(event);
    if (line) print(throttle.offer(line));
  });
  summary = setInterval(() => {
    follower.poll();
    print(throttle.tick());
  }, 1000);
}

fabric.on('exit', (code, signal) => {
  clearInterval(summary);
  follow.kill('SIGTERM');
  process.exit(code ?? (signal ? 1 : 0));
});
