import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin, Type } from '@reactive-fabric/core';
import { conformanceSuite } from '@reactive-fabric/test-kit';
import type { AnyPlugin } from '@reactive-fabric/test-kit';

/**
 * The isolation checks run the package's built entry in a worker thread, as the host does. The
 * definition under test here is well-behaved; the package on disk carries the misbehaviour, the
 * way a built file can differ from what its author tested inline.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NAME = '@example/reactive-fabric-plugin-worker-toy';
const definition = definePlugin({
  name: NAME,
  version: '1.0.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create: () => ({
    async poll({ checkpoint }) {
      const n = (checkpoint as { n?: number } | undefined)?.n ?? 0;
      return { events: n < 3 ? [{ '@timestamp': '2024-05-01T10:00:00.000Z', message: `line ${n}` }] : [], checkpoint: { n: Math.min(3, n + 1) } };
    },
  }),
}) as AnyPlugin;

function pkg(prelude: string, pollExtra: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-isolation-'));
  dirs.push(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: NAME,
      version: '1.0.0',
      type: 'module',
      main: 'index.js',
      keywords: ['reactive-fabric-plugin'],
      reactiveFabric: { pluginApi: '^1.0.0', kind: 'source' },
      peerDependencies: { '@reactive-fabric/core': '^0.1.0' },
    }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `${prelude}
export default { name: ${JSON.stringify(NAME)}, version: '1.0.0', kind: 'source', apiVersion: '^1.0.0',
  configSchema: ${JSON.stringify(JSON.parse(JSON.stringify(definition.configSchema)))},
  create: () => ({
    async poll({ checkpoint }) {
      ${pollExtra}
      const n = checkpoint?.n ?? 0;
      return { events: n < 3 ? [{ '@timestamp': '2024-05-01T10:00:00.000Z', message: 'line ' + n }] : [], checkpoint: { n: Math.min(3, n + 1) } };
    },
  }),
};
`,
  );
  return join(dir, 'package.json');
}

async function isolationFailures(packageJson: string): Promise<Record<string, string>> {
  const suite = conformanceSuite(definition, { packageJson, validConfig: {}, timeoutMs: 3000 });
  const out: Record<string, string> = {};
  await suite.setup();
  try {
    for (const check of suite.checks.filter((c) => c.group === 'isolation')) {
      try {
        await check.run();
        out[check.name] = 'passed';
      } catch (err) {
        out[check.name] = (err as Error).message;
      }
    }
  } finally {
    await suite.teardown();
  }
  return out;
}

describe('conformance isolation checks', () => {
  it('pass for a package that behaves in a worker', async () => {
    const f = await isolationFailures(pkg('', ''));
    expect(Object.keys(f)).toHaveLength(2);
    expect(Object.values(f)).toEqual(['passed', 'passed']);
  });

  it('catch a package that exits at import, naming EXITED', async () => {
    const f = await isolationFailures(pkg('process.exit(2);', ''));
    const imports = Object.entries(f).find(([n]) => n.startsWith('imports in a worker'))!;
    expect(imports[1]).toMatch(/EXITED.*exited with code 2/);
  });

  it('catch a poll that leaves a throwing timer behind, naming CRASHED', async () => {
    const f = await isolationFailures(pkg('', "setTimeout(() => { throw new Error('late boom'); }, 5);"));
    const polls = Object.entries(f).find(([n]) => n.startsWith('polls the valid config'))!;
    expect(polls[1]).toMatch(/CRASHED.*late boom/);
  });

  it('catch an event that cannot cross as JSON (a BigInt), naming it and NOT_JSON', async () => {
    const f = await isolationFailures(
      pkg('', "if ((checkpoint?.n ?? 0) === 1) return { events: [{ '@timestamp': '2024-05-01T10:00:00.000Z', bytes: 10n }], checkpoint: { n: 2 } };"),
    );
    const polls = Object.entries(f).find(([n]) => n.startsWith('polls the valid config'))!;
    expect(polls[1]).toMatch(/events\[0\]: NOT_JSON/);
  });
});
