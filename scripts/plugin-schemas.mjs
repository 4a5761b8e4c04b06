// Writes each bundled plugin's config JSON Schema to <package>/config-schema.json, the file its
// package.json names in "reactiveFabric.configSchema", so GET /plugins and `fabric plugins list`
// show a plugin's config without importing (running) it. The definition is the one source: run
// this after changing a plugin's config schema and a build; `--check` only compares and exits 1 on
// drift (core/test/plugin-schemas.test.ts runs it).
//
//   node scripts/plugin-schemas.mjs [--check]
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const packages = [...readdirSync(path.join(root, 'plugins')).map((d) => path.join(root, 'plugins', d)), path.join(root, 'examples', 'plugin-cowrie')];
let drift = 0;
for (const dir of packages) {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const declared = manifest.reactiveFabric?.configSchema;
  if (typeof declared !== 'string') {
    console.error(`${manifest.name}: package.json has no "reactiveFabric.configSchema"`);
    drift++;
    continue;
  }
  const entry = path.join(dir, 'dist', 'index.js');
  if (!existsSync(entry)) {
    console.error(`${manifest.name}: ${entry} is missing; build first (npx tsc -b)`);
    process.exit(2);
  }
  const { default: def } = await import(pathToFileURL(entry).href);
  const text = `${JSON.stringify(def.configSchema, null, 2)}\n`;
  const file = path.join(dir, declared);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (current === text) continue;
  if (check) {
    console.error(`${manifest.name}: ${path.relative(root, file)} differs from the built definition's config schema; run node scripts/plugin-schemas.mjs`);
    drift++;
  } else {
    writeFileSync(file, text);
    console.log(`wrote ${path.relative(root, file)}`);
  }
}
process.exit(drift ? 1 : 0);
