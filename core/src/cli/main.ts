import type { CliCommand, CliIo } from './command.js';
import { UsageError } from './args.js';
import { FabricError } from '../errors/fabric-error.js';
import { redactSecrets } from '../logging.js';
import { commands as runtime } from './commands/runtime.js';
import { commands as scan } from './commands/scan.js';
import { commands as status } from './commands/status.js';
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

const all: CliCommand[] = [...runtime, ...scan, ...status, ...pluginNew, ...falsePositive];

function help(): string {
  const lines = all.map((c) => `  ${c.usage.padEnd(52)} ${c.summary}`);
  return `fabric — Reactive Fabric: supervised security collectors, Sigma detection, Kafka delivery\n\nusage:\n${lines.join('\n')}\n`;
}

/** Longest match on command words, so "plugins list" and "plugin new" can coexist. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout.write(help());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version') {
    io.stdout.write('0.1.0\n');
    return 0;
  }
  const match = all.filter((c) => c.name.every((w, i) => argv[i] === w)).sort((a, b) => b.name.length - a.name.length)[0];
  if (!match) {
    io.stderr.write(`unknown command: ${argv.slice(0, 2).join(' ')}\n\n${help()}`);
    return 2;
  }
  try {
    return await match.run(argv.slice(match.name.length), io);
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
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
