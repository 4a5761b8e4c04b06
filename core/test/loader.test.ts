import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPlugin, type PluginLoadError } from '../src/plugins/loader.js';
import { listInstalledPlugins } from '../src/plugins/catalog.js';
import { resolveComponents } from '../src/plugins/resolve.js';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { PLUGIN_API_VERSION } from '../src/plugin-api/index.js';
import { tempDir, writePlugin } from './helpers.js';

const schema = `configSchema: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535, default: 9200 }, password: { type: 'string', writeOnly: true, 'x-secret': true } } },
create() { return { async poll() { return { events: [], checkpoint: null }; } }; },`;

async function loadError(name: string, root: string): Promise<PluginLoadError> {
  try {
    await loadPlugin(name, [root]);
  } catch (err) {
    return err as PluginLoadError;
  }
  throw new Error('plugin loaded');
}

describe('plugin loader', () => {
  it('loads an installed plugin and reads its manifest', async () => {
    const root = tempDir();
    writePlugin(root, '@acme/fabric-plugin-good', { body: schema });
    const p = await loadPlugin('@acme/fabric-plugin-good', [root]);
    expect(p.pkg).toMatchObject({ name: '@acme/fabric-plugin-good', version: '1.2.3', kind: 'source', apiRange: '^1.0.0' });
    expect(typeof p.definition.create).toBe('function');
  });

  it('a missing plugin: names where it was searched, and never tells to install the unverified name', async () => {
    const root = tempDir();
    const err = await loadError('@acme/not-there', root);
    expect(err.code).toBe('PLUGIN_NOT_INSTALLED');
    expect(err.message).toContain(`searched: ${root}`);
    expect(err.message).toContain('fabric plugins list');
    expect(err.message).not.toMatch(/(pnpm add|npm install) @acme\/not-there/);
  });

  it('never resolves a name that is not a package name (no path out of node_modules)', async () => {
    const root = tempDir();
    writePlugin(root, 'fabric-plugin-good', { body: schema });
    for (const name of ['../node_modules/fabric-plugin-good', 'fabric-plugin-good/../fabric-plugin-good', '/etc', '@a/b/c', '']) {
      expect((await loadError(name, root)).code, name).toBe('PLUGIN_NOT_INSTALLED');
    }
  });

  it('refuses a plugin built for another plugin API with both versions in the message', async () => {
    const root = tempDir();
    writePlugin(root, 'fabric-plugin-future', { apiRange: '^2.0.0', body: schema });
    const err = await loadError('fabric-plugin-future', root);
    expect(err.code).toBe('PLUGIN_API_MISMATCH');
    expect(err.message).toContain('^2.0.0');
    expect(err.message).toContain(PLUGIN_API_VERSION);
  });

  it('refuses a package that does not export a plugin definition', async () => {
    const root = tempDir();
    writePlugin(root, 'fabric-plugin-empty', { body: '' });
    const err = await loadError('fabric-plugin-empty', root);
    expect(err.code).toBe('PLUGIN_INVALID');
    expect(err.message).toMatch(/missing .*configSchema/);
  });

  it('lists installed plugins with their compatibility', async () => {
    const root = tempDir();
    writePlugin(root, 'fabric-plugin-ok', { body: schema });
    writePlugin(root, 'fabric-plugin-old', { apiRange: '^0.9.0', body: schema });
    const list = await listInstalledPlugins([root]);
    expect(list.map((p) => [p.name, p.compatible])).toEqual([
      ['fabric-plugin-ok', true],
      ['fabric-plugin-old', false],
    ]);
    expect(list[1]!.problem).toContain('^0.9.0');
  });
});

describe('collector config validation against the plugin schema', () => {
  function configWith(root: string, yaml: string) {
    const file = join(root, 'fabric.yaml');
    writeFileSync(file, yaml);
    return loadConfig(file, {});
  }

  it('names the collector, the package, the field path and the bad value; hides secrets', async () => {
    const root = tempDir();
    writePlugin(root, 'fabric-plugin-es', { body: schema });
    const loaded = configWith(root, `collectors:\n  - id: es-prod\n    plugin: fabric-plugin-es\n    config:\n      url: https://es\n      port: 99999\n      password: 12\n`);
    const err = await resolveComponents(loaded, [root]).catch((e: unknown) => e as ConfigError);
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as ConfigError).message;
    expect(text).toContain('collectors[0].config.port');
    expect(text).toContain('es-prod');
    expect(text).toContain('99999');
    expect(text).toContain(':6');
    expect(text).toContain('collectors[0].config.password');
    expect(text).not.toMatch(/got 12\b/);
  });

  it('says which collectors still use a removed plugin and how to fix it', async () => {
    const root = tempDir();
    const loaded = configWith(root, `collectors:\n  - id: honeypot\n    plugin: fabric-plugin-cowrie\n`);
    const err = (await resolveComponents(loaded, [root]).catch((e: unknown) => e)) as ConfigError;
    expect(err.message).toContain('collector "honeypot" uses plugin fabric-plugin-cowrie');
    expect(err.message).toContain('remove collector "honeypot"');
  });

  it('applies schema defaults to the plugin config', async () => {
    const root = tempDir();
    writePlugin(root, 'fabric-plugin-es', { body: schema });
    const loaded = configWith(root, `collectors:\n  - id: es\n    plugin: fabric-plugin-es\n    config: { url: "https://es", password: "hunter22" }\n`);
    const [c] = await resolveComponents(loaded, [root]);
    expect(c!.pluginConfig).toEqual({ url: 'https://es', port: 9200, password: 'hunter22' });
    expect(c!.secrets).toEqual(['hunter22']);
  });
});
