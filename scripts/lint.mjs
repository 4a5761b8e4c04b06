#!/usr/bin/env node
// Architectural lint: the rules a type checker cannot see.
//  - core never imports a plugin;
//  - plugins (and the example third-party plugin) import only the published plugin API,
//    `@reactive-fabric/core` (never `/runtime`, never core's files by path);
//  - no focused or skipped tests.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const problems = [];

function* files(dir, exts = ['.ts', '.mts', '.js', '.mjs']) {
  for (const e of readdirSync(dir)) {
    if (e === 'node_modules' || e === 'dist' || e.startsWith('.')) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* files(p, exts);
    else if (exts.some((x) => p.endsWith(x))) yield p;
  }
}

const importRe = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const specs = (text) => [...text.matchAll(importRe)].map((m) => m[1] ?? m[2]);

for (const f of files(join(root, 'core/src'))) {
  for (const s of specs(readFileSync(f, 'utf8'))) {
    // A plugin package by name, or anything outside core by relative path (../../plugins/…).
    const outside = s.startsWith('.') && !join(dirname(f), s).startsWith(join(root, 'core') + '/');
    if (s.startsWith('@reactive-fabric/plugin-') || s === '@reactive-fabric/test-kit' || outside) problems.push(`${relative(root, f)}: core imports ${s}, which is not part of core`);
  }
}
const pluginDirs = [...readdirSync(join(root, 'plugins')).map((d) => join(root, 'plugins', d, 'src')), join(root, 'examples/plugin-cowrie/src')];
for (const dir of pluginDirs) {
  for (const f of files(dir)) {
    for (const s of specs(readFileSync(f, 'utf8'))) {
      if (s === '@reactive-fabric/core/runtime' || /(^|\/)core\/src\//.test(s) || (s.startsWith('@reactive-fabric/') && s !== '@reactive-fabric/core')) problems.push(`${relative(root, f)}: a plugin may import only @reactive-fabric/core, not ${s}`);
    }
  }
}
for (const dir of ['core/test', 'plugins', 'packages', 'examples', 'test']) {
  for (const f of files(join(root, dir))) {
    if (!/\.test\.[mc]?[jt]s$/.test(f)) continue;
    const text = readFileSync(f, 'utf8');
    const m = text.match(/\b(?:it|test|describe)\.(?:only|skip|todo)\(/);
    if (m) problems.push(`${relative(root, f)}: ${m[0]} — tests must run, and none may be focused`);
  }
}
if (problems.length) {
  process.stderr.write(`lint: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('lint: ok\n');
