import { readFileSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import type { DetectionConfig, ExtractorConfig, LogsourceMapping } from '../config.js';
import type { EngineSpec } from '../engine.js';
import { selectRules } from '../select.js';
import { CompileSession } from './context.js';
import { RuleRefusal, type Refusal } from './errors.js';
import { builtinLogsources, LogsourceResolver, resolveLogsourceEntries } from './logsource.js';
import { extractorOutputs, FieldAvailability, unreachable, type MissingField } from './reach.js';
import { RuleCache } from './rule-cache.js';
import { compileRule, LEVELS, type SigmaLevel, type SigmaRule } from './rule.js';

/** core/rules, from src/ or dist/ alike. */
export const BUILTIN_RULES_DIR = fileURLToPath(new URL('../../../rules', import.meta.url));

/** A rule that loads but whose condition needs fields no source of its logsource can produce. */
export interface NeverFires {
  file: string;
  line: number;
  rule: string;
  id: string;
  /** The logsource mapping's name ("windows-process_creation") or "product=…, category=…". */
  logsource: string;
  /** True when the mapping's gate itself needs such fields (so every rule of it is affected). */
  gate: boolean;
  fields: MissingField[];
  message: string;
}

export interface LoadResult {
  rules: SigmaRule[];
  refusals: Refusal[];
  /** Valid Sigma documents that are not detection rules (correlation rules): left to the correlation stage. */
  skipped: { file: string; line: number; kind: string; rule?: string }[];
  /** Loaded rules that can never fire (see reach.ts): reported, not refused. */
  neverFires: NeverFires[];
  /** Files read, for messages like "75 files, 73 rules". */
  files: number;
  /** Files whose parse came from the cache (cacheDir set). */
  cached: number;
}

export interface LoadOptions {
  logsources?: LogsourceMapping[];
  builtin?: boolean;
  /** Extra extractors (detection.extractors) whose outputs count as producible fields. */
  extractors?: ExtractorConfig[];
  /** Whether the built-in extractors run (detection.builtin_extractors); default true. */
  builtinExtractors?: boolean;
  /**
   * Whether events can arrive as structured documents (log-store collectors), so mappings'
   * declared `produces` count; false for `fabric scan`, which reads text lines. Default true.
   */
  structured?: boolean;
  /** Folder for the parse cache (by content hash); omitted = no cache. */
  cacheDir?: string;
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
  if (data.filter !== undefined && data.detection === undefined)
    throw new RuleRefusal('filter rule', 'Sigma meta filters are not supported; use detection.disabled_rules or a "not" in the rule', ['filter']);
  if (data.action !== undefined)
    throw new RuleRefusal('rule collection', 'multi-document rule collections (action: global/repeat) are not supported; write one rule per file', ['action']);
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

interface ParsedText {
  rules: SigmaRule[];
  /** Line of each rule's detection, parallel to `rules` (for warnings without re-parsing). */
  lines: number[];
  refusals: Refusal[];
  skipped: LoadResult['skipped'];
}

function parseText(file: string, text: string, resolver: LogsourceResolver, builtin: boolean): ParsedText {
  const out: ParsedText = { rules: [], lines: [], refusals: [], skipped: [] };
  const { rules, refusals, skipped } = out;
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
      out.lines.push(lineOf(doc, lc, ['detection']));
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
  return out;
}

/** Parse one YAML text into rules, compiling each once to refuse what cannot be evaluated faithfully. */
export function parseRuleText(
  file: string,
  text: string,
  resolver: LogsourceResolver,
  builtin = false,
): { rules: SigmaRule[]; refusals: Refusal[]; skipped: LoadResult['skipped'] } {
  const { rules, refusals, skipped } = parseText(file, text, resolver, builtin);
  return { rules, refusals, skipped };
}

/** A rule file is a few KB; a huge one is a mistake or an attack and is refused unread. */
const MAX_RULE_FILE_BYTES = 1 << 20;

/**
 * Read every file synchronously: thousands of small files through the promise API cost four
 * thread-pool round trips each, which was most of a warm load; start-up has nothing else to do.
 */
function readAll(files: string[]): (string | NodeJS.ErrnoException)[] {
  return files.map((f) => {
    try {
      return statSync(f).size > MAX_RULE_FILE_BYTES ? Object.assign(new Error('too large'), { code: 'EFBIG' }) : readFileSync(f, 'utf8');
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  });
}

function neverFiresMessage(w: Omit<NeverFires, 'message'>): string {
  const fields = w.fields.map((f) => (f.sigma === f.path ? f.path : `${f.sigma} (${f.path})`)).join(', ');
  return w.gate
    ? `rule "${w.rule}" (${w.file}:${w.line}) can never fire: logsource ${w.logsource} selects events by ${fields}, which no extractor produces and the mapping does not declare; feed it structured events that carry them, add an extractor, or map the logsource differently`
    : `rule "${w.rule}" (${w.file}:${w.line}) can never fire: it needs ${fields}, which no extractor produces and logsource ${w.logsource} does not declare; map the field in detection.logsources or add an extractor that writes it`;
}

/** Load Sigma rules from files and folders (recursively, *.yml / *.yaml). Missing paths are refusals, not crashes. */
export async function loadRules(paths: string[], options: LoadOptions = {}): Promise<LoadResult> {
  const logsources = options.logsources ?? [];
  // The cache first: it may hold the parsed built-in mappings the resolver needs.
  const cache = options.cacheDir ? await RuleCache.open(options.cacheDir, logsources) : undefined;
  const resolver = new LogsourceResolver(new CompileSession(), logsources);
  const result: LoadResult = { rules: [], refusals: [], skipped: [], neverFires: [], files: 0, cached: 0 };
  const lines = new Map<SigmaRule, number>();
  const sources = [...(options.builtin ? [{ p: BUILTIN_RULES_DIR, builtin: true }] : []), ...paths.map((p) => ({ p, builtin: false }))];
  for (const { p, builtin } of sources) {
    let files: string[];
    try {
      files = await listRuleFiles(p);
    } catch (e) {
      result.refusals.push({ file: p, line: 0, feature: 'path', message: `cannot read rules path: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    const texts = readAll(files);
    for (const [i, file] of files.entries()) {
      result.files++;
      const text = texts[i]!;
      if (typeof text !== 'string') {
        const code = text.code === 'EFBIG' ? `larger than ${MAX_RULE_FILE_BYTES >> 20} MiB` : (text.code ?? text.message);
        result.refusals.push({ file, line: 0, feature: 'path', message: `cannot read rule file: ${code}` });
        continue;
      }
      const hit = cache?.get(text, file, builtin);
      const r = hit ?? parseText(file, text, resolver, builtin);
      if (hit) result.cached++;
      else cache?.put(text, file, builtin, r);
      for (const [j, rule] of r.rules.entries()) lines.set(rule, r.lines[j]!);
      result.rules.push(...r.rules);
      result.refusals.push(...r.refusals);
      result.skipped.push(...r.skipped);
    }
  }
  await cache?.save();
  let avail: FieldAvailability | undefined;
  try {
    avail = new FieldAvailability({ extracted: extractorOutputs(options.extractors ?? [], options.builtinExtractors !== false), structured: options.structured !== false });
  } catch (e) {
    // A broken extractor is reported by the engine when it compiles; the check cannot run without it.
    if (!(e instanceof RuleRefusal)) throw e;
  }
  if (avail) {
    for (const rule of result.rules) {
      const ls = resolver.resolve(rule.logsource);
      const why = unreachable(rule, ls.mapping, ls.mapper, avail);
      if (!why) continue;
      const w = { file: rule.file, line: lines.get(rule) ?? 1, rule: rule.title, id: rule.id, logsource: ls.label, gate: why.gate, fields: why.missing };
      result.neverFires.push({ ...w, message: neverFiresMessage(w) });
    }
  }
  return result;
}

export interface DetectionLoadOptions {
  /** Rule files or folders beyond detection.rules (absolute, or relative to the config folder). */
  extraRules?: string[];
  /** Mappings tried before detection.logsources (e.g. from --logsources). */
  extraLogsources?: LogsourceMapping[];
  /** Overrides detection.builtin_rules when set. */
  builtin?: boolean;
  structured?: boolean;
  cacheDir?: string;
}

export interface DetectionLoad {
  spec: EngineSpec;
  loaded: LoadResult;
  /** Rule selection notes (unknown names in disabled_rules/overrides, replaced built-ins). */
  warnings: string[];
}

/**
 * Everything a `detection:` config section loads: logsource files, rules, selection, and the
 * plain-data engine spec the workers compile. Shared by the pipeline, `fabric scan` and
 * `fabric validate`, so all three see the same rules and mappings.
 */
export async function loadDetection(config: DetectionConfig, configDir: string, options: DetectionLoadOptions = {}): Promise<DetectionLoad> {
  const logsources = [...(options.extraLogsources ?? []), ...resolveLogsourceEntries(config.logsources ?? [], configDir)];
  const paths = [...(config.rules ?? []), ...(options.extraRules ?? [])].map((p) => path.resolve(configDir, p));
  const loaded = await loadRules(paths, {
    builtin: options.builtin ?? config.builtin_rules !== false,
    logsources,
    extractors: config.extractors ?? [],
    builtinExtractors: config.builtin_extractors !== false,
    ...(options.structured !== undefined ? { structured: options.structured } : {}),
    ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
  });
  const sel = selectRules(loaded.rules, config);
  const spec: EngineSpec = {
    rules: sel.rules,
    logsources,
    builtinLogsources: builtinLogsources(),
    extractors: config.extractors ?? [],
    builtinExtractors: config.builtin_extractors !== false,
    keywordFields: config.keyword_fields ?? ['message', 'event.original'],
    maxLineBytes: config.max_line_bytes ?? 65536,
  };
  // A disabled rule that could never fire is not worth a warning.
  const kept = new Set(sel.rules.map((r) => r.id));
  loaded.neverFires = loaded.neverFires.filter((w) => kept.has(w.id));
  return { spec, loaded, warnings: [...sel.warnings, ...sel.replaced.map((r) => `rule ${r}`)] };
}

/**
 * What `fabric validate --strict` refuses: rules that are refused at load, and rules that load but
 * can never fire on any event their logsource mapping or the extractors can produce.
 */
export async function strictRuleProblems(config: DetectionConfig, configDir: string): Promise<string[]> {
  if (config.enabled === false) return [];
  const { loaded } = await loadDetection(config, configDir);
  return [
    ...loaded.refusals.map((r) => `refused ${r.file}:${r.line} [${r.feature}] ${r.rule ? `"${r.rule}": ` : ''}${r.message}`),
    ...loaded.neverFires.map((w) => `never fires: ${w.message}`),
  ];
}
