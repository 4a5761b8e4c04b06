import type { CliIo } from './command.js';

/**
 * Watches stdout for the reader going away (EPIPE: `fabric tap | head`, `fabric run --once --dry-run
 * | head`). Without a listener, the stream's 'error' event ends the process with a stack trace; with
 * this one, the command stops printing and ends the way it ends on Ctrl+C. The listener stays for
 * the life of the process: a write still buffered when the command returns can fail after it.
 */
export function watchOutput(io: CliIo, options: { reportsFailure?: boolean } = {}): { signal: AbortSignal; readonly error: NodeJS.ErrnoException | undefined } {
  const ac = new AbortController();
  let error: NodeJS.ErrnoException | undefined;
  // Tests hand in plain objects with only write(); a real stream always has on(). Prepended: the
  // failure is marked as the command's before the CLI's own listener (main.ts) looks at it.
  (io.stdout as Partial<NodeJS.WritableStream>).prependListener?.('error', (e: NodeJS.ErrnoException) => {
    if (options.reportsFailure) reportedByCommand.add(e);
    error ??= e;
    ac.abort(e);
  });
  return {
    signal: ac.signal,
    get error() {
      return error;
    },
  };
}

/** stdout failures a command reports in its own words (the dry run's summary): the CLI does not say it again. */
const reportedByCommand = new WeakSet<Error>();

export function outputFailureReported(e: Error): boolean {
  return reportedByCommand.has(e);
}
