import { describe, expect, it } from 'vitest';
import { checkpointSchemaErrors, WindowCursor, type Checkpoint, type PluginDefinition } from '@reactive-fabric/core';
import elasticsearch from '../plugins/log-elasticsearch/src/index.js';
import splunk from '../plugins/log-splunk/src/index.js';
import graylog from '../plugins/log-graylog/src/index.js';
import otx from '../plugins/ti-otx/src/index.js';
import misp from '../plugins/ti-misp/src/index.js';
import abuseipdb from '../plugins/ti-abuseipdb/src/index.js';
import logFile from '../plugins/log-file/src/index.js';
import { parseCheckpoint as parseOtx } from '../plugins/ti-otx/src/feed.js';
import { parseCheckpoint as parseMisp } from '../plugins/ti-misp/src/feed.js';
import { parseCheckpoint as parseAbuse } from '../plugins/ti-abuseipdb/src/feed.js';

/**
 * Every bundled plugin that keeps a checkpoint declares its shape, so the host can refuse a wrong
 * one (BAD_CONFIG at start, 400 on PUT) instead of the plugin silently starting over. The valid
 * examples are what the plugins write; the plugins' own parsers must agree with the schemas.
 */

const cursor = WindowCursor.fresh({ overlapMs: 60_000, windowMs: 300_000, maxSeen: 100 }, Date.UTC(2026, 0, 1), 300_000).toCheckpoint() as unknown as Checkpoint;
const cursorCut = {
  ...(cursor as object),
  window: { end: '2026-01-01T00:05:00.000Z', resume_at: '2026-01-01T00:01:00.000Z' },
  seen: [['a1', 1767225600000]],
} as unknown as Checkpoint;

const cases: Array<{ plugin: PluginDefinition; valid: Checkpoint[]; wrong: Array<[Checkpoint, string]>; parse?: (cp: Checkpoint) => unknown }> = [
  ...[elasticsearch, splunk, graylog].map((plugin) => ({
    plugin: plugin as PluginDefinition,
    valid: [cursor, cursorCut],
    wrong: [
      [{ files: [1, 2, 3] }, '/v'],
      ['garbage', '/'],
      [null, '/'],
      [{ ...(cursor as object), v: 2 }, '/v'],
      [{ ...(cursor as object), done: 'yesterday' }, '/done'],
      [{ ...(cursor as object), seen: [['id', '12']] }, '/seen/0/1'],
    ] as Array<[Checkpoint, string]>,
  })),
  {
    plugin: otx as PluginDefinition,
    valid: [
      { since: '2026-01-01T00:00:00.000000', boundary: ['p1@2026-01-01'] },
      {
        since: '2026-01-01T00:00:00Z',
        boundary: [],
        chain: { page: '/pulses/subscribed?page=2', high: '2026-01-02T00:00:00Z', highKeys: [], done: ['p2'], partial: { key: 'p3', offset: 40 } },
      },
    ],
    wrong: [
      [{ files: [1, 2, 3] }, '/since'],
      ['garbage', '/'],
      [null, '/'],
      [{ since: '2026-01-01T00:00:00Z', boundary: [1] }, '/boundary/0'],
      [{ since: '2026-01-01T00:00:00Z', boundary: [], chain: { page: 'https://evil.example/x', high: 'x', highKeys: [], done: [] } }, '/chain/page'],
    ],
    parse: (cp) => parseOtx(cp, { baseUrl: 'https://otx.alienvault.com', pageSize: 10, initialSince: '2026-01-01T00:00:00Z', maxTlp: 'amber', collectorId: 'otx' }),
  },
  {
    plugin: misp as PluginDefinition,
    valid: [
      { since: 1767225600, boundary: [] },
      { since: 1767225600, boundary: ['a'], chain: { page: 2, limit: 100, high: 1767225700, highKeys: ['b'], done: ['c'] } },
    ],
    wrong: [
      [{ files: [1, 2, 3] }, '/since'],
      ['garbage', '/'],
      [null, '/'],
      [{ since: '12', boundary: [] }, '/since'],
      [{ since: 1, boundary: [], chain: { page: -1, limit: 1, high: 1, highKeys: [], done: [] } }, '/chain/page'],
    ],
    parse: (cp) => parseMisp(cp, { baseUrl: 'https://misp.example', pageSize: 10, initialSince: 0, toIdsOnly: true, maxTlp: 'amber', collectorId: 'misp' }),
  },
  {
    plugin: abuseipdb as PluginDefinition,
    valid: [
      { boundary: [], complete: true },
      { since: '2026-01-01T00:00:00.000Z', boundary: ['192.0.2.1'], fetchedAt: '2026-01-01T01:00:00.000Z', complete: false },
    ],
    wrong: [
      [{ files: [1, 2, 3] }, '/boundary'],
      ['garbage', '/'],
      [null, '/'],
      [{ boundary: [], since: 'last tuesday' }, '/since'],
      [{ boundary: 'a,b' }, '/boundary'],
    ],
    parse: (cp) => parseAbuse(cp, 'abuse'),
  },
];

describe('bundled plugins declare their checkpoint shape', () => {
  for (const c of cases) {
    it(`${c.plugin.name}: accepts what it writes, refuses wrong shapes naming the field`, () => {
      expect(c.plugin.checkpointSchema, 'checkpointSchema').toBeDefined();
      for (const v of c.valid) {
        expect(checkpointSchemaErrors(c.plugin.checkpointSchema, v), JSON.stringify(v)).toEqual([]);
        if (c.parse) expect(() => c.parse!(v)).not.toThrow();
      }
      for (const [value, path] of c.wrong) {
        expect(
          checkpointSchemaErrors(c.plugin.checkpointSchema, value).map((e) => e.path),
          JSON.stringify(value),
        ).toContain(path);
      }
    });
  }

  it('log-file too', () => {
    expect(checkpointSchemaErrors(logFile.checkpointSchema, { files: { '/var/log/auth.log': { dev: 1, ino: 2, offset: 3, fp: 'a1b2c3d4e5f60718' } } })).toEqual([]);
    expect(checkpointSchemaErrors(logFile.checkpointSchema, { files: [1, 2, 3] }).map((e) => e.path)).toEqual(['/files']);
  });
});
