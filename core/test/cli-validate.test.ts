import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ElasticsearchFake } from '@reactive-fabric/test-kit/fakes';
import type { CliIo } from '../src/cli/command.js';
import { main } from '../src/cli/main.js';
import { repoRoot, tempDir } from './helpers.js';

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers.splice(0)) await c();
});

/** Plugins resolve from the repository (the workspace has them installed); the config lives in a temp folder. */
async function validate(yaml: string, ...flags: string[]): Promise<{ code: number; out: string; err: string; file: string }> {
  return validateIn(tempDir('fabric-validate-'), yaml, ...flags);
}

async function validateIn(dir: string, yaml: string, ...flags: string[]): Promise<{ code: number; out: string; err: string; file: string }> {
  const file = join(dir, 'fabric.yaml');
  writeFileSync(file, yaml);
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => ((out += s), true) } as unknown as CliIo['stdout'],
    stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'],
    env: {},
    cwd: repoRoot,
  };
  const code = await main(['validate', '-c', file, ...flags], io);
  return { code, out, err, file };
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Accepts connections and never answers: only a timeout ends a request to it. */
async function silentServer(): Promise<number> {
  const held: net.Socket[] = [];
  const srv = net.createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

const logFile = (id: string, format: string) =>
  [`  - id: ${id}`, '    plugin: "@reactive-fabric/plugin-log-file"', '    config:', '      base_dir: .', '      paths: [a.log]', `      format: ${format}`].join('\n');
const elastic = (id: string, port: number) =>
  [
    `  - id: ${id}`,
    '    plugin: "@reactive-fabric/plugin-log-elasticsearch"',
    '    config:',
    '      host: 127.0.0.1',
    `      port: ${port}`,
    '      scheme: http',
    '      indices: ["logs-*"]',
  ].join('\n');

describe('fabric validate: every problem in one run', () => {
  it('reports core config and plugin config problems together, in file order, each with file:line, field and the allowed values', async () => {
    const r = await validate(
      [
        'state_dir: ./state',
        'orchestrator:',
        '  collection_interval_seconds: -1',
        'collectors:',
        logFile('auth', 'sylog'),
        logFile('web', 'json'),
        '    tail: maybe',
        'sink:',
        '  type: jsnl',
        'log_level: debg',
      ].join('\n'),
    );
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).toBe(`error: invalid configuration in ${r.file} (5 problems):`);
    expect(lines.slice(1)).toEqual([
      `  ${r.file}:3  orchestrator.collection_interval_seconds: must be > 0 (got -1)`,
      `  ${r.file}:10  collectors[0].config.format: collector "auth" (@reactive-fabric/plugin-log-file): must be one of: auto, syslog, json, access, plain (did you mean syslog?) (got "sylog")`,
      `  ${r.file}:17  collectors[1].tail: unknown field "tail": remove it or check its spelling`,
      `  ${r.file}:19  sink.type: unknown type "jsnl": it must be one of: jsonl, kafka (did you mean jsonl?) (got "jsnl")`,
      `  ${r.file}:20  log_level: must be one of: trace, debug, info, warn, error, silent (did you mean debug?) (got "debg")`,
    ]);
  });

  it('still checks the plugins when the core config is broken, and names a plugin that is not installed', async () => {
    const r = await validate(
      ['state_dir: ./state', 'collectors:', logFile('auth', 'jsno'), '  - id: cowrie', '    plugin: "@acme/plugin-cowrie"', 'sink: { type: jsonl, fsync: sometimes }'].join('\n'),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('(3 problems)');
    expect(r.err).toMatch(/:8 {2}collectors\[0\]\.config\.format: .*must be one of: auto, syslog, json, access, plain \(did you mean json\?\)/);
    expect(r.err).toMatch(/:10 {2}collectors\[1\]\.plugin: collector "cowrie" uses plugin @acme\/plugin-cowrie/);
    expect(r.err).toMatch(/:11 {2}sink\.fsync: /);
  });

  it('checks what `fabric start` would run: the collectors changed through the admin API (the overlay) included', async () => {
    const yaml = ['state_dir: ./state', 'collectors:', logFile('auth', 'syslog'), 'sink: { type: jsonl }'].join('\n');
    const dir = tempDir('fabric-validate-');
    mkdirSync(join(dir, 'state'));
    const overlay = join(dir, 'state', 'config-overlay.json');
    const entry = (id: string, format: string) => ({ id, plugin: '@reactive-fabric/plugin-log-file', config: { base_dir: '.', paths: ['b.log'], format } });
    writeFileSync(overlay, JSON.stringify({ version: 1, collectors: { web: entry('web', 'json') } }));
    const ok = await validateIn(dir, yaml);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain(`2 collector(s)`);
    expect(ok.out).toContain(`with 1 collector change(s) made through the admin API (${overlay})`);

    // A plugin config the overlay holds that no longer validates names the overlay and the API call that fixes it.
    writeFileSync(overlay, JSON.stringify({ version: 1, collectors: { web: entry('web', 'jsno') } }));
    const bad = await validateIn(dir, yaml);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/collectors\[1\]\.config\.format: .*did you mean json\?/);
    expect(bad.err).toContain(`collector "web" comes from ${overlay}`);
    expect(bad.err).toContain('PUT /collectors/web/config');

    // An overlay that is not one is refused by name, not a crash.
    writeFileSync(overlay, '{"version": 1, "collectors": [');
    const broken = await validateIn(dir, yaml);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain(overlay);
    expect(broken.err).not.toMatch(/\n\s+at /);
  });

  it('odd shapes where components belong are reported, never a crash', async () => {
    for (const yaml of [
      'collectors: abc\nenrichers: [1, null, { id: 3 }, { plugin: x }]\norchestrator: 5\nsink: { type: jsonl }',
      'collectors: [{ id: a, plugin: "@reactive-fabric/plugin-log-file", config: 7, isolation: sideways }]\norchestrator: { isolation: 9 }\nsink: 3',
      'collectors: [{ id: a, plugin: { nested: true } }, [], "x"]\nstate_dir: [1]',
    ]) {
      const r = await validate(yaml);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(/^error: invalid configuration in \S+ \(\d+ problems?\):\n/);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it('a valid config says so on stdout', async () => {
    const r = await validate(['state_dir: ./state', 'collectors:', logFile('auth', 'syslog'), 'sink: { type: jsonl }'].join('\n'));
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/fabric\.yaml: valid \(1 collector\(s\), 0 enricher\(s\), sink jsonl\)\n$/);
  });
});

describe('fabric validate --connect', () => {
  it('reports a source whose server is down, one that never answers (within --timeout), an unreachable Kafka sink: one line each, exit 1', async () => {
    const [closed, silent, kafka] = [await closedPort(), await silentServer(), await closedPort()];
    const r = await validate(
      [
        'state_dir: ./state',
        'collectors:',
        elastic('es-down', closed),
        elastic('es-silent', silent),
        `sink: { type: kafka, brokers: ["127.0.0.1:${kafka}"], retry: { connection_timeout_ms: 500 } }`,
      ].join('\n'),
      '--connect',
      '--timeout',
      '8',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/valid \(2 collector\(s\), 0 enricher\(s\), sink kafka\)$/);
    expect(lines[1]).toMatch(new RegExp(`^collector es-down\\s+FAILED\\s+degraded \\(http://127\\.0\\.0\\.1:${closed}\\): .*ECONNREFUSED`));
    expect(lines[2]).toMatch(/^collector es-silent\s+FAILED\s+(no answer within 8s|.*timed out)/);
    expect(lines[3]).toMatch(/^sink kafka\s+FAILED\s+\S+: .*(ECONNREFUSED|Connection)/);
    expect(lines[4]).toBe('3 of 3 part(s) failed');
  }, 60_000);

  it('all parts answering: a live Elasticsearch and a writable JSON-lines folder, exit 0', async () => {
    const fake = await new ElasticsearchFake({ flavour: 'elasticsearch' }).start();
    closers.push(() => fake.close());
    const port = new URL(fake.url).port;
    const r = await validate(['state_dir: ./state', 'collectors:', elastic('siem', Number(port)), 'sink: { type: jsonl }'].join('\n'), '--connect');
    expect(r.err).toBe('');
    expect(r.out).toMatch(new RegExp(`\\ncollector siem\\s+ok\\s+healthy \\(http://127\\.0\\.0\\.1:${port}\\)\\n`));
    expect(r.out).toMatch(/\nsink jsonl\s+ok\s+\S+state\/events\.jsonl is writable\n/);
    expect(r.out).toMatch(/all 2 part\(s\) answered\n$/);
    expect(r.code).toBe(0);
  }, 30_000);

  it('a JSON-lines sink whose folder cannot exist fails with the reason', async () => {
    const dir = tempDir('fabric-validate-file-');
    writeFileSync(join(dir, 'not-a-folder'), 'x');
    const r = await validate(['state_dir: ./state', 'collectors: []', `sink: { type: jsonl, path: ${join(dir, 'not-a-folder', 'events.jsonl')} }`].join('\n'), '--connect');
    expect(r.code).toBe(1);
    expect(r.out).toContain(`sink jsonl  FAILED  ${join(dir, 'not-a-folder')} is not a folder`);
  });

  it('--timeout must be a positive number of seconds', async () => {
    const r = await validate('sink: { type: jsonl }\n', '--connect', '--timeout', 'soon');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--timeout takes more than 0 and at most 600 seconds; got "soon"');
  });
});
