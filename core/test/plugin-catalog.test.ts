import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listInstalledPlugins } from '../src/plugins/catalog.js';
import { searchRoots } from '../src/plugins/loader.js';
import { parseConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { buildAdminApp } from '../src/admin/index.js';
import { MemorySink, repoRoot, silentLogger, tempDir, writePlugin } from './helpers.js';

/**
 * Listing plugins reads package.json metadata only. Each of these packages would end, throw or
 * hang the process if it were imported; the listing names them all, and this test file finishing
 * is the proof that none ran.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SOURCE = `configSchema: { type: 'object', properties: {} },\ncreate: () => ({ poll: async () => ({ events: [], checkpoint: null }) }),`;

function hostileProject(): string {
  const dir = tempDir('fabric-catalog-');
  dirs.push(dir);
  for (const [name, prelude] of [
    ['plugin-exits', 'process.exit(3);'],
    ['plugin-throws', "throw new Error('import-time boom');"],
    ['plugin-spins', 'for (;;) {}'],
  ] as const) {
    writePlugin(dir, name, { body: SOURCE });
    const entry = join(dir, 'node_modules', name, 'index.js');
    writeFileSync(entry, `${prelude}\n${readFileSync(entry, 'utf8')}`);
  }
  return dir;
}

function setSchemaField(dir: string, name: string, configSchema: unknown): void {
  const pj = join(dir, 'node_modules', name, 'package.json');
  const m = JSON.parse(readFileSync(pj, 'utf8')) as { reactiveFabric: Record<string, unknown> };
  m.reactiveFabric.configSchema = configSchema;
  writeFileSync(pj, JSON.stringify(m));
}

describe('the plugin catalog never runs plugin code', () => {
  it('lists packages that exit, throw or loop at import, with name, version, kind and compatibility', async () => {
    const dir = hostileProject();
    const listed = await listInstalledPlugins(searchRoots(dir));
    expect(listed.map((p) => [p.name, p.version, p.kind, p.compatible])).toEqual([
      ['plugin-exits', '1.2.3', 'source', true],
      ['plugin-spins', '1.2.3', 'source', true],
      ['plugin-throws', '1.2.3', 'source', true],
    ]);
  });

  it('GET /plugins answers with them while a config uses none of them', async () => {
    const dir = hostileProject();
    writePlugin(dir, 'plugin-fine', { body: SOURCE });
    const yaml = 'state_dir: ./state\ncollectors:\n  - id: c1\n    plugin: plugin-fine\n';
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), {}), { cwd: dir, logger: silentLogger(), sink: new MemorySink() });
    const token = 'plugin-catalog-token-0123456789abcdef';
    const app = await buildAdminApp(orch, {}, { logger: silentLogger(), token });
    try {
      const res = await app.inject({ url: '/plugins', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      // The bundled plugins beside this fabric are on the search path too.
      const names = (res.json() as { plugins: Array<{ name: string }> }).plugins.map((p) => p.name);
      expect(names.filter((n) => !n.startsWith('@reactive-fabric/'))).toEqual(['plugin-exits', 'plugin-fine', 'plugin-spins', 'plugin-throws']);
      expect(names).toContain('@reactive-fabric/plugin-log-file');
      // Validating a config for one imports it, in a throw-away worker: the host lives on and says why.
      const v = await app.inject({
        method: 'POST',
        url: '/plugins/plugin-exits/config/validate',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: {},
      });
      expect(v.statusCode).toBe(200);
      expect(v.json()).toMatchObject({ plugin: 'plugin-exits', valid: false });
      expect(JSON.stringify(v.json())).toMatch(/EXITED.*exited with code 3/);
      const ok = await app.inject({
        method: 'POST',
        url: '/plugins/plugin-fine/config/validate',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: {},
      });
      expect(ok.json()).toMatchObject({ plugin: 'plugin-fine', valid: true });
    } finally {
      await app.close();
      await orch.stop();
    }
  });

  it('shows the config schema from the JSON file package.json names, and refuses one outside the package', async () => {
    const dir = tempDir('fabric-catalog-');
    dirs.push(dir);
    writePlugin(dir, 'plugin-schema', { body: SOURCE });
    writeFileSync(join(dir, 'node_modules', 'plugin-schema', 'schema.json'), JSON.stringify({ type: 'object', properties: { url: { type: 'string' } } }));
    setSchemaField(dir, 'plugin-schema', 'schema.json');
    writePlugin(dir, 'plugin-escape', { body: SOURCE });
    setSchemaField(dir, 'plugin-escape', '../../etc/passwd');
    writePlugin(dir, 'plugin-link', { body: SOURCE });
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(dir, 'outside', 'secret.json'), '{"type":"object"}');
    symlinkSync(join(dir, 'outside', 'secret.json'), join(dir, 'node_modules', 'plugin-link', 'schema.json'));
    setSchemaField(dir, 'plugin-link', 'schema.json');
    writePlugin(dir, 'plugin-garbage', { body: SOURCE });
    writeFileSync(join(dir, 'node_modules', 'plugin-garbage', 'schema.json'), '{ not json');
    setSchemaField(dir, 'plugin-garbage', 'schema.json');

    const byName = Object.fromEntries((await listInstalledPlugins(searchRoots(dir))).map((p) => [p.name, p]));
    expect(byName['plugin-schema']!.configSchema).toEqual({ type: 'object', properties: { url: { type: 'string' } } });
    expect(byName['plugin-schema']!.problem).toBeUndefined();
    expect(byName['plugin-escape']!.configSchema).toBeUndefined();
    expect(byName['plugin-escape']!.problem).toMatch(/reactiveFabric\.configSchema.*"\.\.\/\.\.\/etc\/passwd".*outside the package/);
    expect(byName['plugin-link']!.problem).toMatch(/reactiveFabric\.configSchema.*symbolic link/);
    expect(byName['plugin-garbage']!.problem).toMatch(/reactiveFabric\.configSchema.*invalid JSON/);
  });

  it('the bundled plugins ship the config schema of their built definition (scripts/plugin-schemas.mjs --check)', async () => {
    // Exits 1 naming the package when a config-schema.json has drifted from its definition.
    execFileSync(process.execPath, [join(repoRoot, 'scripts/plugin-schemas.mjs'), '--check'], { cwd: repoRoot, stdio: 'pipe' });
    const listed = await listInstalledPlugins(searchRoots(repoRoot));
    const logFile = listed.find((p) => p.name === '@reactive-fabric/plugin-log-file')!;
    expect(logFile.problem).toBeUndefined();
    expect((logFile.configSchema as { properties: Record<string, unknown> }).properties).toHaveProperty('paths');
  });
});
