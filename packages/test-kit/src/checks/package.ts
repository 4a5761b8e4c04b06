import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Problems between a plugin's package.json and its definition. The loader reads package.json
 * (`reactiveFabric.pluginApi`, `kind`) before importing anything, then the definition: when they
 * disagree, `plugins list` says one thing and loading does another.
 */
export function checkPackageJson(pkg: Record<string, unknown>, definition: { name?: unknown; version?: unknown; kind?: unknown; apiVersion?: unknown }): string[] {
  const problems: string[] = [];
  if (pkg.name !== definition.name)
    problems.push(`name: package.json says ${JSON.stringify(pkg.name)}, definePlugin says ${JSON.stringify(definition.name)}; they must be the same`);
  if (pkg.version !== definition.version)
    problems.push(`version: package.json says ${JSON.stringify(pkg.version)}, definePlugin says ${JSON.stringify(definition.version)} (read it from package.json or bump both)`);
  const rf = pkg.reactiveFabric as Record<string, unknown> | undefined;
  if (!rf || typeof rf !== 'object') {
    problems.push(
      `reactiveFabric: missing; add "reactiveFabric": { "pluginApi": ${JSON.stringify(definition.apiVersion ?? '^1.0.0')}, "kind": ${JSON.stringify(definition.kind ?? 'source')} } so the host can check compatibility before loading`,
    );
  } else {
    if (rf.pluginApi !== definition.apiVersion)
      problems.push(
        `reactiveFabric.pluginApi: package.json says ${JSON.stringify(rf.pluginApi)}, definePlugin apiVersion says ${JSON.stringify(definition.apiVersion)}; they must be the same range`,
      );
    if (rf.kind !== definition.kind) problems.push(`reactiveFabric.kind: package.json says ${JSON.stringify(rf.kind)}, definePlugin says ${JSON.stringify(definition.kind)}`);
  }
  const keywords = Array.isArray(pkg.keywords) ? pkg.keywords : [];
  if (!keywords.includes('reactive-fabric-plugin')) problems.push('keywords: add "reactive-fabric-plugin" (how users find plugins on npm, and how plugins list recognises it)');
  const peers = (pkg.peerDependencies ?? {}) as Record<string, unknown>;
  const deps = (pkg.dependencies ?? {}) as Record<string, unknown>;
  if (!('@reactive-fabric/core' in peers)) problems.push("peerDependencies: must list @reactive-fabric/core (the host's copy is the one the plugin runs with)");
  if ('@reactive-fabric/core' in deps) problems.push('dependencies: must not list @reactive-fabric/core (a second copy of core would be installed); make it a peer dependency');
  return problems;
}

/** Read a package.json given as a path or file: URL. */
export async function readPackageJson(location: string | URL): Promise<Record<string, unknown>> {
  const path = location instanceof URL ? fileURLToPath(location) : location;
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}
