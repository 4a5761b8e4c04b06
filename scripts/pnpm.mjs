#!/usr/bin/env node
// Runs the pinned pnpm whatever the machine has: a fresh clone only needs Node and npm.
// Why not corepack: it is absent or disabled on some Node builds; npx always works.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

export function pnpm(args, opts = {}) {
  const probe = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  const cmd = probe.status === 0 && probe.stdout.trim() === pinned ? ['pnpm', args] : ['npx', ['--yes', `pnpm@${pinned}`, ...args]];
  const r = spawnSync(cmd[0], cmd[1], { stdio: 'inherit', cwd: root, ...opts });
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exit(pnpm(process.argv.slice(2)));
}
