#!/usr/bin/env node
// Writes the SigmaHQ load-coverage tables into docs/detection.md (between the sigma-coverage
// markers), from the built core (run `npx tsc -b` first). The SigmaHQ coverage test checks that
// the docs carry exactly these figures, so run this after changing mappings or rule support.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coverageMarkdown, sigmaCoverage } from '../core/dist/detection/sigma/coverage.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const folder = '../shared/datasets/sigmahq';
const report = await sigmaCoverage(join(root, folder));
const docPath = join(root, 'docs/detection.md');
const doc = readFileSync(docPath, 'utf8');
const re = /(<!-- sigma-coverage:start -->\n)[\s\S]*?(\n?<!-- sigma-coverage:end -->)/;
if (!re.test(doc)) {
  process.stderr.write(`${docPath}: no <!-- sigma-coverage:start --> / <!-- sigma-coverage:end --> markers\n`);
  process.exit(1);
}
writeFileSync(
  docPath,
  doc.replace(re, (_, a) => `${a}${coverageMarkdown(report, folder)}\n<!-- sigma-coverage:end -->`),
);
process.stdout.write(`${report.loaded} loaded, ${report.refused} refused of ${report.files} files: docs/detection.md updated\n`);
