#!/usr/bin/env node
// Architectural lint: the rules a type checker cannot see.
//  - core never imports a plugin;
//  - plugins (and the example third-party plugin) import only the published plugin API,
//    `@reactive-fabric/core` (never `/runtime`, never core's files by path);
//  - inside core, imports point down the layers below and no module imports itself back
//    through others (no cycles, type-only imports included);
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
    if (s.startsWith('@reactive-fabric/plugin-') || s === '@reactive-fabric/test-kit' || outside)
      problems.push(`${relative(root, f)}: core imports ${s}, which is not part of core`);
  }
}
// Core's layers, lowest first. A module may import from its own layer and the ones below, never
// from above; a component's config schema (`<component>/config.ts`, `*-config.ts`) belongs to the
// config layer, since the config file is composed of them. ARCHITECTURE.md explains each layer.
const LAYERS = [
  ['plugin-api', 'errors', 'net'],
  ['async', 'logging.ts', 'host.ts', 'events'],
  ['state', 'supervisor', 'metrics'],
  ['config'],
  ['sinks', 'isolation'],
  ['plugins', 'pipeline', 'cluster'],
  ['detection', 'correlation', 'enrichment'],
  ['collectors'],
  ['orchestrator.ts', 'admin'],
  ['compose'],
  ['cli'],
  ['index.ts', 'runtime.ts'],
];
const coreSrc = join(root, 'core/src');
function layerOf(file) {
  const rel = relative(coreSrc, file);
  if (/(^|\/)config\.ts$|-config\.ts$/.test(rel)) return 3;
  const top = rel.split('/')[0];
  const i = LAYERS.findIndex((l) => l.includes(top));
  if (i < 0) problems.push(`core/src/${rel}: not in any layer of scripts/lint.mjs; add its folder to LAYERS (and to ARCHITECTURE.md)`);
  return i;
}
const graph = new Map();
for (const f of files(coreSrc, ['.ts'])) {
  const deps = [];
  for (const s of specs(readFileSync(f, 'utf8'))) {
    if (!s.startsWith('.')) continue;
    const target = join(dirname(f), s).replace(/\.js$/, '.ts');
    if (!target.startsWith(coreSrc + '/')) continue;
    deps.push(target);
    const [from, to] = [layerOf(f), layerOf(target)];
    if (to > from)
      problems.push(
        `${relative(root, f)} imports ${relative(root, target)}: layer "${LAYERS[from]?.join(', ')}" must not import from the higher layer "${LAYERS[to]?.join(', ')}"`,
      );
  }
  graph.set(f, deps);
}
// Tarjan's strongly connected components: any component of more than one module is a cycle.
{
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1)
        problems.push(
          `import cycle: ${scc
            .map((x) => relative(root, x))
            .sort()
            .join(' → ')}; move what they share into a module both can import`,
        );
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
}
const pluginDirs = [...readdirSync(join(root, 'plugins')).map((d) => join(root, 'plugins', d, 'src')), join(root, 'examples/plugin-cowrie/src')];
for (const dir of pluginDirs) {
  for (const f of files(dir)) {
    for (const s of specs(readFileSync(f, 'utf8'))) {
      if (s === '@reactive-fabric/core/runtime' || /(^|\/)core\/src\//.test(s) || (s.startsWith('@reactive-fabric/') && s !== '@reactive-fabric/core'))
        problems.push(`${relative(root, f)}: a plugin may import only @reactive-fabric/core, not ${s}`);
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
