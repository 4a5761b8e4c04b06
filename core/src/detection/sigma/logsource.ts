import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { FabricError } from '../../errors/fabric-error.js';
import { LogsourceFileSchema, type LogsourceMapping } from '../config.js';
import { validateAgainstSchema } from '../../config/validate.js';
import type { CompileSession } from './context.js';
import { RuleRefusal } from './errors.js';
import { compileSelection, identityMapper, type FieldMapper } from './selection.js';
import type { Predicate } from './values.js';

export interface SigmaLogsource {
  product?: string;
  service?: string;
  category?: string;
}

/** core/logsources, from src/ or dist/ alike. */
export const BUILTIN_LOGSOURCES_DIR = fileURLToPath(new URL('../../../logsources', import.meta.url));

/** Logsource files are operator data, not rule collections: a few anchors at most. */
const MAX_ALIASES = 100;
const MAX_FILE_BYTES = 4 << 20;

/** A logsource file that cannot be used; names the file, the entry and what to do. */
export class LogsourceFileError extends FabricError {
  declare readonly code: 'LOGSOURCE_FILE_INVALID';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super('LOGSOURCE_FILE_INVALID', `${file}: ${message}`);
  }
}

function mergeDefaults(defaults: Partial<LogsourceMapping> | undefined, m: LogsourceMapping): LogsourceMapping {
  if (!defaults) return m;
  const out: LogsourceMapping = { ...defaults, ...m };
  if (defaults.fields || m.fields) out.fields = { ...defaults.fields, ...m.fields };
  if (defaults.produces || m.produces) out.produces = [...(defaults.produces ?? []), ...(m.produces ?? [])];
  return out;
}

/**
 * Parse one logsource file: a list of mappings, or `defaults` + `logsources`. `validate: false` is
 * for the shipped files only (a test validates them): the schema check costs more than the parse,
 * and every detection worker reads them.
 */
export function parseLogsourceText(text: string, file: string, validate = true): LogsourceMapping[] {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, merge: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new LogsourceFileError(file, `line ${e.linePos?.[0]?.line ?? 1}: YAML syntax: ${e.message.split('\n')[0]} (fix the YAML at that line)`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    throw new LogsourceFileError(file, `YAML cannot be read: ${(e as Error).message.split('\n')[0]}`);
  }
  const { value, errors } = validate ? validateAgainstSchema(LogsourceFileSchema, raw ?? []) : { value: raw, errors: [] };
  if (errors.length) {
    const first = errors.slice(0, 5).map((e) => `${e.path || '/'}: ${e.message}`);
    throw new LogsourceFileError(
      file,
      `not a logsource file (${first.join('; ')}): write a list of mappings {product, service, category, when, fields, field_prefix, field_case, produces}, or {defaults, logsources: [...]}`,
    );
  }
  const data = value as { defaults?: Partial<LogsourceMapping>; logsources: LogsourceMapping[] } | LogsourceMapping[];
  const list = Array.isArray(data) ? data : data.logsources.map((m) => mergeDefaults(data.defaults, m));
  for (const [i, m] of list.entries()) {
    if (m.when !== undefined) {
      const empty = Array.isArray(m.when) ? m.when.length === 0 || m.when.some((x) => Object.keys(x).length === 0) : Object.keys(m.when).length === 0;
      if (empty) throw new LogsourceFileError(file, `mapping ${i} (${m.name ?? describe(m)}): "when" is empty; omit it to apply the mapping to every event`);
    }
  }
  return list;
}

export function readLogsourceFile(file: string, validate = true): LogsourceMapping[] {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_FILE_BYTES) throw new LogsourceFileError(file, `larger than ${MAX_FILE_BYTES >> 20} MiB; a logsource file holds mappings, not data`);
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof LogsourceFileError) throw e;
    throw new LogsourceFileError(file, `cannot read logsource file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseLogsourceText(text, file, validate);
}

/**
 * Config entries (`detection.logsources`, `--logsources`) to mappings: inline mappings stay,
 * strings are files read relative to `baseDir`. Order is kept: earlier entries win.
 */
export function resolveLogsourceEntries(entries: readonly (LogsourceMapping | string)[], baseDir: string): LogsourceMapping[] {
  return entries.flatMap((e) => (typeof e === 'string' ? readLogsourceFile(path.resolve(baseDir, e)) : [e]));
}

let builtinTexts: { file: string; text: string }[] | undefined;
let builtin: LogsourceMapping[] | undefined;

/** The shipped files' text, in name order (read once). */
export function builtinLogsourceTexts(): { file: string; text: string }[] {
  return (builtinTexts ??= readdirSync(BUILTIN_LOGSOURCES_DIR)
    .filter((f) => /\.ya?ml$/i.test(f))
    .sort()
    .map((f) => ({ file: path.join(BUILTIN_LOGSOURCES_DIR, f), text: readFileSync(path.join(BUILTIN_LOGSOURCES_DIR, f), 'utf8') })));
}

/**
 * How each Sigma logsource is found among events (core/logsources/*.yml, files in name order).
 * `when` restricts the rule to events of that source (an sshd rule never looks at kernel lines);
 * `fields` renames Sigma fields to ECS. Parsed on first use.
 */
export function builtinLogsources(): LogsourceMapping[] {
  return (builtin ??= builtinLogsourceTexts().flatMap(({ file, text }) => parseLogsourceText(text, file, false)));
}

/** Hand over the shipped mappings parsed earlier (the rule cache keeps them by the files' hash). */
export function primeBuiltinLogsources(list: LogsourceMapping[]): void {
  builtin ??= list;
}

export interface ResolvedLogsource {
  mapper: FieldMapper;
  gate: Predicate | undefined;
  /** Stable key of the mapping, so rules with the same gate are grouped. */
  key: string;
  /** The mapping itself (for the "can this rule ever fire?" check). */
  mapping: LogsourceMapping;
  /** "product=windows, category=process_creation", or the mapping's name. */
  label: string;
}

export function describe(ls: SigmaLogsource): string {
  return (
    Object.entries(ls)
      .filter(([k]) => k === 'product' || k === 'service' || k === 'category')
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ') || '(empty)'
  );
}

/** camelCase / PascalCase → snake_case, per dotted segment (ResultDescription → result_description). */
export function snakeCase(f: string): string {
  return f
    .split('.')
    .map((seg) =>
      seg
        .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
        .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
        .toLowerCase(),
    )
    .join('.');
}

/**
 * Sigma field → event field for one mapping, in this order: an exact `fields` entry (then the same
 * name in any case), a `prefix.*` entry (the rest of the name appended), then `field_prefix` for
 * names without a dot. Anything else passes through unchanged, as pySigma does: a rule written
 * against the raw field names still matches events that carry them.
 */
export function fieldMapper(m: LogsourceMapping): FieldMapper {
  const exact = m.fields ?? {};
  const lower = new Map<string, string>();
  const prefixes: [string, string][] = [];
  for (const [k, v] of Object.entries(exact)) {
    if (k.endsWith('.*')) prefixes.push([k.slice(0, -1), v.endsWith('.*') ? v.slice(0, -1) : v]);
    else if (!lower.has(k.toLowerCase())) lower.set(k.toLowerCase(), v);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  const prefix = m.field_prefix ?? '';
  const snake = m.field_case === 'snake_case';
  if (!Object.keys(exact).length && !prefix && !snake) return identityMapper;
  const cache = new Map<string, string>();
  return (f) => {
    let out = cache.get(f);
    if (out !== undefined) return out;
    out = Object.hasOwn(exact, f) ? exact[f]! : lower.get(f.toLowerCase());
    if (out === undefined) {
      const p = prefixes.find(([from]) => f.startsWith(from));
      if (p) {
        const rest = f.slice(p[0].length);
        out = p[1] + (snake ? snakeCase(rest) : rest);
      } else if (!f.includes('.')) out = prefix + (snake ? snakeCase(f) : f);
      else out = f;
    }
    cache.set(f, out);
    return out;
  };
}

const norm = (s: string | undefined) => (s ?? '').toLowerCase();

interface Entry {
  m: LogsourceMapping;
  resolved: ResolvedLogsource | undefined;
  key: string;
  product: string | undefined;
  service: string;
  category: string;
}

export class LogsourceResolver {
  private readonly mappings: Entry[];
  /** Lookups by the rule's (product, service, category): thousands of rules share a few dozen. */
  private readonly found = new Map<string, Entry | undefined>();

  constructor(
    private readonly session: CompileSession,
    user: LogsourceMapping[] = [],
    /** The shipped mappings when the caller already has them (workers get them with the spec). */
    builtin: LogsourceMapping[] = builtinLogsources(),
  ) {
    // Within each tier (user, then built-in), a mapping naming the product beats one for any product.
    const tier = (list: LogsourceMapping[]) => [...list.filter((m) => m.product !== undefined), ...list.filter((m) => m.product === undefined)];
    this.mappings = [...tier(user), ...tier(builtin)].map((m, i) => ({
      m,
      resolved: undefined,
      key: `${i}`,
      product: m.product === undefined ? undefined : norm(m.product),
      service: norm(m.service),
      category: norm(m.category),
    }));
  }

  /** Gates compile on first use, so only the logsources of loaded rules count as fields rules read. */
  private build(entry: Entry): ResolvedLogsource {
    const { m } = entry;
    const gate = m.when ? compileSelection(m.when, identityMapper, ['logsource', 'when'], this.session) : undefined;
    return { mapper: fieldMapper(m), gate, key: entry.key, mapping: m, label: m.name ?? describe(m) };
  }

  /** The mapping a logsource resolves to, without compiling its gate. */
  find(ls: SigmaLogsource | undefined): LogsourceMapping | undefined {
    return this.entry(ls ?? {})?.m;
  }

  private entry(src: SigmaLogsource): Entry | undefined {
    const product = norm(src.product);
    const service = norm(src.service);
    const category = norm(src.category);
    const k = `${product}\0${service}\0${category}`;
    if (this.found.has(k)) return this.found.get(k);
    const e = this.mappings.find((m) => (m.product === undefined || m.product === product) && m.service === service && m.category === category);
    this.found.set(k, e);
    return e;
  }

  resolve(ls: SigmaLogsource | undefined): ResolvedLogsource {
    const src = ls ?? {};
    const entry = this.entry(src);
    if (entry) return (entry.resolved ??= this.build(entry));
    throw new RuleRefusal(
      'logsource',
      `no logsource mapping for ${describe(src)}: add one under detection.logsources (product/service/category, when, fields) or pass a mapping file with --logsources`,
      ['logsource'],
    );
  }
}
