import type { LevelWithSilent } from 'pino';
import { UsageError } from './args.js';
import type { CliIo, FlagSpecs } from './command.js';
import { FabricError } from '../errors/fabric-error.js';
import { chooseLogFormat, createLogger, isLogFormat, LOG_FORMATS, redactSecrets, type Logger } from '../logging.js';
import { lockStateDir, type InstanceLock } from '../state/instance-lock.js';

/**
 * What `fabric start` and `fabric run` share before anything runs: the log format, the
 * state_dir lock, and how a start-up failure is told (one line, never a stack trace).
 */

/** The `--log-format` flag, as a command declares its flags. */
export const LOG_FORMAT_FLAG: FlagSpecs = {
  'log-format': {
    type: 'string',
    arg: 'pretty|json',
    description: 'log lines for a person (pretty) or a log shipper (json); default: pretty on a terminal, else json (FABRIC_LOG_FORMAT)',
  },
};

/** The process logger in the format asked for (flag, then FABRIC_LOG_FORMAT), else pretty on a terminal. */
export function cliLogger(
  flag: string | boolean | string[] | undefined,
  io: CliIo,
  level: LevelWithSilent,
  usage: string,
  onOutputLost?: (err: NodeJS.ErrnoException) => void,
): Logger {
  const asked = typeof flag === 'string' ? flag : undefined;
  if (asked !== undefined && !isLogFormat(asked)) throw new UsageError(`--log-format "${asked}" is not one of ${LOG_FORMATS.join(', ')}\nusage: ${usage}`);
  const fromEnv = io.env.FABRIC_LOG_FORMAT;
  if (asked === undefined && fromEnv && !isLogFormat(fromEnv)) throw new UsageError(`FABRIC_LOG_FORMAT="${fromEnv}" is not one of ${LOG_FORMATS.join(', ')}`);
  const isTTY = (io.stderr as NodeJS.WritableStream & { isTTY?: boolean }).isTTY;
  return createLogger({ level, format: chooseLogFormat(asked, io.env, isTTY), ...(onOutputLost ? { onOutputLost } : {}) });
}

/**
 * Hold state_dir for this process. Losing the lock while running (its folder removed) means
 * another instance may take the folder: stop gracefully, as SIGTERM would.
 */
export async function holdStateDir(stateDir: string, io: CliIo): Promise<InstanceLock> {
  try {
    return await lockStateDir(stateDir, {
      onCompromised: (err) => {
        io.stderr.write(redactSecrets(`the lock on ${stateDir} was lost (${err.message}): stopping\n`));
        process.kill(process.pid, 'SIGTERM');
      },
    });
  } catch (err) {
    if (err instanceof FabricError) throw err;
    // A read-only or missing disk: one line naming the folder, not a stack trace.
    const e = err as NodeJS.ErrnoException;
    throw new FabricError('STARTUP_FAILED', `could not start: cannot create or lock state_dir ${stateDir}: ${e.code ?? e.message}; check that it is writable`, { cause: err });
  }
}

/**
 * The one line a failed start prints. Our own errors already say what and how to fix; anything
 * else (a system error from a sink) gets its message, its first line only: what started was
 * stopped, so the operator needs the cause, not a stack trace.
 */
export function startFailure(err: unknown): FabricError {
  if (err instanceof FabricError && err.code === 'STATE_DIR_LOCKED') return err;
  const message = err instanceof Error ? err.message : String(err);
  const first = redactSecrets(message.split('\n').find((l) => l.trim() !== '') ?? message);
  return new FabricError('STARTUP_FAILED', `could not start: ${first} — everything started was stopped`, { cause: err });
}
