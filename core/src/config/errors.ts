import { FabricError } from '../errors/fabric-error.js';

/** One problem found in a config file, located as precisely as we can. */
export interface ConfigProblem {
  /** Dotted path in the config, e.g. "collectors[0].config.paths". */
  path: string;
  message: string;
  /** 1-based line in the file, when known. */
  line?: number;
  /** What to do about it. */
  fix?: string;
}

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_NOT_FOUND' | 'CONFIG_SYNTAX' | 'CONFIG_ENV_MISSING' | 'CONFIG_TOO_LARGE' | 'CONFIG_PLUGINS';

/** The config cannot be used. `code` is stable; the message names file, line, field and value. */
export class ConfigError extends FabricError {
  declare readonly code: ConfigErrorCode;
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
    code: ConfigErrorCode = 'CONFIG_INVALID',
  ) {
    super(code, formatProblems(file, problems));
  }
}

export function formatProblems(file: string, problems: ConfigProblem[]): string {
  const lines = problems.map((p) => {
    const where = p.line ? `${file}:${p.line}` : file;
    return `  ${where}  ${p.path || '(root)'}: ${p.message}${p.fix ? `\n      fix: ${p.fix}` : ''}`;
  });
  return `invalid configuration in ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/** "/collectors/0/config/paths" → "collectors[0].config.paths" */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(key)) out += `[${key}]`;
    else out += out ? `.${key}` : key;
  }
  return out;
}
