import pino from 'pino';
import type { Logger, LevelWithSilent } from 'pino';
import { Writable } from 'node:stream';
import pinoPretty from 'pino-pretty';

/**
 * Secret values (API keys, passwords, tokens) registered here are replaced by "[redacted]".
 *
 * Two layers. Where the host shows structured data (collector descriptions, readiness, API
 * answers), redactDeep() replaces secrets inside each string *before* serialisation, so escaping
 * cannot hide them. Log lines and error texts are scrubbed as text as a second layer, because a
 * plugin may echo a key inside a message we never saw coming; serialised text holds the secret in
 * escaped forms too, so each secret is searched as written, JSON-escaped (once and twice: a JSON
 * body quoted in a message), and URL-encoded (encodeURIComponent, and form encoding with "+").
 */
const secrets = new Set<string>();
let pattern: RegExp | undefined;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Percent escapes match whatever the case of their hex digits (%2f and %2F). */
function percentInsensitive(escaped: string): string {
  return escaped.replace(/%([0-9A-F])([0-9A-F])/g, (_m, a: string, b: string) => `%${hexClass(a)}${hexClass(b)}`);
}

function hexClass(d: string): string {
  return /[A-F]/.test(d) ? `[${d}${d.toLowerCase()}]` : d;
}

/** Every form in which `secret` can appear in serialised text. */
export function secretForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const forms = new Set([secret, json, JSON.stringify(json).slice(1, -1), encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2), encodeURI(secret)]);
  return [...forms].filter((f) => f.length > 0);
}

function rebuild(): void {
  const alternatives = [...secrets]
    .flatMap((s) => secretForms(s).map((f) => ({ f, re: /%[0-9A-F]{2}/.test(f) ? percentInsensitive(escapeRegExp(f)) : escapeRegExp(f) })))
    // Longest first, so a form is not half-replaced by a shorter one it contains.
    .sort((a, b) => b.f.length - a.f.length)
    .map((x) => x.re);
  pattern = alternatives.length === 0 ? undefined : new RegExp(alternatives.join('|'), 'g');
}

export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 4 || secrets.has(value)) return;
  secrets.add(value);
  rebuild();
}

export function redactSecrets(text: string): string {
  if (!pattern) return text;
  return text.replace(pattern, '[redacted]');
}

/**
 * A copy of `value` with every registered secret replaced inside each string (keys included),
 * done on the data before it is serialised. Depth-bounded; cycles are cut.
 */
export function redactDeep<T>(value: T): T {
  if (!pattern) return value;
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactSecrets(v);
    if (v === null || typeof v !== 'object' || depth > 64) return v;
    if (seen.has(v)) return '[cycle]';
    seen.add(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (v instanceof Error) return redactSecrets(v.message);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const key = redactSecrets(k);
      // A key such as "__proto__" from hostile data must stay a plain key, not reach the prototype.
      Object.defineProperty(out, key, { value: walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return walk(value, 0) as T;
}

/** How log lines are written: `pretty` for a person at a terminal, `json` for a log shipper. */
export type LogFormat = 'pretty' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json'];

/**
 * The format asked for (`--log-format`, else `FABRIC_LOG_FORMAT`), else pretty on a terminal and
 * JSON everywhere else: what a pipe, systemd or a container runtime reads stays machine-readable.
 * An unknown value is refused by the caller (`isLogFormat`), never silently mapped.
 */
export function chooseLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv, isTTY: boolean | undefined): LogFormat {
  const asked = flag ?? (env.FABRIC_LOG_FORMAT || undefined);
  if (asked !== undefined && isLogFormat(asked)) return asked;
  return isTTY ? 'pretty' : 'json';
}

export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

export function createLogger(
  options: {
    level?: LevelWithSilent;
    destination?: NodeJS.WritableStream;
    name?: string;
    format?: LogFormat;
    colorize?: boolean;
    /** Without `destination` (stderr): called once when stderr stops taking lines (see stderrLog). */
    onOutputLost?: (err: NodeJS.ErrnoException) => void;
  } = {},
): Logger {
  const target = options.destination ?? stderrLog(options.onOutputLost);
  // Secrets are replaced in the serialised JSON line (streamWrite), before pino-pretty reads it:
  // both formats print only redacted text.
  const destination =
    options.format === 'pretty'
      ? pinoPretty({
          destination: target,
          sync: true,
          colorize: options.colorize ?? (options.destination === undefined && process.stderr.isTTY === true),
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'name',
        })
      : (target as pino.DestinationStream);
  return pino(
    {
      name: options.name ?? 'fabric',
      level: options.level ?? 'info',
      hooks: { streamWrite: redactSecrets },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream,
  );
}

/**
 * Log lines to stderr, written synchronously, that never throw into the code that logs. When
 * stderr's reader goes away (`fabric start 2>&1 | head`, journald restarting) or its disk is full,
 * sonic-boom emits 'error', and with no listener that is thrown out of whichever line was logging,
 * in the middle of the pipeline; left alone, it also keeps every later line in memory to retry.
 * Here the first failure goes to `onLost` once and later lines are dropped: the command decides
 * what losing its log means (`fabric start` stops, runtime.ts).
 */
export function stderrLog(onLost: (err: NodeJS.ErrnoException) => void = () => {}): Writable {
  const fd = pino.destination({ fd: 2, sync: true });
  let lost = false;
  const fail = (err: NodeJS.ErrnoException): void => {
    if (lost) return;
    lost = true;
    onLost(err);
  };
  fd.on('error', fail);
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      if (!lost) {
        try {
          fd.write(typeof chunk === 'string' ? chunk : chunk.toString());
        } catch (err) {
          fail(err as NodeJS.ErrnoException);
        }
      }
      done();
    },
  });
}

export type { Logger };
