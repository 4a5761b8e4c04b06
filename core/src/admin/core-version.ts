import { readFileSync } from 'node:fs';

/**
 * The version of @reactive-fabric/core, from its package.json (two folders up from this module
 * both in `src/admin/` and in `dist/admin/`). Read once; "unknown" if the file cannot be read.
 */
let cached: string | undefined;

export function coreVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
