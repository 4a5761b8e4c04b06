/**
 * The third-party plugin cycle, end to end, outside the workspace:
 * `fabric plugin new` → install, build and test the new package on its own → `npm pack` →
 * install the tarball into a host project that depends on the packed core → `fabric run --once`
 * delivers its events → a plugin built for another API major is refused with both versions →
 * uninstalled, `fabric validate` names the collector that still uses it and the fix.
 *
 * Installs use pnpm --offline against the workspace's own pnpm store, so the test needs no
 * network. Subprocesses run async: the records API the plugin polls lives in this process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const PNPM_VERSION = (JSON.parse(spawnSync('node', ['-p', 'JSON.stringify(require("./package.json").packageManager)'], { cwd: repo, encoding: 'utf8' }).stdout) as string).split(
  '@',
)[1]!;
const PLUGIN = 'reactive-fabric-plugin-e2e-records';
const COLLECTOR = 'e2e-records';
const TOKEN = 'e2e-token-3b9f51c7';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const started = Date.now();
  return new Promise((done, fail) => {
    // CI=true would make pnpm refuse to write a lockfile; these throwaway projects have none.
    const child = spawn(cmd, args, { cwd, env: { ...process.env, CI: '', NO_COLOR: '1', FORCE_COLOR: '0', npm_config_yes: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr, ms: Date.now() - started }));
  });
}

const pnpmCmd: [string, string[]] =
  spawnSync('pnpm', ['--version'], { encoding: 'utf8' }).stdout?.trim() === PNPM_VERSION ? ['pnpm', []] : ['npx', ['--yes', `pnpm@${PNPM_VERSION}`]];
const pnpm = (args: string[], cwd: string) => sh(pnpmCmd[0], [...pnpmCmd[1], ...args], cwd);
const npm = (args: string[], cwd: string) => sh('npm', args, cwd);
const fabric = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  sh(process.execPath, [join(cwd, 'node_modules/@reactive-fabric/core/bin/fabric.js'), ...args], cwd, env);

function expectOk(r: Result, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
}

const timings: Record<string, number> = {};
const timed = async (step: string, r: Promise<Result>): Promise<Result> => {
  const out = await r;
  timings[step] = (timings[step] ?? 0) + out.ms;
  return out;
};

// The stand-in records API the scaffolded source polls (GET ?after=<id>&limit=<n> → { records }).
const RECORDS = [1, 2, 3].map((i) => ({ id: `rec-${i}`, time: `2024-06-0${i}T08:00:00Z`, message: `e2e record ${i}`, host: 'app-1' }));
const api = createServer((req, res) => {
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    res.writeHead(401).end();
    return;
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const after = url.searchParams.get('after');
  const start = after ? RECORDS.findIndex((r) => r.id === after) + 1 : 0;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ records: RECORDS.slice(start, start + Number(url.searchParams.get('limit') ?? 100)) }));
});

let tmp = '';
let packs = '';
let storeDir = '';
let apiUrl = '';
const started = Date.now();

beforeAll(async () => {
  for (const built of ['core/dist/cli/main.js', 'core/dist/index.js', 'packages/test-kit/dist/index.js']) {
    if (!existsSync(join(repo, built))) throw new Error(`${built} is missing: run npm run build (npx tsc -b) first`);
  }
  tmp = await mkdtemp(join(tmpdir(), 'rf-plugin-cycle-'));
  if (!relative(repo, tmp).startsWith('..')) throw new Error(`temp folder ${tmp} is inside the repository; the cycle must run outside it`);
  packs = join(tmp, 'packs');
  await mkdir(packs);
  storeDir = (await pnpm(['store', 'path'], repo)).stdout.trim();
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/records`;
}, 120_000);

afterAll(async () => {
  await new Promise<void>((r) => api.close(() => r()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
  const total = Date.now() - started;
  // Reported for the lead: how long the cycle takes on this machine, by step.
  console.log(
    `plugin cycle e2e: ${(total / 1000).toFixed(1)} s total; ${Object.entries(timings)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(', ')}`,
  );
});

/** Install with the workspace's pnpm store, offline; falls back to the registry only if the store lacks something. */
async function install(cwd: string, args: string[] = ['install', '--no-frozen-lockfile']): Promise<Result> {
  const offline = await pnpm([...args, '--offline', '--store-dir', storeDir, '--reporter=append-only'], cwd);
  if (offline.code === 0) return offline;
  return pnpm([...args, '--prefer-offline', '--store-dir', storeDir, '--reporter=append-only'], cwd);
}

async function pointAtTarballs(dir: string, section: 'dependencies' | 'devDependencies', tarballs: Record<string, string>): Promise<void> {
  const file = join(dir, 'package.json');
  const pkg = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  pkg[section] = { ...pkg[section] };
  for (const [name, tgz] of Object.entries(tarballs)) pkg[section]![name] = `file:${tgz}`;
  await writeFile(file, JSON.stringify(pkg, null, 2));
}

const tarball = async (prefix: string) => {
  const found = (await readdir(packs)).filter((f) => f.startsWith(prefix) && f.endsWith('.tgz')).sort();
  if (found.length === 0) throw new Error(`no ${prefix}*.tgz in ${packs}`);
  return join(packs, found[found.length - 1]!);
};

describe('third-party plugin cycle (outside the workspace)', () => {
  const pluginDir = () => join(tmp, 'plugin');
  const hostDir = () => join(tmp, 'host');

  it('packs core and the test kit as they would be published, and installs core into a host project', async () => {
    expectOk(await timed('pack core + test-kit', pnpm(['pack', '--pack-destination', packs], join(repo, 'core'))), 'pnpm pack core');
    expectOk(await timed('pack core + test-kit', pnpm(['pack', '--pack-destination', packs], join(repo, 'packages/test-kit'))), 'pnpm pack test-kit');
    const testKit = JSON.parse((await sh('tar', ['-xzOf', await tarball('reactive-fabric-test-kit-'), 'package/package.json'], tmp)).stdout) as {
      peerDependencies: Record<string, string>;
    };
    // pnpm pack rewrites workspace: ranges; a tarball that still said workspace:^ could not be installed elsewhere.
    expect(testKit.peerDependencies['@reactive-fabric/core']).toMatch(/^\^\d+\.\d+\.\d+$/);

    // The host project: what a user has after installing @reactive-fabric/core and, to write
    // plugins, the test kit that comes with it.
    await mkdir(hostDir());
    await writeFile(join(hostDir(), 'package.json'), JSON.stringify({ name: 'e2e-host', version: '1.0.0', private: true, type: 'module', dependencies: {} }, null, 2));
    await pointAtTarballs(hostDir(), 'dependencies', {
      '@reactive-fabric/core': await tarball('reactive-fabric-core-'),
      '@reactive-fabric/test-kit': await tarball('reactive-fabric-test-kit-'),
    });
    expectOk(await timed('host install', install(hostDir())), 'installing core into the host project');
  }, 180_000);

  it('fabric plugin new scaffolds a package that installs, builds and passes its own tests', async () => {
    // The installed core's CLI, as a user runs it: its templates must be in the published package.
    const made = await fabric(['plugin', 'new', PLUGIN, '--kind', 'source', '--dir', pluginDir()], hostDir());
    expectOk(made, 'fabric plugin new (from the packed core; core/package.json "files" must include "templates")');
    expect(made.stdout).toContain(`Created ${PLUGIN} (source plugin)`);
    const pkg = JSON.parse(await readFile(join(pluginDir(), 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({ name: PLUGIN, keywords: expect.arrayContaining(['reactive-fabric-plugin']), reactiveFabric: { pluginApi: '^1.0.0', kind: 'source' } });
    expect(Object.keys(pkg.peerDependencies as object)).toEqual(['@reactive-fabric/core']);
    // Neither core nor the test kit is on a registry: the scaffold links the copies the host has.
    const devDependencies = pkg.devDependencies as Record<string, string>;
    for (const name of ['@reactive-fabric/core', '@reactive-fabric/test-kit']) {
      expect(devDependencies[name]).toMatch(/^file:\//);
      expect(realpathSync(devDependencies[name]!.slice('file:'.length))).toBe(realpathSync(join(hostDir(), 'node_modules', name)));
    }

    // Exactly as generated, with npm as its README says: no registry package that does not exist.
    expectOk(await timed('plugin install', npm(['install', '--prefer-offline', '--no-audit', '--no-fund'], pluginDir())), 'npm install in the scaffolded plugin');
    expectOk(await timed('plugin build', npm(['run', 'build'], pluginDir())), 'npm run build');
    expect(existsSync(join(pluginDir(), 'dist/index.js'))).toBe(true);
    const test = await timed('plugin test', npm(['test'], pluginDir()));
    expectOk(test, 'npm test in the scaffolded plugin');
    const summary = /Tests\s+(\d+) passed \((\d+)\)/.exec(test.stdout);
    expect(summary, test.stdout.slice(-2000)).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThanOrEqual(15);
    expect(summary![1]).toBe(summary![2]);
    // As the README says (its prepack builds again).
    expectOk(await timed('plugin pack', npm(['pack', '--pack-destination', packs], pluginDir())), 'npm pack');
    await tarball(`${PLUGIN}-0.1.0`);
  }, 300_000);

  it('installing the tarball into a host project and naming it in the config is all it takes', async () => {
    expectOk(await timed('host add plugin', install(hostDir(), ['add', await tarball(`${PLUGIN}-0.1.0`)])), 'adding the plugin tarball');

    const listed = await fabric(['plugins', 'list', '--json'], hostDir());
    expectOk(listed, 'fabric plugins list');
    expect(JSON.parse(listed.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: PLUGIN, version: '0.1.0', kind: 'source', compatible: true })]));

    await writeFile(
      join(hostDir(), 'fabric.yaml'),
      [
        'state_dir: ./state',
        'log_level: warn',
        'pipeline:',
        '  publish: all',
        'sink:',
        '  type: jsonl',
        '  path: ./events.jsonl',
        'collectors:',
        `  - id: ${COLLECTOR}`,
        `    plugin: ${PLUGIN}`,
        '    config:',
        `      url: ${apiUrl}`,
        '      api_token: ${E2E_RECORDS_TOKEN}',
        '',
      ].join('\n'),
    );
    const env = { E2E_RECORDS_TOKEN: TOKEN };
    expectOk(await fabric(['validate', '-c', 'fabric.yaml'], hostDir(), env), 'fabric validate');
    const run = await timed('fabric run --once', fabric(['run', '--once', '-c', 'fabric.yaml'], hostDir(), env));
    expectOk(run, 'fabric run --once');
    const lines = (await readFile(join(hostDir(), 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    const ours = lines.filter((e) => e.fabric?.collector === COLLECTOR);
    expect(ours.map((e) => e.message).sort()).toEqual(['e2e record 1', 'e2e record 2', 'e2e record 3']);
    expect(ours[0]).toMatchObject({ fabric: { plugin: PLUGIN }, host: { name: 'app-1' }, event: { module: 'e2e-records' } });
    expect(`${run.stdout}${run.stderr}${lines.map((l) => JSON.stringify(l)).join('')}`).not.toContain(TOKEN);
  }, 300_000);

  it('the Cowrie example builds and passes its tests outside the workspace, and runs from its tarball', async () => {
    const cowrieDir = join(tmp, 'plugin-cowrie');
    await cp(join(repo, 'examples/plugin-cowrie'), cowrieDir, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
    await pointAtTarballs(cowrieDir, 'devDependencies', {
      '@reactive-fabric/core': await tarball('reactive-fabric-core-'),
      '@reactive-fabric/test-kit': await tarball('reactive-fabric-test-kit-'),
    });
    expectOk(await timed('cowrie install', install(cowrieDir)), 'installing the Cowrie example');
    expectOk(await timed('cowrie build', npm(['run', 'build'], cowrieDir)), 'building the Cowrie example');
    expectOk(await timed('cowrie test', npm(['test'], cowrieDir)), 'testing the Cowrie example');
    expectOk(await timed('plugin pack', npm(['pack', '--ignore-scripts', '--pack-destination', packs], cowrieDir)), 'npm pack (Cowrie)');
    expectOk(await timed('host add plugin', install(hostDir(), ['add', await tarball('reactive-fabric-plugin-cowrie-')])), 'adding the Cowrie tarball');

    const log = join(tmp, 'cowrie.json');
    const lines = [
      { eventid: 'cowrie.login.failed', src_ip: '203.0.113.9', username: 'root', password: 'x', session: 's1', timestamp: '2024-06-01T09:00:00.000001Z' },
      {
        eventid: 'cowrie.session.file_download',
        src_ip: '203.0.113.9',
        url: 'http://198.51.100.7/x.sh',
        shasum: 'a'.repeat(64),
        destfile: '/tmp/x.sh',
        session: 's1',
        timestamp: '2024-06-01T09:00:02Z',
      },
    ];
    await writeFile(log, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const yaml = await readFile(join(hostDir(), 'fabric.yaml'), 'utf8');
    await writeFile(join(hostDir(), 'fabric.yaml'), `${yaml}  - id: honeypot\n    plugin: reactive-fabric-plugin-cowrie\n    config:\n      path: ${log}\n`);
    const run = await timed('fabric run --once', fabric(['run', '--once', '-c', 'fabric.yaml'], hostDir(), { E2E_RECORDS_TOKEN: TOKEN }));
    expectOk(run, 'fabric run --once with the Cowrie collector');
    const events = (await readFile(join(hostDir(), 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    const cowrie = events.filter((e) => e.fabric?.collector === 'honeypot');
    expect(cowrie.map((e) => e.event.action).sort()).toEqual(['cowrie.login.failed', 'cowrie.session.file_download']);
    expect(cowrie.find((e) => e.event.action === 'cowrie.login.failed')).toMatchObject({ source: { ip: '203.0.113.9' }, threat: { technique: { id: ['T1110'] } } });
    // The records collector resumed from its committed checkpoint: nothing read twice.
    expect(events.filter((e) => e.fabric?.collector === COLLECTOR)).toHaveLength(3);
  }, 300_000);

  it('a plugin built for another plugin API major is refused with both versions in the message', async () => {
    const file = join(pluginDir(), 'package.json');
    const pkg = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
    pkg.version = '0.2.0';
    pkg.reactiveFabric.pluginApi = '^2.0.0';
    await writeFile(file, JSON.stringify(pkg, null, 2));
    // Same effect as changing apiVersion in src and rebuilding, without a second tsc run.
    const entry = join(pluginDir(), 'dist/index.js');
    const built = await readFile(entry, 'utf8');
    expect(built).toContain("apiVersion: '^1.0.0'");
    await writeFile(entry, built.replace("apiVersion: '^1.0.0'", "apiVersion: '^2.0.0'"));
    expectOk(await timed('plugin pack', npm(['pack', '--ignore-scripts', '--pack-destination', packs], pluginDir())), 'npm pack (API 2 build)');
    expectOk(await timed('host add plugin', install(hostDir(), ['add', await tarball(`${PLUGIN}-0.2.0`)])), 'installing the API 2 build');

    const v = await fabric(['validate', '-c', 'fabric.yaml'], hostDir(), { E2E_RECORDS_TOKEN: TOKEN });
    expect(v.code).not.toBe(0);
    expect(v.stderr).toContain(COLLECTOR);
    expect(v.stderr).toContain('^2.0.0');
    expect(v.stderr).toMatch(/provides plugin API 1\.\d+\.\d+/);
    const listed = JSON.parse((await fabric(['plugins', 'list', '--json'], hostDir())).stdout) as Array<{ name: string; compatible: boolean }>;
    expect(listed.find((p) => p.name === PLUGIN)).toMatchObject({ compatible: false });
  }, 300_000);

  it('after uninstalling it, validate names the collector that still uses it and how to fix that', async () => {
    expectOk(await timed('host remove plugin', pnpm(['remove', PLUGIN, '--store-dir', storeDir], hostDir())), 'removing the plugin');
    const listed = JSON.parse((await fabric(['plugins', 'list', '--json'], hostDir())).stdout) as Array<{ name: string }>;
    expect(listed.map((p) => p.name)).not.toContain(PLUGIN);

    const v = await fabric(['validate', '-c', 'fabric.yaml'], hostDir(), { E2E_RECORDS_TOKEN: TOKEN });
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(new RegExp(`collector ["']${COLLECTOR}["']`));
    expect(v.stderr).toContain(PLUGIN);
    // Not a name fabric can vouch for: it points to the installed plugins, never "install <name>".
    expect(v.stderr).toContain('fabric plugins list');
    expect(v.stderr).not.toMatch(new RegExp(`(npm install|pnpm add) ${PLUGIN}`));
    expect(v.stderr).toMatch(/remove/);
    expect(v.stderr).not.toContain(TOKEN);
    // Running refuses the same way, before touching any collector.
    const run = await fabric(['run', '--once', '-c', 'fabric.yaml'], hostDir(), { E2E_RECORDS_TOKEN: TOKEN });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(new RegExp(`collector ["']${COLLECTOR}["'] uses plugin ${PLUGIN}`));
    // Core was never touched: its package is still the one installed from the tarball.
    const core = JSON.parse(await readFile(join(hostDir(), 'node_modules/@reactive-fabric/core/package.json'), 'utf8')) as { version: string };
    expect(core.version).toBe('0.1.0');
  }, 120_000);
});
