import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadPlugin, searchRoots } from '../src/plugins/loader.js';
import { listInstalledPlugins } from '../src/plugins/catalog.js';
import { parseConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { buildAdminApp } from '../src/admin/index.js';
import { MemorySink, silentLogger, tempDir, writePlugin } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SOURCE = `configSchema: { type: 'object', properties: {}, additionalProperties: false },\ncreate: () => ({ poll: async () => ({ events: [], checkpoint: null }) }),`;

describe("plugin listing uses the loader's resolution", () => {
  it("lists plugins installed in a parent folder's node_modules, as the loader finds them, nearest first", async () => {
    const top = tempDir('fabric-parent-');
    dirs.push(top);
    const project = join(top, 'deploy', 'site-a');
    mkdirSync(project, { recursive: true });
    writePlugin(top, 'plugin-from-parent', { body: SOURCE, version: '2.0.0' });
    writePlugin(top, 'plugin-shadowed', { body: SOURCE, version: '1.0.0' });
    writePlugin(project, 'plugin-shadowed', { body: SOURCE, version: '3.0.0' });

    const roots = searchRoots(project);
    expect((await loadPlugin('plugin-from-parent', roots)).pkg.version).toBe('2.0.0');
    const listed = await listInstalledPlugins(roots);
    const byName = Object.fromEntries(listed.map((p) => [p.name, p]));
    expect(byName['plugin-from-parent']).toMatchObject({ version: '2.0.0', compatible: true, kind: 'source' });
    // The same copy the loader would use.
    expect(byName['plugin-shadowed']!.version).toBe((await loadPlugin('plugin-shadowed', roots)).pkg.version);
    expect(byName['plugin-shadowed']!.version).toBe('3.0.0');
  });

  it('GET /plugins shows the parent-folder plugin a running config uses', async () => {
    const top = tempDir('fabric-parent-');
    dirs.push(top);
    const project = join(top, 'site');
    mkdirSync(project, { recursive: true });
    writePlugin(top, 'plugin-up-there', { body: SOURCE });
    const yaml = 'state_dir: ./state\ncollectors:\n  - id: c1\n    plugin: plugin-up-there\n';
    const orch = await composeFabric(parseConfig(yaml, join(project, 'fabric.yaml'), {}), { cwd: project, logger: silentLogger(), sink: new MemorySink() });
    const token = 'plugins-listing-token-0123456789';
    const app = await buildAdminApp(orch, {}, { logger: silentLogger(), token });
    try {
      const res = await app.inject({ url: '/plugins', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      expect((res.json() as { plugins: Array<{ name: string }> }).plugins.map((p) => p.name)).toContain('plugin-up-there');
    } finally {
      await app.close();
      await orch.stop();
    }
  });
});
