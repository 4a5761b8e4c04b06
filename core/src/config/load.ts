import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode } from 'yaml';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import { pointerGet, schemaAt, secretValues, validateAgainstSchema } from './validate.js';
import { isSecretSchema } from '../plugin-api/schema.js';
import { registerSecret } from '../logging.js';
import { ConfigError, pointerToPath, type ConfigProblem } from './errors.js';
import { FabricConfigSchema, type FabricConfig } from './schema.js';

export interface LoadedConfig {
  config: FabricConfig;
  /** Absolute path of the file. */
  file: string;
  /** Folder of the file: relative paths in the config resolve against it. */
  dir: string;
  /** Absolute state folder. */
  stateDir: string;
  /** Values that came from ${ENV} interpolation: treated as secrets in logs. */
  interpolated: string[];
  /**
   * JSON pointers of the values that ${ENV} interpolation produced, with the variables used, so
   * plugin configs (validated later, against the plugin's schema) can coerce them to numbers and
   * booleans too.
   */
  envRefs?: Map<string, string[]>;
  /** 1-based line of a JSON pointer in the file, for error messages about nested fields. */
  lineOf(pointer: string): number | undefined;
}

/**
 * Largest config file read. A config holds settings, not data: a bigger file is a mistake or an
 * attack, and parsing a 14 MB YAML file took 20 s and 1.8 GB before this limit.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Alias uses allowed when building the config from YAML (defeats "billion laughs" documents). */
export const MAX_YAML_ALIASES = 100;

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function tooLarge(file: string, size: string): ConfigError {
  return new ConfigError(
    file,
    [
      {
        path: '',
        message: `the file is ${size}; config files are limited to ${MAX_CONFIG_BYTES} bytes (1 MiB)`,
        fix: 'keep settings in the config and move data (rules, indicator lists) into the files it points at',
      },
    ],
    'CONFIG_TOO_LARGE',
  );
}

/** Read at most MAX_CONFIG_BYTES + 1 bytes, so neither a huge file nor a device without end is read whole. */
function readBounded(abs: string): string {
  let fd: number;
  try {
    fd = openSync(abs, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      abs,
      [{ path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`, fix: 'pass an existing YAML file with -c <file>' }],
      'CONFIG_NOT_FOUND',
    );
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new ConfigError(abs, [{ path: '', message: 'is a folder, not a file', fix: 'pass the YAML file itself with -c <file>' }], 'CONFIG_NOT_FOUND');
    if (stat.isFile() && stat.size > MAX_CONFIG_BYTES) throw tooLarge(abs, mib(stat.size));
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_CONFIG_BYTES) throw tooLarge(abs, 'larger than 1 MiB');
    }
    return buf.subarray(0, length).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      abs,
      [{ path: '', message: `cannot read file (${code ?? (err as Error).message})`, fix: 'pass a readable YAML file with -c <file>' }],
      'CONFIG_NOT_FOUND',
    );
  } finally {
    closeSync(fd);
  }
}

/**
 * Read, interpolate and validate a config file. Unknown keys are refused by name: a typo must
 * never fall back silently to a default.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const abs = resolve(file);
  return parseConfig(readBounded(abs), abs, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { draft, problems } = analyzeConfig(text, file, env);
  if (problems.length > 0) {
    const onlyEnv = problems.every((p) => p.message.startsWith('environment variable') && p.message.endsWith('is not set'));
    throw new ConfigError(file, problems, onlyEnv ? 'CONFIG_ENV_MISSING' : 'CONFIG_INVALID');
  }
  return draft;
}

/**
 * `fabric validate`: the config's problems without stopping at them, and the config as far as it
 * could be read (defaults applied, invalid parts left as they are), so the plugins it names can be
 * checked in the same run. Throws only when the file cannot be read as YAML at all.
 */
export function inspectConfig(file: string, env: NodeJS.ProcessEnv = process.env): { draft: LoadedConfig; problems: ConfigProblem[] } {
  const abs = resolve(file);
  return analyzeConfig(readBounded(abs), abs, env);
}

function analyzeConfig(text: string, file: string, env: NodeJS.ProcessEnv): { draft: LoadedConfig; problems: ConfigProblem[] } {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw tooLarge(file, mib(Buffer.byteLength(text)));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.slice(0, 20).map((e) => ({
        path: '',
        line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line,
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
        fix: 'fix the YAML syntax at that line',
      })),
      'CONFIG_SYNTAX',
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) ?? {};
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    const aliases = /alias/i.test(message);
    throw new ConfigError(
      file,
      [
        {
          path: '',
          message: aliases ? `YAML aliases (*name) expand to too much data (more than ${MAX_YAML_ALIASES} alias uses allowed)` : `YAML cannot be read: ${message.split('\n')[0]}`,
          fix: aliases ? 'write the values out instead of nesting aliases of aliases' : 'fix the YAML',
        },
      ],
      'CONFIG_SYNTAX',
    );
  }
  const lineOf = (pointer: string): number | undefined => {
    const keys = pointer
      .split('/')
      .slice(1)
      .map((k) => (/^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~')));
    // Walk down to the deepest node that exists, so a missing field points at its parent.
    for (let n = keys.length; n >= 0; n--) {
      const node = doc.getIn(keys.slice(0, n), true) as YamlNode | undefined;
      const range = node && (isMap(node) || isSeq(node) || isScalar(node)) ? node.range : undefined;
      if (range) return lineCounter.linePos(range[0]).line;
    }
    return undefined;
  };

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', message: 'the config must be a YAML mapping (key: value)', line: 1 }]);
  }
  const shape = shapeProblem(raw);
  if (shape)
    throw new ConfigError(
      file,
      [{ path: pointerToPath(shape.pointer), line: lineOf(shape.pointer), message: shape.message, fix: 'write the value out instead of an alias of its own container' }],
      'CONFIG_SYNTAX',
    );

  // Every problem is gathered and reported together: fixing one to discover the next is slow.
  const problems: ConfigProblem[] = [];
  const interpolated: string[] = [];
  const envRefs = new Map<string, string[]>();
  const value = interpolate(
    raw,
    '',
    env,
    (pointer, name) => {
      problems.push({
        path: pointerToPath(pointer),
        line: lineOf(pointer),
        message: `environment variable ${name} is not set`,
        fix: `export ${name}=... before starting, or write \${${name}:-default}`,
      });
    },
    interpolated,
    envRefs,
  );
  // Secret fields are known before validation, so no error message below can print one.
  for (const s of secretValues(FabricConfigSchema, value)) registerSecret(s);
  const missingEnv = new Set(problems.map((p) => p.path));
  problems.push(...coerceInterpolated(FabricConfigSchema, value, envRefs, lineOf));

  const { value: withDefaults, errors } = validateAgainstSchema(FabricConfigSchema, value);
  for (const e of errors) {
    const path = pointerToPath(e.path);
    if (missingEnv.has(path) || problems.some((p) => p.path === path && p.message.includes('environment variable'))) continue;
    problems.push({ path, line: lineOf(e.path), message: e.value === undefined ? e.message : `${e.message} (got ${JSON.stringify(e.value)?.slice(0, 80)})` });
  }
  const seen = new Set<string>();
  for (const section of ['collectors', 'enrichers'] as const) {
    const items = (withDefaults as Record<string, unknown>)[section];
    if (!Array.isArray(items)) continue;
    items.forEach((c: unknown, i) => {
      const id = (c as { id?: unknown } | null)?.id;
      if (typeof id !== 'string') return;
      if (seen.has(id))
        problems.push({
          path: `${section}[${i}].id`,
          line: lineOf(`/${section}/${i}/id`),
          message: section === 'collectors' ? `duplicate collector id "${id}"` : `duplicate id "${id}"`,
          fix: 'give every collector and enricher a unique id',
        });
      seen.add(id);
    });
  }
  const config = withDefaults as FabricConfig;
  problems.push(...clusterProblems(config, lineOf));
  const dir = dirname(file);
  const stateDir = resolve(dir, typeof config.state_dir === 'string' ? config.state_dir : './.fabric');
  return { draft: { config, file, dir, stateDir, interpolated, envRefs, lineOf }, problems };
}

/**
 * What the schema cannot say about `cluster:`: it needs the Kafka sink (Kafka is the cluster's
 * engine), and a pinned collector must be one of the configured ones.
 */
function clusterProblems(config: FabricConfig, lineOf: (pointer: string) => number | undefined): ConfigProblem[] {
  const cluster = config.cluster as FabricConfig['cluster'] | undefined;
  if (!cluster || typeof cluster !== 'object') return [];
  const problems: ConfigProblem[] = [];
  const sinkType = (config.sink as { type?: unknown } | undefined)?.type;
  if (sinkType !== 'kafka')
    problems.push({
      path: 'cluster',
      line: lineOf('/cluster'),
      message: `cluster mode needs the Kafka sink: its instances share collectors, checkpoints and status through Kafka, and sink.type is ${JSON.stringify(sinkType ?? 'jsonl')}`,
      fix: 'set sink: { type: kafka, brokers: [...] }, or remove the cluster section to run one instance on local files',
    });
  const ids = new Set(Array.isArray(config.collectors) ? config.collectors.map((c) => c?.id) : []);
  for (const id of Object.keys(cluster.pinned ?? {})) {
    if (ids.has(id)) continue;
    problems.push({
      path: `cluster.pinned.${id}`,
      line: lineOf(`/cluster/pinned/${id.replace(/~/g, '~0').replace(/\//g, '~1')}`),
      message: `"${id}" is not a configured collector`,
      fix: `pin one of: ${[...ids].filter((x) => typeof x === 'string').join(', ') || '(no collectors configured)'}`,
    });
  }
  return problems;
}

/** Deeper than any real config: a document this nested is a mistake or an attack. */
const MAX_DEPTH = 64;

/**
 * A YAML alias inside the node it names (`a: &a [*a]`) builds a cyclic value, and everything
 * that walks the config would recurse forever: find that (and absurd nesting) first.
 */
function shapeProblem(root: unknown): { pointer: string; message: string } | undefined {
  const ancestors = new Set<object>();
  const walk = (v: unknown, pointer: string, depth: number): { pointer: string; message: string } | undefined => {
    if (v === null || typeof v !== 'object') return undefined;
    if (ancestors.has(v)) return { pointer, message: 'a YAML alias refers to a node that contains it (a cycle)' };
    if (depth > MAX_DEPTH) return { pointer, message: `nested more than ${MAX_DEPTH} levels deep` };
    ancestors.add(v);
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    for (const [k, x] of entries) {
      const found = walk(x, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, depth + 1);
      if (found) return found;
    }
    ancestors.delete(v);
    return undefined;
  };
  return walk(root, '', 0);
}

const SCALAR_TYPES = new Set(['number', 'integer', 'boolean']);

/**
 * `${ENV}` always yields text; where the schema wants a number, integer or boolean, convert it
 * in place and check the result against that field's schema. Returns a problem per value that does not convert, naming the
 * variable and the field; the value itself is shown only for fields that are not secret.
 */
export function coerceInterpolated(
  schema: unknown,
  document: unknown,
  refs: Map<string, string[]>,
  lineOf: (pointer: string) => number | undefined,
  prefix = '',
  label = '',
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [pointer, names] of refs) {
    if (!pointer.startsWith(`${prefix}/`) && pointer !== prefix) continue;
    const local = pointer.slice(prefix.length);
    const target = schemaAt(schema, local, document) as Record<string, unknown> | undefined;
    if (!target || !SCALAR_TYPES.has(String(target.type))) continue;
    const current = pointerGet(document, local);
    if (typeof current !== 'string') continue;
    const converted = convertScalar(String(target.type), current);
    const vars = names.map((n) => `\${${n}}`).join(', ');
    if (converted !== undefined && Value.Check(target as unknown as TSchema, converted)) {
      setAt(document, local, converted);
      continue;
    }
    const want = target.type === 'boolean' ? 'true or false' : target.type === 'integer' ? 'a whole number' : 'a number';
    problems.push({
      path: pointerToPath(pointer),
      line: lineOf(pointer),
      message: `${label}${names.length === 1 ? 'environment variable' : 'environment variables'} ${vars} must give ${want} here${isSecretSchema(target) ? '' : `, got ${JSON.stringify(current.slice(0, 80))}`}`,
      fix: `set ${names.join(', ')} to ${want}`,
    });
  }
  return problems;
}

const NUMBER_TEXT = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Strict: "1.5" is not an integer and "yes" is not a boolean (TypeBox's Value.Convert would
 * truncate or guess; a config value that is silently changed is worse than an error).
 */
function convertScalar(type: string, text: string): number | boolean | undefined {
  const t = text.trim();
  if (type === 'boolean') return /^true$/i.test(t) ? true : /^false$/i.test(t) ? false : undefined;
  if (!NUMBER_TEXT.test(t)) return undefined;
  const n = Number(t);
  if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) return undefined;
  return n;
}

function setAt(document: unknown, pointer: string, value: unknown): void {
  const keys = pointer
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop();
  const parent = pointerGet(document, keys.length ? `/${keys.map((k) => k.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}` : '');
  if (last !== undefined && parent !== null && typeof parent === 'object') (parent as Record<string, unknown>)[last] = value;
}

/**
 * Variables whose values are the product's own public names, not secrets: the cluster instance id
 * is in every status record and `GET /cluster`; redacting it made a cluster's logs say
 * `"instance":"[redacted]"` on every line of every instance (configs put it in state_dir).
 */
const PUBLIC_VARIABLES = new Set(['FABRIC_INSTANCE_ID']);

function interpolate(
  value: unknown,
  pointer: string,
  env: NodeJS.ProcessEnv,
  missing: (pointer: string, name: string) => void,
  out: string[],
  refs: Map<string, string[]>,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const names: string[] = [];
    const result = value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      names.push(name);
      const v = env[name];
      if (v !== undefined && v !== '') {
        if (!PUBLIC_VARIABLES.has(name)) out.push(v);
        return v;
      }
      if (fallback !== undefined) return fallback;
      missing(pointer, name);
      return '';
    });
    if (names.length > 0) refs.set(pointer, names);
    return result;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, `${pointer}/${i}`, env, missing, out, refs));
  if (value && typeof value === 'object') {
    // Null prototype: a "__proto__" key in the YAML stays a plain key and reaches validation as unknown.
    const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) o[k] = interpolate(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, env, missing, out, refs);
    return o;
  }
  return value;
}
