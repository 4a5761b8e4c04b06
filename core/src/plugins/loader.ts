import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describeSearchPath, packageFolders, type SearchRoot } from './search-path.js';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import { FabricError } from '../errors/fabric-error.js';
import { PLUGIN_API_VERSION, type PluginDefinition, type PluginKind } from '../plugin-api/index.js';

/** Stable codes for every way loading a plugin can fail. */
export type PluginLoadCode = 'PLUGIN_NOT_INSTALLED' | 'PLUGIN_API_MISMATCH' | 'PLUGIN_INVALID' | 'PLUGIN_CONFIG_INVALID' | 'PLUGIN_KIND_MISMATCH';

export class PluginLoadError extends FabricError {
  declare readonly code: PluginLoadCode;
  constructor(
    code: PluginLoadCode,
    readonly pluginName: string,
    message: string,
    readonly fix?: string,
  ) {
    super(code, fix ? `${message}\n  fix: ${fix}` : message);
  }
}

export interface PluginPackage {
  name: string;
  version: string;
  dir: string;
  entry: string;
  apiRange: string;
  kind: PluginKind | 'unknown';
  description?: string;
  manifest: Record<string, unknown>;
}

export interface LoadedPlugin {
  pkg: PluginPackage;
  definition: PluginDefinition;
}

/**
 * The host project roots: the folder `fabric` runs in, then the config file's folder (each with
 * its parents' node_modules). The full search path, with plugin_paths and the installed fabric,
 * is `pluginSearchPath` (search-path.ts).
 */
export function searchRoots(cwd: string, configDir?: string): string[] {
  const roots = [resolve(cwd)];
  if (configDir && resolve(configDir) !== resolve(cwd)) roots.push(resolve(configDir));
  return roots;
}

/**
 * Every folder a package name is resolved in, in lookup order (`search-path.ts`): a project root's
 * node_modules, then its parents' (Node's own resolution); a plugin_paths entry itself. Loading and
 * listing both use it, so GET /plugins shows exactly the plugins a config can name.
 */
export function nodeModulesDirs(roots: readonly SearchRoot[]): string[] {
  return packageFolders(roots).map((f) => f.dir);
}

function findPackageDir(name: string, roots: readonly SearchRoot[]): string | undefined {
  for (const nm of nodeModulesDirs(roots)) {
    const candidate = join(nm, name, 'package.json');
    if (existsSync(candidate)) return dirname(realpathSync(candidate));
  }
  return undefined;
}

function entryOf(manifest: Record<string, unknown>): string | undefined {
  const exp = manifest.exports as unknown;
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return pick(o.import) ?? pick(o.default) ?? pick(o.node);
    }
    return undefined;
  };
  if (exp && typeof exp === 'object' && !Array.isArray(exp) && '.' in (exp as object)) return pick((exp as Record<string, unknown>)['.']);
  return pick(exp) ?? (typeof manifest.main === 'string' ? manifest.main : undefined) ?? 'index.js';
}

export function readPluginPackage(dir: string): PluginPackage {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  const rf = (manifest.reactiveFabric ?? {}) as Record<string, unknown>;
  const name = String(manifest.name ?? dir);
  return {
    name,
    version: String(manifest.version ?? '0.0.0'),
    dir,
    entry: join(dir, entryOf(manifest) ?? 'index.js'),
    apiRange: typeof rf.pluginApi === 'string' ? rf.pluginApi : '',
    kind: rf.kind === 'source' || rf.kind === 'enricher' ? rf.kind : 'unknown',
    description: typeof manifest.description === 'string' ? manifest.description : undefined,
    manifest,
  };
}

/** npm's package name shape (optionally scoped), which also keeps a name from reaching outside node_modules. */
export function isPackageName(name: string): boolean {
  return name.length <= 214 && /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i.test(name);
}

/** Throws PluginLoadError when `range` (from `where`) does not include this host's plugin API. */
export function checkPluginApi(name: string, range: string, where: string): void {
  if (!range) {
    throw new PluginLoadError(
      'PLUGIN_INVALID',
      name,
      `package ${name} is not a Reactive Fabric plugin: its ${where} has no plugin API range`,
      `add "reactiveFabric": { "pluginApi": "^1.0.0", "kind": "source" } to its package.json`,
    );
  }
  if (!semver.validRange(range)) {
    throw new PluginLoadError('PLUGIN_INVALID', name, `plugin ${name} declares an invalid plugin API range "${range}" in its ${where}`, 'use a semver range such as "^1.0.0"');
  }
  if (!semver.satisfies(PLUGIN_API_VERSION, range)) {
    throw new PluginLoadError(
      'PLUGIN_API_MISMATCH',
      name,
      `plugin ${name} requires plugin API ${range}, but this Reactive Fabric provides plugin API ${PLUGIN_API_VERSION}`,
      semver.gtr(PLUGIN_API_VERSION, range)
        ? `install a newer ${name} built for plugin API ${PLUGIN_API_VERSION}`
        : `upgrade @reactive-fabric/core to a version that provides plugin API ${range}, or install an older ${name}`,
    );
  }
}

const cache = new Map<string, Promise<LoadedPlugin>>();

/**
 * The installed package a config names, with its package.json checked (the plugin API range):
 * everything that can be known without running the package's code.
 */
export function resolvePluginPackage(name: string, roots: readonly SearchRoot[]): PluginPackage {
  // A name that could climb out of a node_modules folder is not a package name: never resolved.
  const dir = isPackageName(name) ? findPackageDir(name, roots) : undefined;
  if (!dir) {
    // Never "install <name>" here: the name is as typed, unverified (typosquatting). The config
    // check (resolve.ts) suggests the nearest installed or bundled plugin instead.
    throw new PluginLoadError(
      'PLUGIN_NOT_INSTALLED',
      name,
      `plugin package ${name} is not installed (searched: ${describeSearchPath(roots).join('; ')})`,
      '`fabric plugins list` shows the installed plugins and where they are searched for; add a folder with plugin_paths or FABRIC_PLUGIN_PATH',
    );
  }
  const pkg = readPluginPackage(dir);
  checkPluginApi(pkg.name, pkg.apiRange, 'package.json "reactiveFabric.pluginApi"');
  return pkg;
}

/** Resolve, check and import a plugin package in this thread. Cached per resolved directory. */
export async function loadPlugin(name: string, roots: readonly SearchRoot[]): Promise<LoadedPlugin> {
  const pkg = resolvePluginPackage(name, roots);
  let pending = cache.get(pkg.dir);
  if (!pending) {
    pending = importPlugin(pkg);
    cache.set(pkg.dir, pending);
    pending.catch(() => cache.delete(pkg.dir));
  }
  return pending;
}

async function importPlugin(pkg: PluginPackage): Promise<LoadedPlugin> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(pkg.entry).href)) as { default?: unknown };
  } catch (err) {
    throw new PluginLoadError(
      'PLUGIN_INVALID',
      pkg.name,
      `plugin ${pkg.name}@${pkg.version} failed to load from ${pkg.entry}: ${(err as Error).message}`,
      `rebuild or reinstall ${pkg.name}`,
    );
  }
  return checkDefinition(pkg, mod.default as Partial<PluginDefinition> | undefined);
}

/**
 * What a package default-exports, checked: the fields definePlugin requires, the kind and the API
 * range. `def` comes from an import in this thread, or from the plugin's worker (then without
 * functions: `create` runs there).
 */
export function checkDefinition(pkg: PluginPackage, def: Partial<PluginDefinition> | undefined, options: { inWorker?: boolean } = {}): LoadedPlugin {
  const required = options.inWorker
    ? (['name', 'version', 'kind', 'apiVersion', 'configSchema'] as const)
    : (['name', 'version', 'kind', 'apiVersion', 'configSchema', 'create'] as const);
  const missing = required.filter((k) => def?.[k] === undefined);
  if (!def || missing.length > 0) {
    throw new PluginLoadError(
      'PLUGIN_INVALID',
      pkg.name,
      `plugin ${pkg.name} does not default-export definePlugin({...})${missing.length ? `: missing ${missing.join(', ')}` : ''}`,
      'export default definePlugin({ name, version, kind, apiVersion, configSchema, create })',
    );
  }
  if (def.kind !== 'source' && def.kind !== 'enricher') {
    throw new PluginLoadError('PLUGIN_INVALID', pkg.name, `plugin ${pkg.name} has kind "${String(def.kind)}"`, 'kind must be "source" or "enricher"');
  }
  checkPluginApi(pkg.name, def.apiVersion!, 'definePlugin apiVersion');
  return { pkg: { ...pkg, kind: def.kind }, definition: def as PluginDefinition };
}
