import { type EventEmitter, once } from 'node:events';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { CliCommand, CliIo } from '../command.js';
import { stringFlag } from '../args.js';
import { watchOutput } from '../watch-output.js';
import { configFlag, configPath } from '../config-arg.js';
import type { LoadedConfig } from '../../config/load.js';
import { loadConfigWithOverlay } from '../../config/overlay.js';
import { composeFabric } from '../../compose/index.js';
import { FabricError } from '../../errors/fabric-error.js';
import { createLogger } from '../../logging.js';
import { cliLogger, holdStateDir, LOG_FORMAT_FLAG } from '../start-up.js';
import { applyRuntimeV8Flags } from '../node-flags.js';
import type { FabricEvent } from '../../plugin-api/index.js';
import type { Sink, SinkHealth } from '../../sinks/sink.js';
import { probeSink } from '../../sinks/probe.js';
import { FileCheckpointStore } from '../../state/checkpoint-store.js';

/** Polls per source in one `run --once`: a source that always says `hasMore` still ends. */
const ONCE_MAX_POLLS = 10_000;

const USAGE = 'fabric run --once [--dry-run] -c <config.yaml> [--log-format pretty|json]';

/** Positions are read as usual, so a dry run shows what the next real run would collect, and never written. */
class ReadOnlyCheckpointStore extends FileCheckpointStore {
  override write(): Promise<void> {
    return Promise.resolve();
  }
  override reset(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The dry run's sink: every published event as one JSON line on stdout; the configured sink is never
 * contacted. Once stdout's reader has gone (`| head`), the rest is not printed: nothing else changes,
 * since a dry run commits nothing.
 */
class StdoutSink implements Sink {
  readonly type = 'stdout (dry run)';
  private readonly output: ReturnType<typeof watchOutput>;
  /** Events stdout took (their write's callback saw no error): a write that failed printed none of its events. */
  printed = 0;
  constructor(private readonly io: CliIo) {
    // Its summary says how far the output got (run()'s end).
    this.output = watchOutput(io, { reportsFailure: true });
  }
  /** Why stdout stopped taking events (EPIPE when the reader closed), if it did. */
  get closedBy(): NodeJS.ErrnoException | undefined {
    return this.output.error;
  }
  async start(): Promise<void> {}
  async write(events: readonly FabricEvent[]): Promise<void> {
    if (events.length === 0 || this.output.error) return;
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const n = events.length;
    const taken = this.io.stdout.write(text, (err) => {
      if (!err) this.printed += n;
    });
    // Waits for 'drain' or for the reader going away, whichever comes first.
    if (!taken) await once(this.io.stdout as unknown as EventEmitter, 'drain', { signal: this.output.signal }).catch(() => undefined);
  }
  async writeStatus(): Promise<void> {}
  health(): SinkHealth {
    return { state: 'ok', pending: 0 };
  }
  async close(): Promise<void> {}
}

/**
 * The Kafka sink retries an absent broker for as long as it takes (right for `start`); a one-shot
 * run would wait minutes and then lose the batch. Reach it first, within its own connection
 * timeout (three attempts, as the client makes), and say so clearly when it does not answer.
 */
async function reachSink(loaded: LoadedConfig, logger: ReturnType<typeof createLogger>): Promise<void> {
  const sink = loaded.config.sink;
  if (sink.type !== 'kafka') return;
  const timeoutMs = sink.retry.connection_timeout_ms * 3 + 2000;
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probeSink(sink, { logger, configDir: loaded.dir, stateDir: loaded.stateDir }, ac.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000}s`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    ac.abort();
    throw new FabricError(
      'SINK_UNREACHABLE',
      `the Kafka sink did not accept a connection (brokers ${sink.brokers.join(',')}): ${(err as Error).message.split('\n')[0]}. Nothing was read and no checkpoint moved; ` +
        'check that the brokers are up and reachable (fabric validate --connect checks every part), or try the config with --dry-run',
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The dry run's correlation state: a scratch copy of the stored one, so windows already open count
 * as they would in a real run, while the next real run finds the state as this run found it.
 */
async function scratchCorrelationState(loaded: LoadedConfig): Promise<{ loaded: LoadedConfig; cleanup(): Promise<void> }> {
  const stored = resolve(loaded.stateDir, loaded.config.correlation.state_file);
  const scratch = await mkdtemp(join(tmpdir(), 'fabric-dry-run-'));
  // The state is a file and its journals beside it (name.N.journal): copy all of them.
  const names = await readdir(dirname(stored)).catch(() => [] as string[]);
  for (const name of names) if (name.startsWith(basename(stored))) await copyFile(join(dirname(stored), name), join(scratch, name));
  const dead_letter = { ...loaded.config.dead_letter, enabled: false };
  const correlation = { ...loaded.config.correlation, state_file: join(scratch, basename(stored)) };
  return {
    // Dead letters of a dry run are not kept either: they would be written to the state folder or the sink.
    loaded: { ...loaded, config: { ...loaded.config, dead_letter, correlation } },
    cleanup: () => rm(scratch, { recursive: true, force: true }),
  };
}

export const runOnceCommand: CliCommand = {
  name: ['run'],
  summary: 'One collection cycle, then exit (--dry-run: events to stdout only)',
  usage: USAGE,
  group: 'Run',
  flags: {
    config: configFlag,
    once: { type: 'boolean', description: 'required: one cycle, then exit (for a daemon use fabric start)' },
    'dry-run': { type: 'boolean', description: 'print events to stdout as JSON lines; no sink writes, no checkpoint commits' },
    ...LOG_FORMAT_FLAG,
  },
  details: 'With --dry-run the summary goes to stderr, so stdout holds only the events (pipe it to jq).',
  async run({ values }, io) {
    if (!values.once) {
      io.stderr.write(`fabric run needs --once (for a daemon use fabric start)\nusage: ${USAGE}\n`);
      return 2;
    }
    applyRuntimeV8Flags();
    const dryRun = values['dry-run'] === true;
    const loaded = loadConfigWithOverlay(configPath(stringFlag(values.config), io.cwd), io.env);
    const logger = cliLogger(values['log-format'], io, loaded.config.log_level === 'info' ? 'warn' : loaded.config.log_level, USAGE);
    // A dry run writes nothing to state_dir (scratch correlation state, read-only checkpoints): it
    // may run beside the instance that holds the folder. A real run holds it, like fabric start.
    const lock = dryRun ? undefined : await holdStateDir(loaded.stateDir, io);
    try {
      if (!dryRun) await reachSink(loaded, logger);
    } catch (err) {
      await lock?.release();
      throw err;
    }
    const scratch = dryRun ? await scratchCorrelationState(loaded) : undefined;
    const stdoutSink = dryRun ? new StdoutSink(io) : undefined;
    let report;
    let orch;
    try {
      orch = await composeFabric(scratch?.loaded ?? loaded, {
        cwd: io.cwd,
        logger,
        env: io.env,
        once: { maxPolls: ONCE_MAX_POLLS },
        ...(stdoutSink ? { sink: stdoutSink, checkpoints: new ReadOnlyCheckpointStore(loaded.stateDir) } : {}),
      });
      report = await orch.runOnce();
    } finally {
      await scratch?.cleanup();
      await lock?.release();
    }
    const summary = dryRun ? io.stderr : io.stdout;
    const cut = stdoutSink?.closedBy;
    // Once stdout failed, "printed" would claim events that never reached it: the last line says how many did.
    const verb = dryRun ? (cut ? 'sent to stdout' : 'printed') : 'published';
    for (const c of report.collectors) {
      summary.write(`${c.id}: ${c.events} events in ${c.polls} poll(s), ${c.published} ${verb}${c.error ? `, FAILED ${c.error.code}: ${c.error.message}` : ''}\n`);
    }
    if (cut) {
      const why = cut.code === 'EPIPE' ? "stdout's reader went away (EPIPE)" : `writing to stdout failed (${cut.code ?? cut.message})`;
      summary.write(
        `dry run: ${why} after ${stdoutSink!.printed} of ${report.published} event(s) had been written to it; the rest were not printed, nothing was written to the ${loaded.config.sink.type} sink and no checkpoint moved\n`,
      );
      // A reader that stopped reading (`| head`) wanted no more; a stdout that failed lost output.
      if (cut.code !== 'EPIPE') return 1;
    } else if (dryRun) summary.write(`dry run: printed ${report.published} event(s); nothing was written to the ${loaded.config.sink.type} sink and no checkpoint moved\n`);
    else
      summary.write(
        `published ${report.published} event(s) to ${orch.sink.type}${loaded.config.sink.type === 'jsonl' ? ` (${loaded.config.sink.path ?? `${loaded.stateDir}/events.jsonl`})` : ''}\n`,
      );
    return report.collectors.some((c) => c.error) ? 1 : 0;
  },
};
