import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import type { LogsourceMapping } from '../config.js';
import { CompileSession } from './context.js';
import { RuleRefusal, type Refusal } from './errors.js';
import { LogsourceResolver } from './logsource.js';
import { compileRule, LEVELS, type SigmaLevel, type SigmaRule } from './rule.js';

/** core/rules, from src/ or dist/ alike. */
export const BUILTIN_RULES_DIR = fileURLToPath(new URL('../../../rules', import.meta.url));

export interface LoadResult {
  rules: SigmaRule[];
  refusals: Refusal[];
  /** Valid Sigma documents that are not detection rules (correlation rules): left to the correlation stage. */
  skipped: { file: string; line: number; kind: string; rule?: string }[];
  /** Files read, for messages like "75 files, 73 rules". */
  files: number;
}

export interface LoadOptions {
  logsources?: LogsourceMapping[];
  builtin?: boolean;
}

async function listRuleFiles(p: string): Promise<string[]> {
  const st = await stat(p);
  if (st.isFile()) return [p];
  const out: string[] = [];
  const entries = await readdir(p, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const full = path.join(p, e.name);
    if (e.isDirectory()) out.push(...(await listRuleFiles(full)));
    else if (/\.ya?ml$/i.test(e.name)) out.push(full);
  }
  return out;
}

/** Line (1-based) of the deepest node found along `at`, preferring the key's own line. */
function lineOf(doc: Document, lc: LineCounter, at: (string | number)[]): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const seg of at) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return lc.linePos(offset).line;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function toRule(file: string, data: Record<string, unknown>, builtin: boolean): SigmaRule {
  if (data.filter !== undefined && data.detection === undefined) throw new RuleRefusal('filter rule', 'Sigma meta filters are not supported; use detection.disabled_rules or a "not" in the rule', ['filter']);
  if (data.action !== undefined) throw new RuleRefusal('rule collection', 'multi-document rule collections (action: global/repeat) are not supported; write one rule per file', ['action']);
  const title = str(data.title);
  if (!title) throw new RuleRefusal('title', 'a rule needs a title', ['title']);
  const detection = data.detection;
  if (detection === null || typeof detection !== 'object' || Array.isArray(detection)) throw new RuleRefusal('detection', 'a rule needs a detection map', ['detection']);
  const logsource = data.logsource;
  if (logsource === null || typeof logsource !== 'object' || Array.isArray(logsource)) throw new RuleRefusal('logsource', 'a rule needs a logsource map', ['logsource']);
  const level = (str(data.level) ?? 'medium').toLowerCase();
  if (!LEVELS.includes(level as SigmaLevel)) throw new RuleRefusal('level', `level "${level}" is not one of ${LEVELS.join(', ')}`, ['level']);
  const tags = Array.isArray(data.tags) ? data.tags.filter((t): t is string => typeof t === 'string') : [];
  const ls = logsource as Record<string, unknown>;
  return {
    file,
    title,
    id: str(data.id) ?? path.basename(file).replace(/\.ya?ml$/i, ''),
    ...(str(data.name) ? { name: str(data.name)! } : {}),
    ...(str(data.description) ? { description: str(data.description)!.trim() } : {}),
    ...(str(data.status) ? { status: str(data.status)! } : {}),
    ...(str(data.author) ? { author: str(data.author)! } : {}),
    ...(Array.isArray(data.references) ? { references: data.references.map(String) } : {}),
    level: level as SigmaLevel,
    tags,
    logsource: {
      ...(str(ls.product) ? { product: str(ls.product)! } : {}),
      ...(str(ls.service) ? { service: str(ls.service)! } : {}),
      ...(str(ls.category) ? { category: str(ls.category)! } : {}),
    },
    detection: detection as Record<string, unknown>,
    builtin,
  };
}

/** Parse one YAML text into rules, compiling each once to refuse what cannot be evaluated faithfully. */
export function parseRuleText(
  file: string,
  text: string,
  resolver: LogsourceResolver,
  builtin = false,
): { rules: SigmaRule[]; refusals: Refusal[]; skipped: LoadResult['skipped'] } {
  const rules: SigmaRule[] = [];
  const refusals: Refusal[] = [];
  const skipped: LoadResult['skipped'] = [];
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    refusals.push({ file, line: 1, feature: 'yaml', message: 'not a YAML document stream' });
  }
  for (const doc of list) {
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      refusals.push({ file, line: e.linePos?.[0]?.line ?? 1, feature: 'yaml', message: `YAML error: ${e.message.split('\n')[0]}` });
      continue;
    }
    const data = doc.toJS() as unknown;
    if (data === null || data === undefined) continue;
    if (typeof data !== 'object' || Array.isArray(data)) {
      refusals.push({ file, line: lineOf(doc, lc, []), feature: 'yaml', message: 'a rule must be a YAML map' });
      continue;
    }
    const rec = data as Record<string, unknown>;
    if (rec.correlation !== undefined) {
      skipped.push({ file, line: lineOf(doc, lc, ['correlation']), kind: 'correlation', ...(typeof rec.title === 'string' ? { rule: rec.title } : {}) });
      continue;
    }
    try {
      const rule = toRule(file, rec, builtin);
      compileRule(rule, 0, resolver, new CompileSession());
      rules.push(rule);
    } catch (e) {
      if (!(e instanceof RuleRefusal)) throw e;
      refusals.push({
        file,
        line: lineOf(doc, lc, e.path),
        feature: e.feature,
        message: e.message,
        ...(typeof rec.title === 'string' ? { rule: rec.title } : {}),
      });
    }
  }
  return { rules, refusals, skipped };
}

/** Load Sigma rules from files and folders (recursively, *.yml / *.yaml). Missing paths are refusals, not crashes. */
export async function loadRules(paths: string[], options: LoadOptions = {}): Promise<LoadResult> {
  const resolver = new LogsourceResolver(new CompileSession(), options.logsources ?? []);
  const result: LoadResult = { rules: [], refusals: [], skipped: [], files: 0 };
  const sources = [...(options.builtin ? [{ p: BUILTIN_RULES_DIR, builtin: true }] : []), ...paths.map((p) => ({ p, builtin: false }))];
  for (const { p, builtin } of sources) {
    let files: string[];
    try {
      files = await listRuleFiles(p);
    } catch (e) {
      result.refusals.push({ file: p, line: 0, feature: 'path', message: `cannot read rules path: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    for (const file of files) {
      result.files++;
      const text = await readFile(file, 'utf8');
      const r = parseRuleText(file, text, resolver, builtin);
      result.rules.push(...r.rules);
      result.refusals.push(...r.refusals);
      result.skipped.push(...r.skipped);
    }
  }
  return result;
}
