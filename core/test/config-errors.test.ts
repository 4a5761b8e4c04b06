import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, parseConfig, MAX_CONFIG_BYTES } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { resolveComponents } from '../src/plugins/resolve.js';
import { main } from '../src/cli/main.js';
import { tempDir, writePlugin } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configError(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, '/etc/fabric/test.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function sink(lines: string[]): string {
  return `sink:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

async function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = new Writable({ write: (c: Buffer, _e, cb) => ((stdout += c.toString()), cb()) });
  const err = new Writable({ write: (c: Buffer, _e, cb) => ((stderr += c.toString()), cb()) });
  const code = await main(args, { stdout: out, stderr: err, env, cwd });
  return { code, stdout, stderr };
}

describe('config errors: discriminated unions are reported by the branch `type` selects', () => {
  it('one Kafka typo gives exactly one error about that field, none from the jsonl schema', () => {
    const err = configError(sink(['type: kafka', 'brokers: ["127.0.0.1:29092"]', 'compresion: gzip']));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatchObject({ path: 'sink.compresion', line: 4 });
    expect(err.problems[0]!.message).toMatch(/unknown field "compresion"/);
    expect(err.message).not.toMatch(/fsync|must match a schema in anyOf|must be equal to constant/);
  });

  it('a wrong value in the Kafka branch names only that field', () => {
    const err = configError(sink(['type: kafka', 'brokers: ["127.0.0.1:29092"]', 'compression: zstd']));
    expect(err.problems.map((p) => p.path)).toEqual(['sink.compression']);
    expect(err.problems[0]!.message).toBe('must be one of: gzip, none (got "zstd")');
  });

  it('an unknown type lists the allowed values', () => {
    const err = configError(sink(['type: kafak', 'brokers: ["127.0.0.1:29092"]']));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]!.path).toBe('sink.type');
    expect(err.problems[0]!.message).toBe('unknown type "kafak": it must be one of: jsonl, kafka (did you mean kafka?) (got "kafak")');
  });

  it('a bad log_level is one error, and every other problem is still reported in the same pass', () => {
    const err = configError(
      [
        'log_level: verbose',
        'orchestrator:',
        '  event_batch_size: 0',
        '  auto_restart_unhealthy: maybe',
        sink(['type: kafka', 'brokers: ["127.0.0.1:29092"]', 'compresion: gzip']),
      ].join('\n'),
    );
    const paths = err.problems.map((p) => p.path).sort();
    expect(paths).toEqual(['log_level', 'orchestrator.auto_restart_unhealthy', 'orchestrator.event_batch_size', 'sink.compresion']);
    expect(err.problems.find((p) => p.path === 'log_level')!.message).toMatch(/must be one of: trace, debug, info, warn, error, silent \(got "verbose"\)/);
  });
});

describe('secrets in config errors', () => {
  const PASSWORD = 'hunter"2\\pw\tx';
  const yamlPassword = JSON.stringify(PASSWORD);

  it('never shows the SASL password when the sink section fails, in any escaping', () => {
    for (const text of [
      sink(['type: kafka', `sasl: { mechanism: plain, username: u, password: ${yamlPassword} }`]),
      sink([`sasl: { mechanism: plain, username: u, password: ${yamlPassword} }`, 'type: kafka', 'brokers: [nope]']),
      sink(['type: kafka', 'brokers: ["127.0.0.1:29092"]', 'sasl: { mechanism: plain, username: u, password: 987654321 }']),
    ]) {
      const err = configError(text);
      for (const form of [PASSWORD, JSON.stringify(PASSWORD).slice(1, -1), 'hunter', '987654321']) expect(err.message).not.toContain(form);
    }
  });

  it('`fabric validate` does not print the password (the CLI end to end)', async () => {
    const dir = tempDir('fabric-cfg-');
    dirs.push(dir);
    writeFileSync(join(dir, 'fabric.yaml'), sink(['type: kafka', `sasl: { mechanism: plain, username: u, password: ${yamlPassword} }`]));
    const r = await runCli(['validate', '-c', 'fabric.yaml'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sink\.brokers: required field "brokers" is missing/);
    expect(r.stderr).not.toMatch(/hunter/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});

describe('${ENV} fills numeric and boolean fields', () => {
  const text = [
    'orchestrator:',
    '  event_batch_size: ${BATCH}',
    '  auto_restart_unhealthy: ${AUTO}',
    '  interval_jitter: ${JITTER:-0.25}',
    sink(['type: kafka', 'brokers: ["${BROKER}"]', 'batch: { linger_ms: "${LINGER}" }']),
  ].join('\n');

  it('converts the text of an environment variable to the number or boolean the schema wants', () => {
    const loaded = parseConfig(text, '/etc/fabric/test.yaml', { BATCH: '250', AUTO: 'false', BROKER: '127.0.0.1:29092', LINGER: ' 7 ' });
    expect(loaded.config.orchestrator.event_batch_size).toBe(250);
    expect(loaded.config.orchestrator.auto_restart_unhealthy).toBe(false);
    expect(loaded.config.orchestrator.interval_jitter).toBe(0.25);
    expect(loaded.config.sink.type === 'kafka' && loaded.config.sink.batch.linger_ms).toBe(7);
    // Strings stay strings.
    expect(loaded.config.sink.type === 'kafka' && loaded.config.sink.brokers).toEqual(['127.0.0.1:29092']);
  });

  it('names the variable and the field when the value does not convert, with every other problem', () => {
    const err = configError(text, { BATCH: 'lots', AUTO: 'perhaps', BROKER: '127.0.0.1:29092', LINGER: '1.5' });
    const byPath = Object.fromEntries(err.problems.map((p) => [p.path, p.message]));
    expect(Object.keys(byPath).sort()).toEqual(['orchestrator.auto_restart_unhealthy', 'orchestrator.event_batch_size', 'sink.batch.linger_ms']);
    expect(byPath['orchestrator.event_batch_size']).toBe('environment variable ${BATCH} must give a whole number here, got "lots"');
    expect(byPath['orchestrator.auto_restart_unhealthy']).toBe('environment variable ${AUTO} must give true or false here, got "perhaps"');
    expect(byPath['sink.batch.linger_ms']).toMatch(/\$\{LINGER\}/);
  });

  it("converts plugin config fields against the plugin's own schema, never printing a secret", async () => {
    const dir = tempDir('fabric-cfg-');
    dirs.push(dir);
    writePlugin(dir, 'plugin-typed', {
      body: `configSchema: { type: 'object', properties: { port: { type: 'integer' }, verify: { type: 'boolean' }, key: { type: 'string', writeOnly: true, 'x-secret': true } }, required: ['port', 'verify', 'key'], additionalProperties: false },\ncreate: () => ({ poll: async () => ({ events: [], checkpoint: null }) }),`,
    });
    const yaml = 'collectors:\n  - id: c1\n    plugin: plugin-typed\n    config:\n      port: ${PORT}\n      verify: ${VERIFY}\n      key: ${KEY}\n';
    const ok = parseConfig(yaml, join(dir, 'fabric.yaml'), { PORT: '9200', VERIFY: 'true', KEY: 'k3y-value-1234' });
    const [component] = await resolveComponents(ok, [dir]);
    expect(component!.pluginConfig).toEqual({ port: 9200, verify: true, key: 'k3y-value-1234' });

    const bad = parseConfig(yaml, join(dir, 'fabric.yaml'), { PORT: 'ninety', VERIFY: 'true', KEY: 'k3y-value-1234' });
    const err = await resolveComponents(bad, [dir]).then(
      () => undefined,
      (e: unknown) => e as ConfigError,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toHaveLength(1);
    expect(err!.problems[0]!.path).toBe('collectors[0].config.port');
    expect(err!.problems[0]!.message).toMatch(/\$\{PORT\} must give a whole number/);
  });
});

describe('hostile config files are refused quickly with a clear message', () => {
  it('refuses a YAML alias bomb (billion laughs) without a stack trace', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const err = configError(levels.join('\n'));
    expect(err.code).toBe('CONFIG_SYNTAX');
    expect(err.message).toMatch(/aliases .* too much data \(more than 100 alias uses allowed\)/);

    const dir = tempDir('fabric-cfg-');
    dirs.push(dir);
    writeFileSync(join(dir, 'bomb.yaml'), levels.join('\n'));
    const r = await runCli(['validate', '-c', 'bomb.yaml'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bomb\.yaml/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a config over 1 MiB before parsing it, naming the file and the limit', () => {
    const dir = tempDir('fabric-cfg-');
    dirs.push(dir);
    const file = join(dir, 'huge.yaml');
    // 14 MB of valid YAML: parsing it whole took 20 s and 1.8 GB.
    const line = `# ${'x'.repeat(98)}\n`;
    writeFileSync(file, `collectors: []\n${line.repeat(140_000)}`);
    let err: unknown;
    try {
      loadConfig(file, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_TOO_LARGE');
    expect((err as ConfigError).message).toContain(file);
    expect((err as ConfigError).message).toMatch(/13\.\d MiB; config files are limited to 1048576 bytes \(1 MiB\)/);
    expect(MAX_CONFIG_BYTES).toBe(1048576);
  });

  it('answers every corrupt or odd document with a ConfigError (or a valid config), never another exception', () => {
    const docs = [
      '---\n- a\n- b\n',
      'a: [',
      '!!binary AAAA',
      '? [a, b]\n: c\n',
      'x: !!js/function "function () {}"\n',
      '__proto__: { polluted: yes }\n',
      'collectors: [{ id: a, plugin: p, config: { __proto__: { x: 1 } } }]\n',
      'a: &a [*a]\n',
      'sink: !!set { a, b }\n',
      '%YAML 9.9\n---\na: 1\n',
      'orchestrator: { event_batch_size: 1e400 }\n',
      `${'k'.repeat(5000)}: 1\n`,
      'a: 1\na: 2\n',
      '\u0000\u0001: \u0002\n',
      'collectors: 7\nenrichers: {}\nsink: []\n',
    ];
    for (const text of docs) {
      try {
        parseConfig(text, '/etc/fabric/odd.yaml', {});
      } catch (err) {
        expect(err, JSON.stringify(text.slice(0, 60))).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).message).toMatch(/^invalid configuration in \/etc\/fabric\/odd\.yaml/);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports a folder or unreadable binary garbage as a config error, not a crash', () => {
    const dir = tempDir('fabric-cfg-');
    dirs.push(dir);
    mkdirSync(join(dir, 'folder.yaml'));
    expect(() => loadConfig(join(dir, 'folder.yaml'), {})).toThrow(/is a folder, not a file/);
    writeFileSync(join(dir, 'garbage.yaml'), Buffer.from([0x00, 0xff, 0x3a, 0x0a, 0x2d, 0x2d, 0x7b, 0x5b, 0x22, 0xfe, 0x0a, 0x09, 0x26]));
    expect(() => loadConfig(join(dir, 'garbage.yaml'), {})).toThrow(ConfigError);
  });
});
