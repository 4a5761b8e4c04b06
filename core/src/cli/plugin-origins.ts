import type { CliIo } from './command.js';
import { configPath } from './config-arg.js';
import { loadConfig } from '../config/load.js';
import type { InstalledPlugin } from '../host.js';
import { pluginDirs } from '../plugins/catalog.js';
import { describeSearchPath, pluginSearchPath, type PluginOrigin, type SearchEntry } from '../plugins/search-path.js';

/**
 * `fabric plugins list`: where each plugin was found and the search path, so "is not installed"
 * and "which copy runs?" can be answered without reading node_modules by hand.
 */

/** The search path `fabric start -c <config>` would use; without a config, the one from here. */
export function pluginSearchRoots(config: string | undefined, io: CliIo): SearchEntry[] {
  if (config === undefined) return pluginSearchPath({ cwd: io.cwd, env: io.env });
  const loaded = loadConfig(configPath(config, io.cwd), io.env);
  return pluginSearchPath({ cwd: io.cwd, configDir: loaded.dir, pluginPaths: loaded.config.plugin_paths, env: io.env });
}

export function withOrigins(plugins: InstalledPlugin[], roots: SearchEntry[]): Array<InstalledPlugin & { dir?: string; origin?: PluginOrigin }> {
  const where = pluginDirs(roots);
  return plugins.map((p) => {
    const w = where.get(p.name);
    return w ? { ...p, dir: w.dir, origin: w.origin } : p;
  });
}

export function printPluginOrigins(io: CliIo, plugins: InstalledPlugin[], roots: SearchEntry[], printTable: (io: CliIo, header: string[], rows: string[][]) => void): void {
  if (plugins.length === 0) io.stdout.write('no plugin packages found on the search path\n');
  else
    printTable(
      io,
      ['PLUGIN', 'VERSION', 'KIND', 'API', 'FROM', 'COMPATIBLE'],
      withOrigins(plugins, roots).map((p) => [p.name, p.version, p.kind, p.apiRange || '-', p.origin ?? '-', p.compatible ? 'yes' : `NO: ${p.problem?.split('\n')[0] ?? ''}`]),
    );
  io.stdout.write(
    `\nsearch path, in order (FABRIC_PLUGIN_PATH, plugin_paths, then the defaults):\n${describeSearchPath(roots)
      .map((l, i) => `  ${i + 1}. ${l}`)
      .join('\n')}\n`,
  );
}
