import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { HELP_GROUPS, type CliCommand, type CliIo, type ParsedArgs } from './command.js';
import { UsageError } from './args.js';
import { FabricError } from '../errors/fabric-error.js';
import { redactSecrets } from '../logging.js';
import { outputFailureReported } from './watch-output.js';
import { commands as runtime } from './commands/runtime.js';
import { commands as scan } from './commands/scan.js';
import { commands as status } from './commands/status.js';
import { commands as live } from './commands/live.js';
import { commands as validate } from './commands/validate.js';
import { commands as pluginNew } from './commands/plugin-new.js';
import { commands as falsePositive } from './commands/false-positive.js';

/**
 * Errors of our own modules (FabricError) carry a stable `code` from the error table and a message
 * written for the operator: print that, not a stack trace. So does anything else with such a code
 * (a PluginError from a plugin's own copy of core). System errors (with an errno) and bugs still
 * get the stack.
 */
function isUserError(err: unknown): boolean {
  if (err instanceof FabricError) return true;
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; errno?: unknown };
  return typeof e.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(e.code) && e.errno === undefined && !e.code.startsWith('ERR_');
}

export const allCommands: CliCommand[] = [...runtime, ...validate, ...status, ...live, ...scan, ...falsePositive, ...pluginNew];

/** Read, not hard-coded: the same file in src/ (tests) and dist/ (installed) sits two folders up. */
function coreVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** What a parent command ("collector", "plugins") says about its subcommands in the top-level help. */
const PARENT_SUMMARIES: Record<string, string> = {
  collector: 'start, stop, pause, resume or restart a collector of a running instance',
  plugins: 'Installed plugin packages, versions, kind and plugin API compatibility',
  plugin: 'Create a new plugin package (source or enricher) from the template',
  'false-positive': 'add, remove or list indicators marked as false positives',
};

/** Commander options from a command's flag table; negatable booleans (`--no-cache`) keep their declared name. */
function addFlags(cmd: Command, spec: CliCommand): void {
  for (const [name, f] of Object.entries(spec.flags)) {
    const flags = `${f.short ? `-${f.short}, ` : ''}--${name}${f.type === 'string' ? ` <${f.arg ?? 'value'}>` : ''}`;
    const option = new Option(flags, f.description);
    // Repeated flags collect into an array; commander's variadic form would swallow the operands after it.
    if (f.multiple) option.argParser((v: string, previous: unknown) => [...((previous as string[] | undefined) ?? []), v]);
    cmd.addOption(option);
  }
}

function parsedArgs(cmd: Command, spec: CliCommand): ParsedArgs {
  const opts = cmd.opts();
  const values: ParsedArgs['values'] = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    const option = cmd.options.find((o) => o.long === `--${name}`);
    const v = option ? (opts[option.attributeName()] as ParsedArgs['values'][string]) : undefined;
    if (option?.negate) values[name] = v === false ? true : undefined;
    else if (v !== undefined) values[name] = f.type === 'boolean' ? v === true : v;
  }
  return { values, positionals: [...cmd.args] };
}

/** Every command and parent shares these: output to the given streams, errors thrown, not exited. */
function configure(cmd: Command, io: CliIo): Command {
  return cmd
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      getOutHelpWidth: () => io.stdout.columns ?? 100,
      getErrHelpWidth: () => 100,
      // Usage errors become UsageErrors (see runCommand), printed once by main() like every other error.
      outputError: () => undefined,
    })
    .exitOverride()
    .showSuggestionAfterError(true);
}

/** "fabric collector stop" for argv ["collector", "stop", "x", "--bad"]: the command whose --help to point at. */
function commandOf(argv: readonly string[]): string {
  let best: string[] = [];
  for (const c of allCommands) {
    for (let n = c.name.length; n > best.length; n--) {
      if (c.name.slice(0, n).every((w, i) => argv[i] === w)) {
        best = c.name.slice(0, n);
        break;
      }
    }
  }
  return ['fabric', ...best].join(' ');
}

export function buildProgram(io: CliIo, onResult: (code: number) => void): Command {
  const program = configure(new Command('fabric'), io)
    .description('Reactive Fabric: supervised security collectors, Sigma detection, Kafka delivery')
    .version(coreVersion(), '-V, --version', 'print the version of @reactive-fabric/core')
    .helpOption('-h, --help', 'show help (also after any command)')
    .addHelpCommand('help [command]', 'show help for a command')
    // "plugins list" and "collector <command>" in the list, rather than a bare "plugins".
    .configureHelp({
      subcommandTerm: (cmd) => (cmd.commands.length === 1 ? `${cmd.name()} ${cmd.commands[0]!.name()}` : cmd.commands.length > 1 ? `${cmd.name()} <command>` : cmd.name()),
    })
    .addHelpText('after', "\nRun `fabric <command> --help` for a command's flags. Docs: README.md and docs/ in the package.");
  const parents = new Map<string, Command>();
  // Top-level help lists groups in a fixed order, whatever order the command files come in.
  const ordered = [...allCommands].sort((a, b) => HELP_GROUPS.indexOf(a.group) - HELP_GROUPS.indexOf(b.group));
  for (const spec of ordered) {
    let parent = program;
    for (const word of spec.name.slice(0, -1)) {
      let next = parents.get(word);
      if (!next) {
        next = configure(
          parent
            .command(word)
            .description(PARENT_SUMMARIES[word] ?? '')
            .helpGroup(`${spec.group}:`),
          io,
        );
        parents.set(word, next);
      }
      parent = next;
    }
    const cmd = configure(parent.command(spec.name.at(-1)!), io)
      .summary(spec.summary)
      .description(spec.details ? `${spec.summary}\n\n${spec.details}` : spec.summary)
      // `fabric validate fabric.yaml` (without -c) must not silently validate ./fabric.yaml instead.
      .allowExcessArguments(spec.operands === true);
    // Groups sort the top-level list; a parent's own subcommands are listed plainly.
    if (spec.name.length === 1) cmd.helpGroup(`${spec.group}:`);
    const prefix = `fabric ${spec.name.join(' ')}`;
    cmd.usage(spec.usage.startsWith(`${prefix} `) ? spec.usage.slice(prefix.length + 1) : '[options]');
    addFlags(cmd, spec);
    cmd.action(async () => onResult(await spec.run(parsedArgs(cmd, spec), io)));
  }
  return program;
}

/**
 * Parse one command line and run the command it names. Returns the exit code; wrong usage (an
 * unknown command or flag, with a suggestion when one is close) throws a UsageError, and what the
 * command throws comes through unchanged (main() prints both; tests assert on them).
 */
export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // --help and --version: printed, done. Help shown for a missing subcommand ("fabric collector"): usage error.
    if (err.exitCode === 0) return 0;
    if (err.code === 'commander.help' || err.code === 'commander.helpDisplayed') return 2;
    throw new UsageError(`${err.message.replace(/^error: /, '')}\n(${commandOf(argv)} --help shows the usage)`);
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    return await runCommand(argv, io);
  } catch (err) {
    if (isUserError(err)) {
      io.stderr.write(redactSecrets(`error: ${(err as Error).message}\n`));
      return err instanceof UsageError ? 2 : 1;
    }
    io.stderr.write(redactSecrets(`error: ${(err as Error).stack ?? String(err)}\n`));
    return 1;
  }
}

const isEntry = process.argv[1] && /fabric(\.js)?$|cli[\\/]main\.js$/.test(process.argv[1]);
if (isEntry) {
  // Without a listener, a failing stdout ends the process with a stack trace. A reader that goes away
  // (`fabric plugins list | head`) is not fabric's error; stdout itself failing (`> file` on a full
  // disk) means the output is incomplete, so the exit code says so. Commands that stream (tap, top,
  // the dry run) also stop on either (watch-output.ts).
  let stdoutFailed = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || stdoutFailed) return;
    stdoutFailed = true;
    // A write to a file fails after the command may have returned: the exit code is set here too.
    if (!process.exitCode) process.exitCode = 1;
    if (!outputFailureReported(e)) process.stderr.write(`error: writing to stdout failed (${e.code ?? e.message}): the output is incomplete\n`);
  });
  // stderr failing has nowhere to be reported; unheard, it would end the process as an uncaught
  // error in the middle of a graceful stop. The log on stderr reports its own loss (logging.ts).
  process.stderr.on('error', () => undefined);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }).then(
    (code) => {
      process.exitCode = code === 0 && stdoutFailed ? 1 : code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
