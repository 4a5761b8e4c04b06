import { afterAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { buildAdminApp } from '../src/admin/index.js';
import { chooseLogFormat, createLogger, redactDeep, redactSecrets, registerSecret, secretForms } from '../src/logging.js';
import { MemorySink, tempDir, until, writePlugin } from './helpers.js';

/** A secret with every character that JSON or URL encoding rewrites. */
const SECRET = 'Ke"y\\With\tTab/and&plus+ space=é%41-9f3c';
const TOKEN = 'redaction-test-admin-token-77aa01';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function escapedForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  return [
    secret,
    json,
    JSON.stringify(json).slice(1, -1),
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    new URLSearchParams({ k: secret }).toString().slice(2),
  ];
}

function expectNoForm(text: string, secret = SECRET): void {
  for (const form of escapedForms(secret)) expect(text.includes(form) ? `found ${JSON.stringify(form)} in ${text.slice(0, 400)}` : undefined).toBeUndefined();
}

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c.toString());
        cb();
      },
    }),
    text: () => chunks.join(''),
  };
}

describe('text scrubbing (second layer) knows escaped and encoded forms', () => {
  it('redacts the raw, JSON-escaped (once and twice), percent-encoded (either case) and form-encoded secret in log lines', () => {
    registerSecret(SECRET);
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'info' });
    log.info(
      { body: JSON.stringify({ api_key: SECRET }), url: `https://api.example/v1?key=${encodeURIComponent(SECRET)}` },
      `form: ${new URLSearchParams({ key: SECRET }).toString()}`,
    );
    log.warn({ err: new Error(`backend refused ${JSON.stringify({ key: SECRET })} at ${encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`) }, 'failed');
    const text = out.text();
    expect(text.split('[redacted]').length - 1).toBeGreaterThanOrEqual(5);
    expectNoForm(text);
    for (const form of secretForms(SECRET)) expect(redactSecrets(`x${form}x`)).toBe('x[redacted]x');
  });

  it('the terminal (pretty) format shows the same lines human-readable, as redacted as JSON', () => {
    registerSecret(SECRET);
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'info', format: 'pretty', colorize: false });
    log.info({ body: JSON.stringify({ api_key: SECRET }), url: `https://api.example/v1?key=${encodeURIComponent(SECRET)}` }, `calling with ${SECRET}`);
    log.warn({ err: new Error(`backend refused ${JSON.stringify({ key: SECRET })}`) }, 'failed');
    const text = out.text();
    // One line per record starting with the time and level, not a JSON object.
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: calling with \[redacted\]/m);
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: failed/m);
    expect(text).not.toMatch(/^\{/m);
    expect(text.split('[redacted]').length - 1).toBeGreaterThanOrEqual(4);
    expectNoForm(text);
  });

  it('picks the format: --log-format, then FABRIC_LOG_FORMAT, else pretty on a terminal and JSON elsewhere', () => {
    expect(chooseLogFormat('json', { FABRIC_LOG_FORMAT: 'pretty' }, true)).toBe('json');
    expect(chooseLogFormat(undefined, { FABRIC_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(chooseLogFormat(undefined, { FABRIC_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(chooseLogFormat(undefined, {}, true)).toBe('pretty');
    expect(chooseLogFormat(undefined, {}, false)).toBe('json');
    expect(chooseLogFormat(undefined, { FABRIC_LOG_FORMAT: '' }, undefined)).toBe('json');
  });

  it('redacts inside data before serialisation, keys included, and keeps hostile keys plain', () => {
    registerSecret(SECRET);
    const data = JSON.parse(`{"target": ${JSON.stringify(`https://u:${SECRET}@h`)}, "__proto__": {"polluted": ${JSON.stringify(SECRET)}}, ${JSON.stringify(SECRET)}: 1}`) as Record<
      string,
      unknown
    >;
    const out = redactDeep(data);
    const text = JSON.stringify(out);
    expectNoForm(text);
    expect(text).toContain('https://u:[redacted]@h');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('secrets of plugin configs never leave through the admin API or logs', () => {
  it('GET /collectors/:id, its transitions, the status events and the log stay clean when the plugin echoes its key escaped and encoded', async () => {
    const dir = tempDir('fabric-redact-');
    dirs.push(dir);
    writePlugin(dir, 'plugin-leaky', {
      body: `configSchema: { type: 'object', properties: { api_key: { type: 'string', writeOnly: true, 'x-secret': true }, base_url: { type: 'string' } }, required: ['api_key', 'base_url'], additionalProperties: false },
create: (config, ctx) => ({
  describe: () => ({ backend: 'leaky', target: config.base_url + '?key=' + encodeURIComponent(config.api_key), form: new URLSearchParams({ k: config.api_key }).toString(), echoed: 'key is ' + config.api_key }),
  poll: async () => {
    ctx.logger.warn({ request: JSON.stringify({ api_key: config.api_key }) }, 'sending ' + encodeURIComponent(config.api_key));
    const e = new Error('HTTP 401 for body ' + JSON.stringify({ api_key: config.api_key }) + ' url ' + config.base_url + '?key=' + encodeURIComponent(config.api_key));
    e.isPluginError = true; e.code = 'AUTH_FAILED'; e.retriable = false;
    throw e;
  },
}),`,
    });
    const yaml = `state_dir: ./state
orchestrator: { collection_interval_seconds: 0.05, degraded_after_errors: 1 }
collectors:
  - id: leaky
    plugin: plugin-leaky
    config: { api_key: "\${LEAKY_KEY}", base_url: "https://api.example/v1" }
`;
    writeFileSync(join(dir, 'fabric.yaml'), yaml);
    const out = capture();
    const logger = createLogger({ destination: out.stream, level: 'debug' });
    const sink = new MemorySink();
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), { LEAKY_KEY: SECRET }), { cwd: dir, logger, sink });
    await orch.start();
    const app = await buildAdminApp(orch, {}, { logger, token: TOKEN });
    try {
      await until(() => orch.getCollector('leaky')?.lastError?.code === 'AUTH_FAILED');
      const detail = await app.inject({ url: '/collectors/leaky', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(detail.statusCode, detail.body).toBe(200);
      expect(detail.json().description.target).toBe('https://api.example/v1?key=[redacted]');
      expect(detail.json().lastError.message).toContain('[redacted]');
      expectNoForm(detail.body);
      const transitions = await app.inject({ url: '/collectors/leaky/transitions', headers: { authorization: `Bearer ${TOKEN}` } });
      expectNoForm(transitions.body);
    } finally {
      await app.close();
      await orch.stop();
    }
    // The status events published to the sink (the status topic on Kafka) carry the error too.
    const statuses = JSON.stringify(sink.statuses);
    expect(statuses).toContain('AUTH_FAILED');
    expectNoForm(statuses);
    const logText = out.text();
    expect(logText).toContain('[redacted]');
    expectNoForm(logText);
  });
});
