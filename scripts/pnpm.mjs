#!/usr/bin/env node
// Runs the pinned pnpm whatever the machine has: a fresh clone only needs Node and npm.
// Never installs anything globally (that needs the user's consent): the pinned pnpm on PATH if it
// is there, else through corepack (bundled with Node up to 24; it fetches the version into its own
// cache), else through npx (its cache too).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

/** The same env for the probe and the runs: corepack must not stop to ask on a terminal. */
const env = { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: '0', COREPACK_ENABLE_STRICT: '0' };

const answers = (cmd, pre) => {
  const probe = spawnSync(cmd, [...pre, '--version'], { encoding: 'utf8', cwd: root, env });
  return probe.status === 0 && probe.stdout.trim() === pinned;
};

let resolved;
/** [command, leading args]: pnpm on PATH, `corepack pnpm@<pinned>`, or `npx pnpm@<pinned>`. */
export function pnpmCommand() {
  if (resolved) return resolved;
  if (answers('pnpm', [])) resolved = ['pnpm', []];
  else if (answers('corepack', [`pnpm@${pinned}`])) resolved = ['corepack', [`pnpm@${pinned}`]];
  else resolved = ['npx', ['--yes', `pnpm@${pinned}`]];
  return resolved;
}

/** How a user runs the same pnpm by hand (for messages). */
export function pnpmHint() {
  const [cmd, pre] = pnpmCommand();
  return [cmd, ...pre].join(' ');
}

export function pnpm(args, opts = {}) {
  const [cmd, pre] = pnpmCommand();
  const r = spawnSync(cmd, [...pre, ...args], { stdio: 'inherit', cwd: root, env, ...opts });
  return r.status ?? 1;
}

/**
 * pnpm as a child process, its output captured (shown by the caller on failure). Resolves with
 * { code, output, child } once it exits; `onChild` gets the process at once (to forward signals).
 */
export function pnpmAsync(args, onChild = () => undefined) {
  const [cmd, pre] = pnpmCommand();
  return runAsync(cmd, [...pre, ...args], onChild);
}

export function runAsync(cmd, args, onChild = () => undefined) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    onChild(child);
    let output = '';
    const keep = (d) => {
      // The tail is what explains a failure; a runaway output must not grow without bound.
      output = (output + d.toString()).slice(-64 * 1024);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => resolve({ code: 127, output: `${output}${err.message}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), signal, output }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exit(pnpm(process.argv.slice(2)));
}
