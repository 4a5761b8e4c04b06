import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FabricError } from '../errors/fabric-error.js';

export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parse flags strictly: an unknown flag is an error that names it, never silently ignored. */
export function parseFlags(argv: string[], options: NonNullable<ParseArgsConfig['options']>, usage: string): ParsedFlags {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as ParsedFlags['values'], positionals: r.positionals };
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}\nusage: ${usage}`);
  }
}

export function stringFlag(v: string | boolean | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Wrong arguments: every command prints the message (ending with its usage) and exits 2. */
export class UsageError extends FabricError {
  constructor(message: string) {
    super('USAGE', message);
  }
}
