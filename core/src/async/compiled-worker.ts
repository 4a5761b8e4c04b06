import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The path of a worker script next to the module `moduleUrl` (its `import.meta.url`). Worker
 * threads need JavaScript: when the module runs from src/ (vitest), the path points at the same
 * folder under dist/, so tests run the built worker.
 */
export function compiledWorkerPath(moduleUrl: string, script: string): string {
  if (!moduleUrl.endsWith('.ts')) return fileURLToPath(new URL(`./${script}`, moduleUrl));
  const src = new URL('.', moduleUrl).href;
  const dist = src.replace(/\/src\/((?:[^/]+\/)*)$/, '/dist/$1');
  return fileURLToPath(new URL(script, dist));
}

/** compiledWorkerPath for a worker that must exist: a missing build is refused with what to do. `what` names it. */
export function requireCompiledWorker(moduleUrl: string, script: string, what: string): string {
  const file = compiledWorkerPath(moduleUrl, script);
  if (!existsSync(file)) throw new Error(`${what} ${file} is missing: build with "npx tsc -b" from the repository root`);
  return file;
}
