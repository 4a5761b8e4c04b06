import pino from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

/**
 * Secret values (API keys, passwords, tokens) registered here are replaced by "[redacted]" in
 * every log line, whatever field or message they hide in: redaction by value, not by path,
 * because a plugin may echo a key inside an error message we never saw coming.
 */
const secrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redactSecrets(text: string): string {
  if (secrets.size === 0) return text;
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

export function createLogger(options: { level?: LevelWithSilent; destination?: NodeJS.WritableStream; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'fabric',
      level: options.level ?? 'info',
      hooks: { streamWrite: redactSecrets },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (options.destination as pino.DestinationStream | undefined) ?? pino.destination({ fd: 2, sync: true }),
  );
}

export type { Logger };
