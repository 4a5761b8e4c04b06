import type { CliCommand, CliIo } from '../command.js';
import { parseFlags, stringFlag } from '../args.js';
import { configPath } from '../config-arg.js';
import { loadConfig } from '../../config/load.js';
import { Orchestrator } from '../../orchestrator.js';
import { createLogger } from '../../logging.js';
import { listInstalledPlugins, searchRoots } from '../../plugins/loader.js';
import { resolveComponents } from '../../plugins/resolve.js';

const startUsage = 'fabric start -c <config.yaml>';
const start: CliCommand = {
  name: ['start'],
  summary: 'Run collectors continuously until SIGINT/SIGTERM (graceful: stop polling, flush, commit, close)',
  usage: startUsage,
  async run(argv, io) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } }, startUsage);
    const loaded = loadConfig(configPath(stringFlag(values.config), io.cwd), io.env);
    const logger = createLogger({ level: loaded.config.log_level });
    const orch = await Orchestrator.create(loaded, { cwd: io.cwd, logger, env: io.env });
    await orch.start();
    io.stderr.write(`reactive fabric running: ${orch.listCollectors().length} collector(s), sink ${orch.sink.type}${orch.adminUrl ? `, admin API ${orch.adminUrl}` : ''}. Ctrl+C stops.\n`);
    await new Promise<void>((resolve) => {
      let stopping = false;
      const onSignal = (sig: string) => {
        if (stopping) {
          io.stderr.write(`second ${sig}: exiting now\n`);
          process.exit(130);
        }
        stopping = true;
        io.stderr.write(`${sig}: stopping gracefully (again to force)\n`);
        void orch.stop().then(resolve);
      };
      process.once('SIGINT', () => onSignal('SIGINT'));
      process.once('SIGTERM', () => onSignal('SIGTERM'));
    });
    const s = orch.snapshot().total;
    io.stderr.write(`stopped: ${s.eventsCollected} collected, ${s.eventsPublished} published, ${s.eventsDeduplicated} duplicates dropped\n`);
    return 0;
  },
};

const runUsage = 'fabric run --once -c <config.yaml>';
const run: CliCommand = {
  name: ['run'],
  summary: 'One collection cycle of every collector, flush, commit, exit',
  usage: runUsage,
  async run(argv, io) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, once: { type: 'boolean' } }, runUsage);
    if (!values.once) {
      io.stderr.write(`fabric run needs --once (for a daemon use fabric start)\nusage: ${runUsage}\n`);
      return 2;
    }
    const loaded = loadConfig(configPath(stringFlag(values.config), io.cwd), io.env);
    const logger = createLogger({ level: loaded.config.log_level === 'info' ? 'warn' : loaded.config.log_level });
    const orch = await Orchestrator.create(loaded, { cwd: io.cwd, logger, env: io.env });
    const report = await orch.runOnce();
    for (const c of report.collectors) {
      io.stdout.write(`${c.id}: ${c.events} events in ${c.polls} poll(s), ${c.published} published${c.error ? `, FAILED ${c.error.code}: ${c.error.message}` : ''}\n`);
    }
    io.stdout.write(`published ${report.published} event(s) to ${orch.sink.type}${loaded.config.sink.type === 'jsonl' ? ` (${loaded.config.sink.path ?? `${loaded.stateDir}/events.jsonl`})` : ''}\n`);
    return report.collectors.some((c) => c.error) ? 1 : 0;
  },
};

const validateUsage = 'fabric validate -c <config.yaml>';
const validate: CliCommand = {
  name: ['validate'],
  summary: 'Check a config file and every plugin it names, without starting anything',
  usage: validateUsage,
  async run(argv, io) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } }, validateUsage);
    const loaded = loadConfig(configPath(stringFlag(values.config), io.cwd), io.env);
    const components = await resolveComponents(loaded, searchRoots(io.cwd, loaded.dir));
    io.stdout.write(`${loaded.file}: valid (${components.filter((c) => c.section === 'collectors').length} collector(s), ${components.filter((c) => c.section === 'enrichers').length} enricher(s), sink ${loaded.config.sink.type})\n`);
    return 0;
  },
};

const pluginsUsage = 'fabric plugins list [--json]';
const pluginsList: CliCommand = {
  name: ['plugins', 'list'],
  summary: 'Installed plugin packages, versions, kind and plugin API compatibility',
  usage: pluginsUsage,
  async run(argv, io) {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } }, pluginsUsage);
    const plugins = await listInstalledPlugins(searchRoots(io.cwd));
    if (values.json) {
      io.stdout.write(JSON.stringify(plugins.map(({ configSchema: _s, ...p }) => p), null, 2) + '\n');
      return 0;
    }
    if (plugins.length === 0) {
      io.stdout.write(`no plugin packages installed in ${io.cwd} (install one with pnpm add <package>)\n`);
      return 0;
    }
    printTable(io, ['PLUGIN', 'VERSION', 'KIND', 'API', 'COMPATIBLE'], plugins.map((p) => [p.name, p.version, p.kind, p.apiRange || '-', p.compatible ? 'yes' : `NO: ${p.problem?.split('\n')[0] ?? ''}`]));
    return 0;
  },
};

export function printTable(io: CliIo, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  io.stdout.write([fmt(header), ...rows.map(fmt)].join('\n') + '\n');
}

export const commands: CliCommand[] = [start, run, validate, pluginsList];
