import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, relative as relativePath } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { loadPlugin } from '../src/plugins/loader.js';
import { resolveComponents } from '../src/plugins/resolve.js';
import { pluginSearchPath } from '../src/plugins/search-path.js';
import { BUNDLED_PLUGINS, closestPlugin } from '../src/plugins/suggest.js';
import { repoRoot, tempDir, writePlugin } from './helpers.js';

const exec = promisify(execFile);
const fabric = join(repoRoot, 'core/bin/fabric.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SOURCE = `configSchema: { type: 'object', properties: {}, additionalProperties: false },\ncreate: () => ({ poll: async () => ({ events: [], checkpoint: null }) }),`;

/** writePlugin puts packages under <root>/node_modules; a plugin_paths folder is that node_modules folder. */
function pluginFolder(version: string): string {
  const root = tempDir('fabric-ppath-');
  dirs.push(root);
  writePlugin(root, 'plugin-shared', { body: SOURCE, version });
  return join(root, 'node_modules');
}

async function configProblem(yaml: string, dir: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  writeFileSync(join(dir, 'fabric.yaml'), yaml);
  const loaded = loadConfig(join(dir, 'fabric.yaml'), env);
  const err = await resolveComponents(loaded, pluginSearchPath({ cwd: dir, configDir: dir, pluginPaths: loaded.config.plugin_paths, env })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return (err as Error).message;
}

describe('plugin search path', () => {
  it('FABRIC_PLUGIN_PATH, then plugin_paths (relative to the config), then the defaults: the first copy of a name wins', async () => {
    const fromEnv = pluginFolder('1.0.0');
    const fromConfig = pluginFolder('2.0.0');
    const project = tempDir('fabric-ppath-project-');
    dirs.push(project);
    writePlugin(project, 'plugin-shared', { body: SOURCE, version: '3.0.0' });
    const configDir = join(project, 'etc');
    mkdirSync(configDir);

    const path = (env: NodeJS.ProcessEnv, pluginPaths: string[]) => pluginSearchPath({ cwd: project, configDir, pluginPaths, env });
    // Relative to the config folder (both temp folders are siblings).
    const relative = relativePath(configDir, fromConfig);
    expect((await loadPlugin('plugin-shared', path({}, [relative]))).pkg.version).toBe('2.0.0');

    expect((await loadPlugin('plugin-shared', path({ FABRIC_PLUGIN_PATH: `/nonexistent${delimiter}${fromEnv}` }, [fromConfig]))).pkg.version).toBe('1.0.0');
    expect((await loadPlugin('plugin-shared', path({}, [fromConfig]))).pkg.version).toBe('2.0.0');
    expect((await loadPlugin('plugin-shared', path({}, []))).pkg.version).toBe('3.0.0');
  });

  it('`fabric validate` run from / with a config elsewhere finds the plugins installed beside fabric', async () => {
    const dir = tempDir('fabric-ppath-etc-');
    dirs.push(dir);
    writeFileSync(
      join(dir, 'fabric.yaml'),
      'state_dir: ./state\ncollectors:\n  - id: auth\n    plugin: "@reactive-fabric/plugin-log-file"\n    config: { paths: [/var/log/auth.log] }\n',
    );
    const r = await exec(process.execPath, [fabric, 'validate', '-c', join(dir, 'fabric.yaml')], { cwd: '/' });
    expect(r.stdout).toContain('valid (1 collector(s)');
  }, 30_000);

  it('`fabric plugins list` shows where each plugin came from and the search path in order', async () => {
    const folder = pluginFolder('4.0.0');
    const cwd = tempDir('fabric-ppath-cwd-');
    dirs.push(cwd);
    const r = await exec(process.execPath, [fabric, 'plugins', 'list'], { cwd, env: { ...process.env, FABRIC_PLUGIN_PATH: folder } });
    expect(r.stdout).toMatch(/^plugin-shared\s+4\.0\.0\s+source\s+\^1\.0\.0\s+FABRIC_PLUGIN_PATH\s+yes$/m);
    expect(r.stdout).toMatch(/^@reactive-fabric\/plugin-log-file\s+\S+\s+source\s+\S+\s+fabric installation\s+yes$/m);
    const path = r.stdout.slice(r.stdout.indexOf('search path'));
    expect(path.indexOf(folder)).toBeGreaterThan(0);
    expect(path.indexOf(folder)).toBeLessThan(path.indexOf(cwd));
    expect(path).toContain('[fabric installation]');
    const json = JSON.parse((await exec(process.execPath, [fabric, 'plugins', 'list', '--json'], { cwd, env: { ...process.env, FABRIC_PLUGIN_PATH: folder } })).stdout) as Array<{
      name: string;
      origin: string;
      dir: string;
    }>;
    expect(json.find((p) => p.name === 'plugin-shared')).toMatchObject({ origin: 'FABRIC_PLUGIN_PATH', dir: join(folder, 'plugin-shared') });
  }, 30_000);
});

describe('a plugin that is not installed: suggestions never invite typosquatting', () => {
  it('a misspelt name gets "did you mean" the installed plugin, never "install <misspelt name>"', async () => {
    const dir = tempDir('fabric-suggest-');
    dirs.push(dir);
    const message = await configProblem('collectors:\n  - id: a\n    plugin: "@reactive-fabric/plugin-log-fiel"\n', dir);
    expect(message).toContain('did you mean @reactive-fabric/plugin-log-file? (installed)');
    expect(message).not.toMatch(/(pnpm add|npm install) @reactive-fabric\/plugin-log-fiel\b/);
  });

  it('a short name is matched to the bundled plugin', () => {
    expect(closestPlugin('log-file', BUNDLED_PLUGINS)).toBe('@reactive-fabric/plugin-log-file');
    expect(closestPlugin('virustotl', BUNDLED_PLUGINS)).toBe('@reactive-fabric/plugin-ti-virustotal');
    expect(closestPlugin('something-else-entirely', BUNDLED_PLUGINS)).toBeUndefined();
    // A shared prefix does not make two plugins alike.
    expect(closestPlugin('reactive-fabric-plugin-e2e-records', ['reactive-fabric-plugin-cowrie'])).toBeUndefined();
    expect(closestPlugin('reactive-fabric-plugin-cowry', ['reactive-fabric-plugin-cowrie'])).toBe('reactive-fabric-plugin-cowrie');
  });

  it('a name like no known plugin gets no install command at all', async () => {
    const dir = tempDir('fabric-suggest-');
    dirs.push(dir);
    const message = await configProblem('collectors:\n  - id: a\n    plugin: "fabric-plugin-kafka-connector"\n', dir);
    expect(message).toContain('fabric plugins list');
    expect(message).not.toMatch(/pnpm add|npm install/);
  });

  it('the bundled list is the plugins this repository publishes', () => {
    const names = readdirSync(join(repoRoot, 'plugins')).map((d) => (JSON.parse(readFileSync(join(repoRoot, 'plugins', d, 'package.json'), 'utf8')) as { name: string }).name);
    expect([...BUNDLED_PLUGINS].sort()).toEqual(names.sort());
  });
});
