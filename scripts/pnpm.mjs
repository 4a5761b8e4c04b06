#!/usr/bin/env node
// Runs the pinned pnpm whatever the machine has: a fresh clone only needs Node and npm.
// Why not corepack: it is absent or disabled on some Node builds; npx always works.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

const hasPinned = () => {
  const probe = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 && probe.stdout.trim() === pinned;
};

let resolved;
/**
 * The pinned pnpm on PATH, so that `pnpm exec fabric` works for the user afterwards: installed
 * globally with npm once when missing (`FABRIC_NO_GLOBAL_PNPM=1` opts out); where that is not
 * allowed, every call goes through npx instead.
 */
function command() {
  if (resolved) return resolved;
  if (!hasPinned() && !process.env.FABRIC_NO_GLOBAL_PNPM) {
    process.stderr.write(`installing pnpm@${pinned} with npm (global), so that \`pnpm exec fabric\` works\n`);
    spawnSync('npm', ['install', '--global', '--no-fund', '--no-audit', '--loglevel=error', `pnpm@${pinned}`], { stdio: 'inherit' });
  }
  resolved = hasPinned() ? ['pnpm', []] : ['npx', ['--yes', `pnpm@${pinned}`]];
  return resolved;
}

export function pnpm(args, opts = {}) {
  const [cmd, pre] = command();
  const r = spawnSync(cmd, [...pre, ...args], { stdio: 'inherit', cwd: root, ...opts });
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exit(pnpm(process.argv.slice(2)));
}
