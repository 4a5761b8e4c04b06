import type { CollectorConfig, EnricherConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError, pointerToPath, type ConfigProblem } from '../config/errors.js';
import { coerceInterpolated } from '../config/load.js';
import { checkDefinition, loadPlugin, PluginLoadError, resolvePluginPackage, type LoadedPlugin } from './loader.js';
import { secretValues, validateAgainstSchema } from '../config/validate.js';
import { ErrorCodes, isPluginError, PluginError, type PluginDefinition } from '../plugin-api/index.js';
import { isolationOf } from '../isolation/policy.js';
import { WorkerPlugin } from '../isolation/worker-plugin.js';
import type { SearchRoot } from './search-path.js';
import { notInstalledFix } from './suggest.js';

export interface ResolvedComponent {
  /** "collectors" or "enrichers": the config section it came from. */
  section: 'collectors' | 'enrichers';
  index: number;
  config: CollectorConfig | EnricherConfig;
  loaded: LoadedPlugin;
  /** Plugin config after validation with defaults applied. */
  pluginConfig: unknown;
  secrets: string[];
  /**
   * The plugin's import failed in its worker when the config was loaded (it exited, threw, looped
   * or leaked there): its config block is validated by the worker at each start instead, and the
   * collector's start fails, within its restart budget, until the import works.
   */
  validateInWorker?: boolean;
}

export interface ResolveOptions {
  /**
   * Keep a worker-isolated collector whose plugin fails at import (run: the collector fails on
   * its own, supervised), instead of refusing the whole config (validate: the default).
   */
  deferBrokenImports?: boolean;
}

/**
 * A worker-isolated source's plugin, read without importing it here: package.json checked in this
 * thread, the definition's data read by a throw-away worker.
 */
export async function inspectPlugin(
  name: string,
  roots: readonly SearchRoot[],
  limits: Parameters<typeof WorkerPlugin.inspect>[1],
): Promise<LoadedPlugin | { pkg: LoadedPlugin['pkg']; failure: PluginError }> {
  const pkg = resolvePluginPackage(name, roots);
  let data;
  try {
    data = await WorkerPlugin.inspect(pkg.entry, limits);
  } catch (err) {
    if (isPluginError(err)) return { pkg, failure: err };
    throw err;
  }
  const create = (): never => {
    throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `plugin ${name} runs in its collector's worker thread; it is not created in the host`);
  };
  return checkDefinition(pkg, { ...(data as Partial<PluginDefinition>), create }, { inWorker: true });
}

/**
 * Load every plugin the config names and validate each component's `config` block against its
 * plugin's schema. All problems are reported at once, each naming the component, the package
 * and what to do — so removing a plugin package tells you which collectors still use it.
 */
export async function resolveComponents(loaded: LoadedConfig, roots: readonly SearchRoot[], options: ResolveOptions = {}): Promise<ResolvedComponent[]> {
  const problems: ConfigProblem[] = [];
  const out: ResolvedComponent[] = [];
  const entries: Array<['collectors' | 'enrichers', number, CollectorConfig | EnricherConfig]> = [
    ...loaded.config.collectors.map((c, i) => ['collectors', i, c] as ['collectors', number, CollectorConfig]),
    ...loaded.config.enrichers.map((c, i) => ['enrichers', i, c] as ['enrichers', number, EnricherConfig]),
  ];
  for (const [section, index, component] of entries) {
    if (!component.enabled) continue;
    const label = section === 'collectors' ? 'collector' : 'enricher';
    const pointer = `/${section}/${index}`;
    let plugin: LoadedPlugin;
    try {
      const isolation = isolationOf(component, loaded.config.orchestrator);
      if (isolation.mode === 'worker') {
        const inspected = await inspectPlugin(component.plugin, roots, isolation.limits);
        if ('failure' in inspected) {
          const f = inspected.failure;
          if (options.deferBrokenImports) {
            const kind = section === 'enrichers' ? 'enricher' : inspected.pkg.kind === 'enricher' ? 'enricher' : 'source';
            const definition = {
              name: inspected.pkg.name,
              version: inspected.pkg.version,
              kind,
              apiVersion: inspected.pkg.apiRange,
              configSchema: {},
              create: () => Promise.reject(f),
            } as unknown as PluginDefinition;
            out.push({
              section,
              index,
              config: component,
              loaded: { pkg: { ...inspected.pkg, kind }, definition },
              pluginConfig: component.config,
              secrets: [],
              validateInWorker: true,
            });
            continue;
          }
          throw new PluginLoadError(
            'PLUGIN_INVALID',
            component.plugin,
            `importing ${inspected.pkg.name}@${inspected.pkg.version} in a worker failed (${f.code}): ${f.message}`,
            `fix or reinstall ${component.plugin}; \`fabric run\` starts the other collectors and retries this one within its restart budget`,
          );
        }
        plugin = inspected;
      } else plugin = await loadPlugin(component.plugin, roots);
    } catch (err) {
      const e = err as PluginLoadError;
      problems.push({
        path: `${section}[${index}].plugin`,
        line: loaded.lineOf(`${pointer}/plugin`),
        message: `${label} "${component.id}" uses plugin ${component.plugin}: ${e.message.split('\n')[0]}`,
        fix: e.code === 'PLUGIN_NOT_INSTALLED' ? `${notInstalledFix(component.plugin, roots)}; or remove ${label} "${component.id}" from the config` : e.fix,
      });
      continue;
    }
    const kind = plugin.definition.kind;
    if (section === 'enrichers' && kind !== 'enricher') {
      problems.push({
        path: `${section}[${index}].plugin`,
        line: loaded.lineOf(`${pointer}/plugin`),
        message: `enricher "${component.id}" uses ${component.plugin}, which is a ${kind} plugin`,
        fix: 'move it to collectors:, or name an enricher plugin',
      });
      continue;
    }
    // ${ENV} values in the plugin's block become numbers/booleans where its schema wants them.
    const candidate = structuredClone(component.config);
    const coercion = loaded.envRefs
      ? coerceInterpolated(plugin.definition.configSchema, candidate, loaded.envRefs, loaded.lineOf, `${pointer}/config`, `${label} "${component.id}" (${component.plugin}): `)
      : [];
    problems.push(...coercion);
    const { value, errors } = validateAgainstSchema(plugin.definition.configSchema, candidate);
    for (const e of errors) {
      if (coercion.some((p) => p.path === `${section}[${index}].config${e.path === '/' ? '' : `.${pointerToPath(e.path)}`}`)) continue;
      problems.push({
        path: `${section}[${index}].config${e.path === '/' ? '' : `.${pointerToPath(e.path)}`}`,
        line: loaded.lineOf(`${pointer}/config${e.path === '/' ? '' : e.path}`),
        message: `${label} "${component.id}" (${component.plugin}): ${e.message}${e.value === undefined ? '' : ` (got ${JSON.stringify(e.value)?.slice(0, 80)})`}`,
      });
    }
    if (errors.length === 0 && coercion.length === 0)
      out.push({ section, index, config: component, loaded: plugin, pluginConfig: value, secrets: secretValues(plugin.definition.configSchema, value) });
  }
  if (problems.length > 0) throw new ConfigError(loaded.file, problems, 'CONFIG_PLUGINS');
  return out;
}
