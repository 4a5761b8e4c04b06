import type { FlagSpec } from './command.js';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { UsageError } from './args.js';

/** -c/--config, or fabric.yaml in the working directory. */
export function configPath(flag: string | undefined, cwd: string): string {
  if (flag) return resolve(cwd, flag);
  for (const name of ['fabric.yaml', 'fabric.yml']) if (existsSync(resolve(cwd, name))) return resolve(cwd, name);
  throw new UsageError('no config file: pass -c <config.yaml> (or put a fabric.yaml in the working directory)');
}

/** The -c/--config flag, as every command that reads a config file declares it. */
export const configFlag: FlagSpec = { type: 'string', short: 'c', arg: 'config.yaml', description: 'config file (default: fabric.yaml in the working directory)' };
