import { distance } from 'fastest-levenshtein';
import { pluginDirs } from './catalog.js';
import type { SearchRoot } from './search-path.js';

/**
 * What to tell an operator whose config names a plugin that is not installed. The name is as
 * typed and unverified: telling them to install it would be an invitation to typosquatting (a
 * misspelt name may well exist on the registry, published by someone else). So we suggest only
 * names we know: an installed plugin, or one of the plugins published with Reactive Fabric.
 */

/** The plugins published with Reactive Fabric (a test checks this against plugins/*). */
export const BUNDLED_PLUGINS: readonly string[] = [
  '@reactive-fabric/plugin-log-elasticsearch',
  '@reactive-fabric/plugin-log-file',
  '@reactive-fabric/plugin-log-graylog',
  '@reactive-fabric/plugin-log-splunk',
  '@reactive-fabric/plugin-ti-abuseipdb',
  '@reactive-fabric/plugin-ti-misp',
  '@reactive-fabric/plugin-ti-otx',
  '@reactive-fabric/plugin-ti-virustotal',
];

/** "@reactive-fabric/plugin-log-file" → "log-file": what tells plugins apart, without the prefixes they share. */
function shortName(name: string): string {
  return name
    .toLowerCase()
    .replace(/^@[^/]+\//, '')
    .replace(/^(reactive-fabric-plugin-|fabric-plugin-|plugin-)/, '');
}

/** The known plugin name nearest to `typed`, when it is near enough to be a slip. */
export function closestPlugin(typed: string, known: readonly string[]): string | undefined {
  const t = shortName(typed);
  let best: { name: string; d: number; len: number } | undefined;
  for (const name of known) {
    const k = shortName(name);
    // Compared without the shared prefixes, which would make every long name look near.
    // "virustotal" for "ti-virustotal": the bundled plugins' kind prefix is often left out.
    const d = typed.toLowerCase() === name.toLowerCase() ? 0 : Math.min(distance(t, k), distance(t, k.replace(/^(ti|log)-/, '')));
    if (!best || d < best.d) best = { name, d, len: Math.min(t.length, k.length) };
  }
  if (!best) return undefined;
  return best.d <= Math.max(2, Math.floor(best.len / 3)) ? best.name : undefined;
}

/** The `fix:` of a PLUGIN_NOT_INSTALLED config problem. */
export function notInstalledFix(typed: string, roots: readonly SearchRoot[]): string {
  const installed = [...pluginDirs(roots).keys()];
  const near = closestPlugin(typed, [...new Set([...installed, ...BUNDLED_PLUGINS])]);
  const install = (name: string) => `pnpm add ${name} (or npm install ${name})`;
  if (BUNDLED_PLUGINS.includes(typed)) return `install it: ${install(typed)}, or add the folder it is in to plugin_paths`;
  if (near && installed.includes(near)) return `did you mean ${near}? (installed)`;
  if (near) return `did you mean ${near}? install it with ${install(near)}`;
  return 'no installed plugin has a similar name: `fabric plugins list` shows the installed ones and the search path; install a third-party plugin by its exact published name, checked at its source';
}
