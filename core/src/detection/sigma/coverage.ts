/**
 * Load coverage of a folder of Sigma rules in SigmaHQ's layout: how many load, how many are
 * refused and why, per family and per logsource mapping. The SigmaHQ test asserts it and
 * `scripts/sigma-coverage.mjs` writes it into docs/detection.md, so the documented figures are
 * the measured ones.
 */
import path from 'node:path';
import { CompileSession } from './context.js';
import { describe as describeLogsource, LogsourceResolver } from './logsource.js';
import { loadRules, type LoadOptions } from './loader.js';

export interface CoverageRow {
  name: string;
  loaded: number;
  refused: number;
}

export interface CoverageReport {
  files: number;
  loaded: number;
  refused: number;
  /** Loaded rules that can never fire on structured (ECS) events of their logsource. */
  neverFires: number;
  families: CoverageRow[];
  /** Loaded rules per logsource mapping (name). */
  logsources: { name: string; loaded: number }[];
  /** Refusals grouped by feature, with the files. */
  reasons: { feature: string; count: number; files: string[] }[];
}

/** "windows", "cloud/aws", "network", "emerging-threats"… from a path relative to the folder. */
export function familyOf(rel: string): string {
  const seg = rel.split(/[\\/]/);
  if (seg[0] === 'rules') return seg[1] === 'cloud' && seg.length > 3 ? `cloud/${seg[2]}` : (seg[1] ?? 'rules');
  return seg[0]!.replace(/^rules-/, '');
}

export async function sigmaCoverage(dir: string, options: LoadOptions = {}): Promise<CoverageReport> {
  const r = await loadRules([dir], options);
  const resolver = new LogsourceResolver(new CompileSession(), options.logsources ?? []);
  const fam = new Map<string, CoverageRow>();
  const row = (file: string) => {
    const name = familyOf(path.relative(dir, file));
    let x = fam.get(name);
    if (!x) fam.set(name, (x = { name, loaded: 0, refused: 0 }));
    return x;
  };
  for (const rule of r.rules) row(rule.file).loaded++;
  for (const ref of r.refusals) row(ref.file).refused++;
  const ls = new Map<string, number>();
  for (const rule of r.rules) {
    const m = resolver.find(rule.logsource);
    const name = m?.name ?? (m ? describeLogsource(m) : '?');
    ls.set(name, (ls.get(name) ?? 0) + 1);
  }
  const reasons = new Map<string, string[]>();
  for (const ref of r.refusals) {
    const list = reasons.get(ref.feature) ?? [];
    list.push(path.relative(dir, ref.file));
    reasons.set(ref.feature, list);
  }
  return {
    files: r.files,
    loaded: r.rules.length,
    refused: r.refusals.length,
    neverFires: r.neverFires.length,
    families: [...fam.values()].sort((a, b) => b.loaded + b.refused - (a.loaded + a.refused) || a.name.localeCompare(b.name)),
    logsources: [...ls.entries()].map(([name, loaded]) => ({ name, loaded })).sort((a, b) => b.loaded - a.loaded || a.name.localeCompare(b.name)),
    reasons: [...reasons.entries()].map(([feature, files]) => ({ feature, count: files.length, files })).sort((a, b) => b.count - a.count || a.feature.localeCompare(b.feature)),
  };
}

const pct = (n: number, d: number) => `${d ? ((100 * n) / d).toFixed(1) : '0.0'} %`;

/** The Markdown that docs/detection.md carries between the sigma-coverage markers. */
export function coverageMarkdown(c: CoverageReport, folder: string): string {
  const out: string[] = [];
  out.push(
    `Measured on \`${folder}\` (${c.files.toLocaleString('en-US')} files): **${c.loaded.toLocaleString('en-US')} loaded, ${c.refused} refused (${pct(c.loaded, c.loaded + c.refused)} load)**.`,
  );
  out.push('');
  out.push('| family | loaded | refused |');
  out.push('|---|---:|---:|');
  for (const f of c.families) out.push(`| ${f.name} | ${f.loaded} | ${f.refused} |`);
  out.push('');
  out.push('| logsource mapping | rules loaded |');
  out.push('|---|---:|');
  for (const l of c.logsources) out.push(`| \`${l.name}\` | ${l.loaded} |`);
  out.push('');
  if (c.reasons.length) {
    out.push('Refused, by reason:');
    out.push('');
    for (const r of c.reasons) out.push(`- \`${r.feature}\` (${r.count}): ${r.files.map((f) => `\`${path.basename(f)}\``).join(', ')}`);
  } else out.push('No rule refused.');
  return out.join('\n');
}
