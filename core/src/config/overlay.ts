import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/atomic.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { loadConfig, type LoadedConfig } from './load.js';
import { CollectorConfigSchema, type CollectorConfig } from './schema.js';
import { validateAgainstSchema } from './validate.js';

/**
 * Collectors created, changed or removed through the admin API, kept apart from the config file
 * (like Kafka Connect's config topic): the file stays the operator's, and may be read-only
 * (`/etc`, a ConfigMap). The overlay lives in the state folder, which the instance must be able
 * to write anyway, and is applied over the file's `collectors:` at every start and reload.
 *
 * Per collector id: an entry replaces the file's collector of that id (or adds one), `null`
 * removes it. Entries are stored as applied, secret values included, so the file is written
 * 0600 like `admin-token`.
 */
export interface ConfigOverlay {
  version: 1;
  collectors: Record<string, CollectorConfig | null>;
}

export const OVERLAY_FILE = 'config-overlay.json';

/** Largest overlay read: like the config file, settings only. */
const MAX_OVERLAY_BYTES = 1024 * 1024;

export function overlayPath(stateDir: string): string {
  return join(stateDir, OVERLAY_FILE);
}

export function emptyOverlay(): ConfigOverlay {
  return { version: 1, collectors: Object.create(null) as Record<string, CollectorConfig | null> };
}

/** The overlay of `stateDir`; none yet is an empty one. A file that cannot be used is a ConfigError naming it. */
export function readOverlay(stateDir: string): ConfigOverlay {
  const file = overlayPath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyOverlay();
    throw refused(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (Buffer.byteLength(text) > MAX_OVERLAY_BYTES) throw refused(file, `larger than ${MAX_OVERLAY_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw refused(file, 'not valid JSON');
  }
  const collectors = (doc as { collectors?: unknown } | null)?.collectors;
  if ((doc as { version?: unknown } | null)?.version !== 1 || collectors === null || typeof collectors !== 'object' || Array.isArray(collectors))
    throw refused(file, 'not an overlay of this version ({ "version": 1, "collectors": { "<id>": {…} | null } })');
  const out = emptyOverlay();
  for (const [id, entry] of Object.entries(collectors as Record<string, unknown>)) out.collectors[id] = entry as CollectorConfig | null;
  return out;
}

export async function writeOverlay(stateDir: string, overlay: ConfigOverlay): Promise<void> {
  await writeFileAtomic(overlayPath(stateDir), `${JSON.stringify(overlay, null, 2)}\n`, 0o600);
}

function refused(file: string, message: string): ConfigError {
  return new ConfigError(file, [{ path: '', message, fix: `fix or remove ${file}: it holds the collectors changed through the admin API` }], 'CONFIG_INVALID');
}

/**
 * The config with the overlay's collectors applied. Each overlay entry is checked against the
 * collector schema (plugin configs are checked later, with every other collector's, by
 * resolveComponents); ids must stay unique across collectors and enrichers.
 */
export function applyOverlay(loaded: LoadedConfig, overlay: ConfigOverlay): LoadedConfig {
  const ids = Object.keys(overlay.collectors);
  if (ids.length === 0) return loaded;
  const file = overlayPath(loaded.stateDir);
  const problems: ConfigProblem[] = [];
  const collectors = [...loaded.config.collectors];
  const fromOverlay = new Set<number>();
  for (const id of ids) {
    const entry = overlay.collectors[id];
    const at = collectors.findIndex((c) => c.id === id);
    if (entry === null || entry === undefined) {
      if (at >= 0) collectors.splice(at, 1);
      continue;
    }
    const { value, errors } = validateAgainstSchema(CollectorConfigSchema, entry);
    for (const e of errors) problems.push({ path: `collectors.${id}${e.path === '/' ? '' : e.path.replace(/\//g, '.')}`, message: e.message });
    if ((value as CollectorConfig).id !== id) problems.push({ path: `collectors.${id}.id`, message: `the entry of "${id}" names id "${String((value as CollectorConfig).id)}"` });
    if (loaded.config.enrichers.some((e) => e.id === id)) problems.push({ path: `collectors.${id}`, message: `id "${id}" is an enricher's in ${loaded.file}` });
    if (errors.length > 0) continue;
    if (at >= 0) collectors[at] = value as CollectorConfig;
    else collectors.push(value as CollectorConfig);
  }
  for (const [i, c] of collectors.entries()) if (ids.includes(c.id)) fromOverlay.add(i);
  if (problems.length > 0)
    throw new ConfigError(
      file,
      problems.map((p) => ({ ...p, fix: `fix or remove the entry in ${file}` })),
    );
  return {
    ...loaded,
    config: { ...loaded.config, collectors },
    // Lines are the config file's: an entry from the overlay has none there.
    lineOf: (pointer) => {
      const m = /^\/collectors\/(\d+)/.exec(pointer);
      return m && fromOverlay.has(Number(m[1])) ? undefined : loaded.lineOf(pointer);
    },
  };
}

/** `loadConfig` and then the overlay of its state folder: what `fabric start` and a reload run. */
export function loadConfigWithOverlay(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const loaded = loadConfig(file, env);
  return applyOverlay(loaded, readOverlay(loaded.stateDir));
}
