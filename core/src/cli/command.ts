/** A `fabric` subcommand. Each lives in a file under cli/commands/; main.ts turns them into commander commands. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl+C by commands that run until stopped (tap, top); tests abort it themselves. */
  signal?: AbortSignal;
}

/** One flag of a command, declared as data so help, suggestions and parsing come from one place. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  /** One-letter alias, e.g. "c" for -c. */
  short?: string;
  /** May be given more than once; the values arrive as an array. */
  multiple?: boolean;
  /** Name of the value in help, e.g. "config.yaml" in `--config <config.yaml>`. */
  arg?: string;
  description: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** What the parser hands a command: flag values by their long name (as declared), and the operands. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Headings of the top-level help, in the order they are shown. */
export const HELP_GROUPS = ['Run', 'Watch and control a running instance', 'Detection', 'Plugins'] as const;

export interface CliCommand {
  /** Words that select the command, e.g. ["plugin", "new"] or ["scan"]. */
  name: string[];
  summary: string;
  /** The whole usage line, "fabric <name> ...": shown by --help and quoted in usage errors. */
  usage: string;
  group: (typeof HELP_GROUPS)[number];
  flags: FlagSpecs;
  /** Takes arguments besides its flags (ids, files, names); a command without any refuses a stray word. */
  operands?: boolean;
  /** Longer text --help shows after the flags. */
  details?: string;
  /** Returns the process exit code. */
  run(args: ParsedArgs, io: CliIo): Promise<number>;
}
