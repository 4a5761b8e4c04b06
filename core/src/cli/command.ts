/** A `fabric` subcommand. Each lives in its own file under cli/commands/. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface CliCommand {
  /** Words that select the command, e.g. ["plugin", "new"] or ["scan"]. */
  name: string[];
  summary: string;
  usage: string;
  /** Returns the process exit code. `argv` is what follows the command's name. */
  run(argv: string[], io: CliIo): Promise<number>;
}
