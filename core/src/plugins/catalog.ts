import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { InstalledPlugin } from '../host.js';
import { checkPluginApi, readPluginPackage, type PluginPackage } from './loader.js';
import { packageFolders, type PluginOrigin, type SearchRoot } from './search-path.js';

/**
 * The plugin catalog: every installed package that declares itself a Reactive Fabric plugin, read
 * from its package.json (and the JSON file its `reactiveFabric.configSchema` names) only. Nothing
 * here imports or runs a package's code, so listing plugins (GET /plugins, `fabric plugins list`)
 * cannot be stopped, hung or killed by one of them: a package that calls process.exit(), throws or
 * loops at import is listed like any other.
 */

/** Largest config schema file read (bytes); a schema is a few kilobytes. */
export const MAX_SCHEMA_FILE_BYTES = 1024 * 1024;

const SCHEMA_FIELD = 'reactiveFabric.configSchema';

/** Package folders (realpath) of every plugin package under the roots, nearest copy of each name first, with where it was found. */
export function pluginDirs(roots: readonly SearchRoot[]): Map<string, { dir: string; origin: PluginOrigin; folder: string }> {
  const dirs = new Map<string, { dir: string; origin: PluginOrigin; folder: string }>();
  for (const { dir: nm, origin } of packageFolders(roots)) {
    let entries: string[];
    try {
      entries = readdirSync(nm);
    } catch {
      continue; // no node_modules at this level
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      let names: string[];
      try {
        names = entry.startsWith('@') ? readdirSync(join(nm, entry)).map((n) => `${entry}/${n}`) : [entry];
      } catch {
        continue; // a file or broken link named like a scope
      }
      for (const name of names) {
        const pj = join(nm, name, 'package.json');
        if (dirs.has(name) || !existsSync(pj)) continue;
        try {
          const m = JSON.parse(readFileSync(pj, 'utf8')) as Record<string, unknown>;
          const rf = m.reactiveFabric;
          if (!rf || typeof rf !== 'object') continue;
          const keywords = Array.isArray(m.keywords) ? m.keywords : [];
          if (keywords.includes('reactive-fabric-plugin') || (rf as Record<string, unknown>).kind) dirs.set(name, { dir: dirname(realpathSync(pj)), origin, folder: nm });
        } catch {
          // An unreadable package.json is not ours to report here.
        }
      }
    }
  }
  return dirs;
}

function isInside(dir: string, file: string): boolean {
  const rel = relative(dir, file);
  return rel !== '' && !isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`);
}

/**
 * The JSON Schema a package's `reactiveFabric.configSchema` names: a path relative to the package
 * folder, to a regular file inside it (after symlinks are resolved), holding a JSON object.
 */
export function readConfigSchemaFile(pkg: Pick<PluginPackage, 'name' | 'dir'>, declared: unknown): { schema?: Record<string, unknown>; problem?: string } {
  if (declared === undefined) return {};
  const where = `plugin ${pkg.name}: package.json "${SCHEMA_FIELD}"`;
  if (typeof declared !== 'string' || declared.length === 0) return { problem: `${where} must be a path (string) to a JSON file inside the package` };
  const shown = JSON.stringify(declared);
  if (isAbsolute(declared) || declared.includes('\0') || !isInside(pkg.dir, resolve(pkg.dir, declared))) {
    return { problem: `${where} ${shown} is outside the package folder: refused (it must be a relative path inside the package)` };
  }
  let real: string;
  let realDir: string;
  try {
    realDir = realpathSync(pkg.dir);
    real = realpathSync(resolve(pkg.dir, declared));
  } catch (err) {
    return { problem: `${where} ${shown} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  if (!isInside(realDir, real)) return { problem: `${where} ${shown} leads outside the package folder (through a symbolic link): refused` };
  try {
    const st = statSync(real);
    if (!st.isFile()) return { problem: `${where} ${shown} is not a regular file` };
    if (st.size > MAX_SCHEMA_FILE_BYTES) return { problem: `${where} ${shown} is larger than ${MAX_SCHEMA_FILE_BYTES} bytes` };
    const parsed = JSON.parse(readFileSync(real, 'utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: `${where} ${shown} does not hold a JSON Schema object` };
    return { schema: parsed as Record<string, unknown> };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { problem: `${where} ${shown} cannot be read: ${err instanceof SyntaxError ? `invalid JSON (${e.message})` : (e.code ?? e.message)}` };
  }
}

/** One installed plugin package, described from its metadata alone. */
export function catalogEntry(name: string, dir: string): InstalledPlugin {
  const pkg = readPluginPackage(dir);
  const rf = (pkg.manifest.reactiveFabric ?? {}) as Record<string, unknown>;
  const description = typeof rf.description === 'string' ? rf.description : pkg.description;
  const item: InstalledPlugin = { name, version: pkg.version, kind: pkg.kind, apiRange: pkg.apiRange, compatible: false, ...(description !== undefined ? { description } : {}) };
  const problems: string[] = [];
  try {
    checkPluginApi(pkg.name, pkg.apiRange, 'package.json "reactiveFabric.pluginApi"');
    item.compatible = true;
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (pkg.kind === 'unknown') problems.push(`plugin ${name}: package.json "reactiveFabric.kind" must be "source" or "enricher"`);
  const { schema, problem } = readConfigSchemaFile({ name, dir }, rf.configSchema);
  if (schema) item.configSchema = schema;
  if (problem) problems.push(problem);
  if (problems.length) item.problem = problems.join('\n');
  return item;
}

/** Every installed package that declares itself a Reactive Fabric plugin, compatible or not, by name. */
export function readCatalog(roots: readonly SearchRoot[]): InstalledPlugin[] {
  return [...pluginDirs(roots)]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, { dir }]) => {
      try {
        return catalogEntry(name, dir);
      } catch (err) {
        // The package.json changed or vanished between the scan and now.
        return { name, version: '0.0.0', kind: 'unknown', apiRange: '', compatible: false, problem: `plugin ${name}: package.json cannot be read: ${(err as Error).message}` };
      }
    });
}

/** The catalog for GET /plugins and `fabric plugins list` (async for callers that await it). */
export async function listInstalledPlugins(roots: readonly SearchRoot[]): Promise<InstalledPlugin[]> {
  return readCatalog(roots);
}
