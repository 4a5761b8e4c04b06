import { validateConfig } from '@reactive-fabric/test-kit';
import plugin from '../src/index.js';

/**
 * The config the host hands create() for `config`: checked against the plugin's own config schema,
 * with its defaults filled in, so a test names only what it sets and runs with the defaults as
 * shipped.
 */
export function hostConfig(config: Record<string, unknown>): never {
  const { value, errors } = validateConfig(plugin.configSchema, config);
  if (errors.length > 0) throw new Error(`the plugin's config schema refuses this test config: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return value as never;
}
