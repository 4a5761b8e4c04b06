import type { CliCommand, CliIo } from '../command.js';
import { stringFlag } from '../args.js';
import { configFlag, configPath } from '../config-arg.js';
import { runOnceCommand } from './run-once.js';
import { loadConfig } from '../../config/load.js';
import { loadConfigWithOverlay } from '../../config/overlay.js';
import { reloadOnSighup } from '../reload-signal.js';
import { composeFabric } from '../../compose/index.js';
import { startAdminServer, type AdminServer } from '../../admin/index.js';
import type { Orchestrator } from '../../orchestrator.js';
import { createLogger, redactSecrets } from '../../logging.js';
import { listInstalledPlugins } from '../../plugins/catalog.js';
import { pluginSearchRoots, printPluginOrigins, withOrigins } from '../plugin-origins.js';
import { cliLogger, holdStateDir, LOG_FORMAT_FLAG, startFailure } from '../start-up.js';
import { applyRuntimeV8Flags, missingNodeFlags, NODE_FLAGS } from '../node-flags.js';

const startUsage = 'fabric start -c <config.yaml> [--log-format pretty|json]';

/** After a graceful stop, how long leftovers (a broker connect still timing out) may delay the exit. */
const EXIT_GRACE_MS = 2000;

/** Exit code after an error escaped every handler (EX_SOFTWARE): a supervisor (systemd, k8s) restarts us. */
export const EXIT_UNCAUGHT = 70;
/** Exit code after the log could no longer be written (EX_IOERR): restarted, it gets a working stderr. */
export const EXIT_LOG_LOST = 74;

/**
 * SIGINT/SIGTERM handling from the moment the command starts, so a signal during start-up (a
 * slow broker, a plugin loading) stops what has started instead of killing the process with the
 * default handler. The first signal asks for a graceful stop; a second one exits at once (130).
 *
 * The same path takes what still escapes (an `uncaughtException` or `unhandledRejection` in the
 * host thread, e.g. from a plugin running `isolation: inline`): it is logged (secrets redacted),
 * and the process stops gracefully and exits 70 — never a silent, half-alive process. Another
 * one during that stop exits at once (70). `stop(reason, code)` takes the same path for failures
 * found by the command itself (its log output lost: 74).
 */
function watchSignals(io: CliIo): {
  readonly received: string | undefined;
  /** 0 after a signal; the failure's code otherwise. */
  readonly exitCode: number;
  readonly next: Promise<string>;
  stop(reason: string, code: number): void;
  dispose(): void;
} {
  let received: string | undefined;
  let exitCode = 0;
  let wake: (sig: string) => void = () => undefined;
  const next = new Promise<string>((resolve) => (wake = resolve));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (received !== undefined) {
      io.stderr.write(`second ${sig}: exiting now\n`);
      process.exit(exitCode !== 0 ? exitCode : 130);
    }
    received = sig;
    io.stderr.write(`${sig}: stopping gracefully (again to force)\n`);
    wake(sig);
  };
  const onFatal =
    (kind: 'uncaughtException' | 'unhandledRejection') =>
    (err: unknown): void => {
      const text = redactSecrets(err instanceof Error ? (err.stack ?? err.message) : String(err));
      if (received !== undefined) {
        io.stderr.write(`${kind} while stopping: exiting now (${EXIT_UNCAUGHT})\n${text}\n`);
        process.exit(EXIT_UNCAUGHT);
      }
      exitCode = EXIT_UNCAUGHT;
      received = kind;
      io.stderr.write(`fatal: ${kind} escaped every handler; stopping gracefully, then exiting ${EXIT_UNCAUGHT}\n${text}\n`);
      wake(kind);
    };
  const onUncaught = onFatal('uncaughtException');
  const onRejection = onFatal('unhandledRejection');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  return {
    get received() {
      return received;
    },
    get exitCode() {
      return exitCode;
    },
    next,
    stop(reason, code) {
      if (received !== undefined) return;
      received = reason;
      exitCode = code;
      wake(reason);
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** Wait for `work` unless a signal comes first; `undefined` then (the work goes on in the background). */
async function unlessSignalled<T>(work: Promise<T>, signals: { next: Promise<string> }): Promise<{ value: T } | undefined> {
  return Promise.race([work.then((value) => ({ value })), signals.next.then(() => undefined)]);
}

const start: CliCommand = {
  name: ['start'],
  summary: 'Run collectors until SIGINT/SIGTERM, then stop gracefully',
  usage: startUsage,
  group: 'Run',
  flags: { config: configFlag, ...LOG_FORMAT_FLAG },
  async run({ values }, io) {
    const signals = watchSignals(io);
    const exitAfterStop = (code: number): number => {
      // Whatever start-up left running (a connect attempt, a plugin still importing) must not keep a
      // stopped process alive: exit once the event loop is idle, or after a short grace at the latest.
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
      return code;
    };
    let lock: Awaited<ReturnType<typeof holdStateDir>> | undefined;
    try {
      // Collectors created, changed or removed through the admin API are kept in the overlay (config/overlay.ts).
      const loaded = loadConfigWithOverlay(configPath(stringFlag(values.config), io.cwd), io.env);
      // A daemon that cannot log is not watched: stop gracefully and exit non-zero, so that a
      // supervisor restarts it (Restart=on-failure) and an interactive `| head` ends.
      const logger = cliLogger(values['log-format'], io, loaded.config.log_level, startUsage, (err) => signals.stop(`log output lost (${err.code ?? err.message})`, EXIT_LOG_LOST));
      const applied = applyRuntimeV8Flags();
      if (applied.length > 0)
        logger.info(
          { v8_flags: applied },
          `V8 set to ${applied.join(' ')} (memory stays near twice the live heap, and threads with small heaps are not collected over and over; start node with your own value of a flag to change it, docs/deploy)`,
        );
      const missing = missingNodeFlags(process.execArgv, io.env.NODE_OPTIONS);
      if (missing.length > 0)
        logger.info(
          { missing, recommended: NODE_FLAGS },
          `node runs without ${missing.join(' ')}: the fabric bin and the systemd unit set it; started another way, add it to the node command line or NODE_OPTIONS (on Node 20 and 22: more events/s and shorter pauses under load, docs/kafka.md)`,
        );
      // Before composing: composing sweeps state_dir's temp files, which another instance may be writing.
      lock = await holdStateDir(loaded.stateDir, io);
      const created = await unlessSignalled(composeFabric(loaded, { cwd: io.cwd, logger, env: io.env }), signals);
      if (!created) {
        io.stderr.write('stopped during start-up: nothing had started yet\n');
        return exitAfterStop(signals.exitCode);
      }
      const orch = created.value;
      if (signals.received) {
        await orch.stop();
        io.stderr.write('stopped during start-up\n');
        return exitAfterStop(signals.exitCode);
      }
      let admin: AdminServer | undefined;
      const stopAll = async (): Promise<void> => {
        // The admin API stays up while collectors drain, so operators can watch the stop.
        await orch.stop();
        await admin?.close().catch((err: Error) => logger.warn({ err: err.message }, 'closing the admin API failed'));
      };
      const starting = startWithAdmin(orch, loaded.config.admin.enabled, (server) => (admin = server), { logger, stateDir: loaded.stateDir, env: io.env });
      let started: { value: AdminServer | undefined } | undefined;
      try {
        started = await unlessSignalled(starting, signals);
      } catch (err) {
        // All or nothing: a start that failed halfway (admin port taken, sink down) leaves nothing running.
        await stopAll();
        io.stderr.write(`error: ${startFailure(err).message}\n`);
        return exitAfterStop(1);
      }
      if (!started) {
        // stop() waits for nothing start() has not done yet: what is up (sink, stages) is closed;
        // an admin server that binds after this is closed as soon as it is up.
        starting.then(
          (server) => server?.close(),
          (err: Error) => logger.warn({ err: err.message }, 'start-up ended with an error after the stop'),
        );
        await stopAll();
        io.stderr.write('stopped during start-up: what had started was closed\n');
        return exitAfterStop(signals.exitCode);
      }
      io.stderr.write(`reactive fabric running: ${orch.listCollectors().length} collector(s), sink ${orch.sink.type}${admin ? `, admin API ${admin.url}` : ''}. Ctrl+C stops.\n`);
      const stopReloading = reloadOnSighup(orch.configControl, logger);
      await signals.next;
      stopReloading();
      await stopAll();
      const s = orch.snapshot().total;
      io.stderr.write(`stopped: ${s.eventsCollected} collected, ${s.eventsPublished} published, ${s.eventsDeduplicated} duplicates dropped\n`);
      return exitAfterStop(signals.exitCode);
    } finally {
      await lock?.release();
      // A second signal during the stop still forces the exit: handlers stay until the process ends.
      if (!signals.received) signals.dispose();
    }
  },
};

/** The orchestrator, then (when enabled) the admin API over it. Resolves with the admin server. */
async function startWithAdmin(
  orch: Orchestrator,
  adminEnabled: boolean,
  onAdmin: (server: AdminServer) => void,
  opts: { logger: ReturnType<typeof createLogger>; stateDir: string; env: NodeJS.ProcessEnv },
): Promise<AdminServer | undefined> {
  let server: AdminServer | undefined;
  // The admin API binds after the sink and stages are up and before any collector polls: a port
  // already in use then fails the start with nothing read or committed.
  await orch.start({
    beforeCollectors: async () => {
      if (!adminEnabled) return;
      server = await startAdminServer(orch, orch.loaded.config.admin, opts);
      onAdmin(server);
    },
  });
  return server;
}

const run: CliCommand = runOnceCommand;

const pluginsUsage = 'fabric plugins list [-c <config.yaml>] [--json]';
const pluginsList: CliCommand = {
  name: ['plugins', 'list'],
  summary: 'Installed plugin packages, versions, kind and plugin API compatibility',
  usage: pluginsUsage,
  group: 'Plugins',
  flags: {
    json: { type: 'boolean', description: 'print JSON instead of a table' },
    config: { type: 'string', short: 'c', arg: 'config.yaml', description: "also search that config's plugin_paths and folder" },
  },
  async run({ values }, io) {
    const roots = pluginSearchRoots(stringFlag(values.config), io);
    const plugins = await listInstalledPlugins(roots);
    if (values.json) {
      io.stdout.write(
        JSON.stringify(
          withOrigins(plugins, roots).map(({ configSchema: _s, ...p }) => p),
          null,
          2,
        ) + '\n',
      );
      return 0;
    }
    printPluginOrigins(io, plugins, roots, printTable);
    return 0;
  },
};

export function printTable(io: CliIo, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  io.stdout.write([fmt(header), ...rows.map(fmt)].join('\n') + '\n');
}

export const commands: CliCommand[] = [start, run, pluginsList];
