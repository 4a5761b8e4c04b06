import { FabricError } from '../errors/fabric-error.js';

export function stringFlag(v: string | boolean | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Wrong arguments: every command prints the message (ending with its usage) and exits 2. */
export class UsageError extends FabricError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Positive number of seconds from a flag, within bounds; a usage error naming the flag otherwise. */
export function secondsFlag(v: string | boolean | string[] | undefined, flag: string, fallback: number, max: number, usage: string): number {
  const text = stringFlag(v);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) throw new UsageError(`${flag} takes more than 0 and at most ${max} seconds; got "${text}"\nusage: ${usage}`);
  return n;
}
