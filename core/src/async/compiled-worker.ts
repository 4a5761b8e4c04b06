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
