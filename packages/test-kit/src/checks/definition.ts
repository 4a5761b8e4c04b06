import semver from 'semver';
import { PLUGIN_API_VERSION } from '@reactive-fabric/core';

// npm's own naming rules (validate-npm-package-name, new packages): lower case, url-safe, ≤214 chars.
const NPM_NAME = /^(?:@[a-z0-9-*~][a-z0-9-*._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/** Problems with a plugin definition's shape, each naming the property and the fix. */
export function checkDefinition(plugin: unknown, apiVersion: string = PLUGIN_API_VERSION): string[] {
  if (plugin === null || typeof plugin !== 'object') {
    return [`the plugin module must export the object returned by definePlugin(), got ${plugin === null ? 'null' : typeof plugin}`];
  }
  const p = plugin as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof p.name !== 'string' || p.name.length === 0 || p.name.length > 214 || !NPM_NAME.test(p.name)) {
    problems.push(`name: must be the plugin's npm package name (lower case, e.g. "@acme/reactive-fabric-plugin-foo"), got ${JSON.stringify(p.name)}`);
  }
  if (typeof p.version !== 'string' || semver.valid(p.version) === null) {
    problems.push(`version: must be a semver version like "1.2.3" (usually package.json's version), got ${JSON.stringify(p.version)}`);
  }
  if (p.kind !== 'source' && p.kind !== 'enricher') {
    problems.push(`kind: must be "source" or "enricher", got ${JSON.stringify(p.kind)}`);
  }
  problems.push(...checkApiRange(p.apiVersion, apiVersion));
  if (p.description !== undefined && typeof p.description !== 'string') {
    problems.push(`description: must be a string when present, got ${typeof p.description}`);
  }
  const schema = p.configSchema as Record<string, unknown> | undefined;
  if (schema === null || typeof schema !== 'object') {
    problems.push('configSchema: must be a TypeBox/JSON Schema object, e.g. Type.Object({...}, { additionalProperties: false })');
  } else {
    if (schema.type !== 'object') problems.push(`configSchema: must describe an object (type "object"), got type ${JSON.stringify(schema.type)}`);
    if (schema.additionalProperties !== false) {
      problems.push('configSchema: must set additionalProperties: false so a misspelt field is reported instead of silently ignored');
    }
  }
  if (typeof p.create !== 'function') problems.push('create: must be a function (config, context) => instance');
  return problems;
}

/** The declared range must be valid semver and accept the API version this core implements. */
export function checkApiRange(range: unknown, apiVersion: string = PLUGIN_API_VERSION): string[] {
  if (typeof range !== 'string' || range.trim() === '' || semver.validRange(range) === null) {
    return [`apiVersion: must be a semver range of the plugin API such as "^1.0.0", got ${JSON.stringify(range)}`];
  }
  if (!semver.satisfies(apiVersion, range)) {
    return [
      `apiVersion: the range "${range}" does not accept this core's plugin API ${apiVersion}; declare a range that includes it (e.g. "^${semver.major(apiVersion)}.0.0") or build against a matching core`,
    ];
  }
  return [];
}
