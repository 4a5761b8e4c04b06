import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode } from 'yaml';
import { validateAgainstSchema } from '../plugins/validate.js';
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
  /** 1-based line of a JSON pointer in the file, for error messages about nested fields. */
  lineOf(pointer: string): number | undefined;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Read, interpolate and validate a config file. Unknown keys are refused by name: a typo must
 * never fall back silently to a default.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(abs, [{ path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`, fix: 'pass an existing YAML file with -c <file>' }], 'CONFIG_NOT_FOUND');
  }
  return parseConfig(text, abs, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line, message: `YAML syntax: ${e.message.split('\n')[0]}`, fix: 'fix the YAML syntax at that line' })),
      'CONFIG_SYNTAX',
    );
  }
  const raw = doc.toJS() ?? {};
  const lineOf = (pointer: string): number | undefined => {
    const keys = pointer.split('/').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~')));
    // Walk down to the deepest node that exists, so a missing field points at its parent.
    for (let n = keys.length; n >= 0; n--) {
      const node = doc.getIn(keys.slice(0, n), true) as YamlNode | undefined;
      const range = node && (isMap(node) || isSeq(node) || isScalar(node)) ? node.range : undefined;
      if (range) return lineCounter.linePos(range[0]).line;
    }
    return undefined;
  };

  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', message: 'the config must be a YAML mapping (key: value)', line: 1 }]);
  }

  const problems: ConfigProblem[] = [];
  const interpolated: string[] = [];
  const value = interpolate(raw, '', env, (pointer, name) => {
    problems.push({ path: pointerToPath(pointer), line: lineOf(pointer), message: `environment variable ${name} is not set`, fix: `export ${name}=... before starting, or write \${${name}:-default}` });
  }, interpolated);
  if (problems.length > 0) throw new ConfigError(file, problems, 'CONFIG_ENV_MISSING');

  const { value: withDefaults, errors } = validateAgainstSchema(FabricConfigSchema, value);
  if (errors.length > 0) {
    throw new ConfigError(
      file,
      errors.map((e) => ({
        path: pointerToPath(e.path),
        line: lineOf(e.path),
        message: e.value === undefined ? e.message : `${e.message} (got ${JSON.stringify(e.value)?.slice(0, 80)})`,
      })),
    );
  }
  const config = withDefaults as FabricConfig;
  const seen = new Set<string>();
  config.collectors.forEach((c, i) => {
    if (seen.has(c.id)) problems.push({ path: `collectors[${i}].id`, line: lineOf(`/collectors/${i}/id`), message: `duplicate collector id "${c.id}"`, fix: 'give every collector and enricher a unique id' });
    seen.add(c.id);
  });
  config.enrichers.forEach((c, i) => {
    if (seen.has(c.id)) problems.push({ path: `enrichers[${i}].id`, line: lineOf(`/enrichers/${i}/id`), message: `duplicate id "${c.id}"`, fix: 'give every collector and enricher a unique id' });
    seen.add(c.id);
  });
  if (problems.length > 0) throw new ConfigError(file, problems);

  const dir = dirname(file);
  return { config, file, dir, stateDir: resolve(dir, config.state_dir), interpolated, lineOf };
}

function interpolate(value: unknown, pointer: string, env: NodeJS.ProcessEnv, missing: (pointer: string, name: string) => void, out: string[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') {
        out.push(v);
        return v;
      }
      if (fallback !== undefined) return fallback;
      missing(pointer, name);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, `${pointer}/${i}`, env, missing, out));
  if (value && typeof value === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) o[k] = interpolate(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, env, missing, out);
    return o;
  }
  return value;
}
