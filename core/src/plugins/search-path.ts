import { realpathSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where plugin packages are looked for, in order, and why each place is there (so `fabric plugins
 * list` can say where a plugin came from):
 *
 * 1. `FABRIC_PLUGIN_PATH` (entries separated by the platform's path delimiter) — for one run;
 * 2. `plugin_paths` in the config (relative to the config file) — Kafka Connect's `plugin.path`;
 * 3. the working directory's and the config folder's node_modules, and their parents' (Node's own
 *    resolution: `pnpm add <plugin>` in the host project);
 * 4. the installed fabric's own node_modules chain, so the plugins installed beside it are found
 *    whatever the working directory (`fabric` run from `/` with a config in `/etc`).
 *
 * A plugin_paths entry is a folder packages are looked up in by name (`<entry>/<name>`), like a
 * node_modules folder; its own `node_modules` subfolder, when there is one, is searched after it.
 */

export type PluginOrigin = 'FABRIC_PLUGIN_PATH' | 'plugin_paths' | 'working directory' | 'config folder' | 'fabric installation' | 'project';

export interface SearchEntry {
  dir: string;
  origin: PluginOrigin;
  /** Look in `<dir>/node_modules` and every parent's (a project root), instead of `dir` itself. */
  walkUp?: boolean;
}

/** A project root (its node_modules chain is searched) or an explicit search entry. */
export type SearchRoot = string | SearchEntry;

/** The folder of the @reactive-fabric/core package this code runs from (dist/ or src/ below it). */
export function fabricInstallDir(): string {
  const dir = fileURLToPath(new URL('../..', import.meta.url));
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

export interface SearchPathInput {
  cwd: string;
  configDir?: string;
  /** `plugin_paths` from the config, as written. */
  pluginPaths?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

export function pluginSearchPath(input: SearchPathInput): SearchEntry[] {
  const out: SearchEntry[] = [];
  const fromEnv = (input.env?.FABRIC_PLUGIN_PATH ?? '').split(delimiter).filter((p) => p.trim() !== '');
  for (const p of fromEnv) out.push({ dir: resolve(input.cwd, p), origin: 'FABRIC_PLUGIN_PATH' });
  for (const p of input.pluginPaths ?? []) out.push({ dir: resolve(input.configDir ?? input.cwd, p), origin: 'plugin_paths' });
  out.push({ dir: resolve(input.cwd), origin: 'working directory', walkUp: true });
  if (input.configDir && resolve(input.configDir) !== resolve(input.cwd)) out.push({ dir: resolve(input.configDir), origin: 'config folder', walkUp: true });
  out.push({ dir: fabricInstallDir(), origin: 'fabric installation', walkUp: true });
  return out;
}

/**
 * Every folder a package name is resolved in, in lookup order, each with the origin of the first
 * search entry that reached it. Loading and listing both use it, so GET /plugins shows exactly
 * the plugins a config can name.
 */
export function packageFolders(roots: readonly SearchRoot[]): Array<{ dir: string; origin: PluginOrigin }> {
  const out: Array<{ dir: string; origin: PluginOrigin }> = [];
  const add = (dir: string, origin: PluginOrigin) => {
    if (!out.some((o) => o.dir === dir)) out.push({ dir, origin });
  };
  for (const root of roots) {
    const entry: SearchEntry = typeof root === 'string' ? { dir: resolve(root), origin: 'project', walkUp: true } : root;
    if (!entry.walkUp) {
      add(entry.dir, entry.origin);
      add(join(entry.dir, 'node_modules'), entry.origin);
      continue;
    }
    let dir = entry.dir;
    for (;;) {
      add(join(dir, 'node_modules'), entry.origin);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return out;
}

/** The search path as one line per entry, for messages and `fabric plugins list`. */
export function describeSearchPath(roots: readonly SearchRoot[]): string[] {
  return roots.map((r) => (typeof r === 'string' ? `${resolve(r)} (node_modules and parents')` : `${r.dir}${r.walkUp ? " (node_modules and parents')" : ''}  [${r.origin}]`));
}
