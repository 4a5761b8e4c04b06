import { unpinnedHostCollectors } from '../../cluster/locality.js';
import type { CliCommand, CliIo } from '../command.js';
import { secondsFlag, stringFlag } from '../args.js';
import { configFlag, configPath } from '../config-arg.js';
import { checkConnections } from '../connect-check.js';
import { inspectConfig, type LoadedConfig } from '../../config/load.js';
import { applyOverlay, overlayPath, readOverlay } from '../../config/overlay.js';
import { ConfigError, formatProblems, type ConfigProblem } from '../../config/errors.js';
import type { FabricConfig } from '../../config/schema.js';
import { FabricConfigSchema } from '../../config/schema.js';
import { validateAgainstSchema } from '../../config/validate.js';
import { strictRuleProblems } from '../../detection/sigma/loader.js';
import { createLogger, redactSecrets } from '../../logging.js';
import { pluginSearchPath } from '../../plugins/search-path.js';
import { resolveComponents, type ResolvedComponent } from '../../plugins/resolve.js';

const USAGE = 'fabric validate -c <config.yaml> [--strict] [--connect [--timeout <seconds>]]';
/** Per part (source, enricher, sink) of `--connect`, unless --timeout says otherwise. */
const DEFAULT_CONNECT_TIMEOUT_S = 10;

function isComponent(c: unknown): boolean {
  const o = c as Record<string, unknown> | null;
  return o !== null && typeof o === 'object' && typeof o.id === 'string' && typeof o.plugin === 'string';
}

/**
 * The config as far as it is valid, fit for checking its plugins: entries that are not even
 * `{ id, plugin }` are disabled (their problems are already reported), and a broken section the
 * plugin check reads (orchestrator) falls back to its defaults. Indexes stay, so paths match the file.
 */
function checkable(draft: LoadedConfig, problems: readonly ConfigProblem[]): LoadedConfig {
  const defaults = validateAgainstSchema(FabricConfigSchema, {}).value as FabricConfig;
  const cfg = draft.config as unknown as Record<string, unknown>;
  const section = (name: 'collectors' | 'enrichers') => {
    const items = cfg[name];
    return Array.isArray(items) ? items.map((c: unknown) => (isComponent(c) ? c : { id: '', plugin: '', enabled: false, config: {} })) : [];
  };
  const broken = (prefix: string) => problems.some((p) => p.path === prefix || p.path.startsWith(`${prefix}.`));
  const config = {
    ...draft.config,
    collectors: section('collectors'),
    enrichers: section('enrichers'),
    orchestrator: broken('orchestrator') ? defaults.orchestrator : draft.config.orchestrator,
  } as FabricConfig;
  return { ...draft, config };
}

/** A plugin problem of a collector the overlay added or changed says so: it is not in the file. */
function fromOverlay(p: ConfigProblem, loaded: LoadedConfig, overlayFile: string | undefined): ConfigProblem {
  const m = /^collectors\[(\d+)\]/.exec(p.path);
  if (!overlayFile || !m || loaded.lineOf(`/collectors/${m[1]}`) !== undefined) return p;
  const id = loaded.config.collectors[Number(m[1])]?.id ?? '?';
  return {
    ...p,
    fix: `collector "${id}" comes from ${overlayFile} (changed through the admin API): change it with PUT /collectors/${id}/config or remove it with DELETE /collectors/${id}`,
  };
}

/** Core config problems, then every plugin's: one run shows everything to fix. */
async function allProblems(
  file: string,
  io: CliIo,
): Promise<{ loaded: LoadedConfig; components: ResolvedComponent[]; problems: ConfigProblem[]; overlay?: { file: string; changes: number; error?: ConfigError } }> {
  const { draft, problems } = inspectConfig(file, io.env);
  let loaded = checkable(draft, problems);
  // What `fabric start` would run: the collectors changed through the admin API (the overlay in
  // the state folder) apply on top of the file, so they are checked too, plugins included.
  let overlay: { file: string; changes: number; error?: ConfigError } | undefined;
  if (problems.length === 0) {
    try {
      const changes = readOverlay(loaded.stateDir);
      const count = Object.keys(changes.collectors).length;
      if (count > 0) {
        overlay = { file: overlayPath(loaded.stateDir), changes: count };
        loaded = applyOverlay(loaded, changes);
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      overlay = { file: err.file, changes: 0, error: err };
    }
  }
  let components: ResolvedComponent[] = [];
  try {
    components = await resolveComponents(loaded, pluginSearchPath({ cwd: io.cwd, configDir: loaded.dir, pluginPaths: loaded.config.plugin_paths, env: io.env }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems.map((p) => fromOverlay(p, loaded, overlay?.file)));
  }
  return { loaded, components, problems, ...(overlay ? { overlay } : {}) };
}

const validate: CliCommand = {
  name: ['validate'],
  summary: 'Check the config and every plugin config (--connect: reach each part)',
  usage: USAGE,
  group: 'Run',
  flags: {
    config: configFlag,
    strict: { type: 'boolean', description: 'Sigma rules that are refused or can never fire make the config invalid' },
    connect: { type: 'boolean', description: 'also start each source and enricher, run its health check, and reach the sink' },
    timeout: { type: 'string', arg: 'seconds', description: `per part with --connect (default ${DEFAULT_CONNECT_TIMEOUT_S})` },
  },
  details:
    'Every problem is reported in one run: the core config, then each collector and enricher config against its plugin, each with file, line and field.\n' +
    'Exit codes: 0 valid (and, with --connect, every part answered), 1 invalid or a part failed, 2 wrong usage.',
  async run({ values }, io) {
    const timeoutS = secondsFlag(values.timeout, '--timeout', DEFAULT_CONNECT_TIMEOUT_S, 600, USAGE);
    const file = configPath(stringFlag(values.config), io.cwd);
    const { loaded, components, problems, overlay } = await allProblems(file, io);
    if (overlay?.error) {
      io.stderr.write(redactSecrets(`error: ${overlay.error.message}\n`));
      return 1;
    }
    const strict =
      values.strict && !problems.some((p) => p.path === 'detection' || p.path.startsWith('detection.')) ? await strictRuleProblems(loaded.config.detection, loaded.dir) : [];
    if (problems.length > 0 || strict.length > 0) {
      // In file order: the way an operator walks through the file to fix them.
      const ordered = [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
      if (problems.length > 0) io.stderr.write(redactSecrets(`error: ${formatProblems(loaded.file, ordered)}\n`));
      // --strict: Sigma rules that are refused or can never fire make the config invalid.
      for (const p of strict) io.stderr.write(`${p}\n`);
      if (strict.length > 0) io.stderr.write(`${loaded.file}: ${strict.length} detection rule problem(s) (--strict)\n`);
      return 1;
    }
    io.stdout.write(
      `${loaded.file}: valid (${components.filter((c) => c.section === 'collectors').length} collector(s), ${components.filter((c) => c.section === 'enrichers').length} enricher(s), sink ${loaded.config.sink.type})${overlay ? `, with ${overlay.changes} collector change(s) made through the admin API (${overlay.file})` : ''}\n`,
    );
    const cluster = loaded.config.cluster;
    for (const w of unpinnedHostCollectors(loaded.config, components)) io.stderr.write(`warning: ${w}\n`);
    if (cluster) {
      const pins = Object.entries(cluster.pinned);
      io.stdout.write(
        `cluster ${cluster.group}: every instance runs this file (FABRIC_INSTANCE_ID names each); collectors spread over 64 slots` +
          `${pins.length ? `, pinned: ${pins.map(([c, i]) => `${c} → ${i}`).join(', ')}` : ''}\n`,
      );
    }
    if (!values.connect) return 0;
    const logger = createLogger({ level: 'silent' });
    const checks = await checkConnections(loaded, components, { timeoutMs: timeoutS * 1000, logger });
    const width = Math.max(...checks.map((c) => c.part.length));
    for (const c of checks) io.stdout.write(`${c.part.padEnd(width)}  ${c.ok ? 'ok    ' : 'FAILED'}  ${c.detail}\n`);
    const failed = checks.filter((c) => !c.ok).length;
    io.stdout.write(failed === 0 ? `all ${checks.length} part(s) answered\n` : `${failed} of ${checks.length} part(s) failed\n`);
    return failed === 0 ? 0 : 1;
  },
};

export const commands: CliCommand[] = [validate];
