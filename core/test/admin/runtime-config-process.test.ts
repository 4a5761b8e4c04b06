import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFabric, tempDir, until, writePlugin } from '../helpers.js';

/**
 * `fabric start` as operators run it (core/dist, a child process): SIGHUP reloads the config, and
 * a collector created through the admin API is there again after a restart (the overlay).
 */
const TOKEN = 'runtime-process-token-7e3b9d41c0';
const children: Array<ReturnType<typeof startFabric>> = [];
afterAll(() => {
  for (const c of children) c.child.kill('SIGKILL');
});

function ticker(id: string, label: string): string {
  return `  - id: ${id}\n    plugin: plugin-ticker\n    config: { label: ${label} }\n`;
}

describe('fabric start: SIGHUP and the overlay', () => {
  it('reloads on SIGHUP and applies collectors created through the API at the next start', async () => {
    const dir = tempDir('fabric-runtime-process-');
    writePlugin(dir, 'plugin-ticker', {
      body: `configSchema: { type: 'object', properties: { label: { type: 'string' } }, required: ['label'], additionalProperties: false },
  create(config) {
    return { async poll({ checkpoint }) { const n = checkpoint ? checkpoint.n : 0; return { events: [{ '@timestamp': new Date().toISOString(), message: config.label + ' ' + n }], checkpoint: { n: n + 1 } }; } };
  },`,
    });
    const config = join(dir, 'fabric.yaml');
    const base = `state_dir: ./state
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
pipeline: { publish: all }
orchestrator: { collection_interval_seconds: 0.1 }
admin: { enabled: true, port: 0, token: "${TOKEN}" }
collectors:
`;
    writeFileSync(config, base + ticker('a', 'A'));
    const api = async (method: string, route: string, body?: unknown) => {
      const url = readFileSync(join(dir, 'state', 'admin-url'), 'utf8').trim();
      const res = await fetch(`${url}${route}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
    };
    const ids = async () => ((await api('GET', '/collectors')).body.collectors as Array<{ id: string }>).map((c) => c.id).sort();

    const first = startFabric(config, dir);
    children.push(first);
    await until(() => first.stderr().includes('reactive fabric running'), 30_000);
    expect(await ids()).toEqual(['a']);

    writeFileSync(config, base + ticker('a', 'A') + ticker('b', 'B'));
    first.child.kill('SIGHUP');
    await until(async () => (await ids()).includes('b'), 15_000);
    expect((await api('POST', '/collectors', { id: 'c', plugin: 'plugin-ticker', config: { label: 'C' } })).status).toBe(201);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });

    const second = startFabric(config, dir);
    children.push(second);
    await until(() => second.stderr().includes('reactive fabric running'), 30_000);
    expect(await ids()).toEqual(['a', 'b', 'c']);
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 90_000);
});
