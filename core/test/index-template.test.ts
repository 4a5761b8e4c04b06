import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from 'typebox/value';
import { parse, stringify } from 'yaml';
import { ECS_VERSION } from '../src/events/ecs.js';
import { EVENT_SCHEMA_VERSION } from '../src/events/schema-version.js';
import { repoRoot, tempDir } from './helpers.js';

/**
 * The shipped index and component templates (core/templates/elasticsearch/) against a real
 * OpenSearch 2.19 node (scripts/opensearch/node.mjs start; OPENSEARCH_URL when not on the default
 * port): installed as a user would, then the quickstart's real output — `fabric run --once` on
 * examples/quickstart.yaml over freshly generated sample logs — is indexed with no error, every
 * field the product wrote is mapped, and hostile source fields change nothing.
 */
const url = process.env.OPENSEARCH_URL ?? 'http://127.0.0.1:19200';
const templates = join(repoRoot, 'core/templates/elasticsearch');
const COMPONENTS = ['reactive-fabric-settings', 'reactive-fabric-ecs', 'reactive-fabric-fabric'] as const;
const FILES: Record<string, string> = {
  'reactive-fabric-settings': 'component-settings.json',
  'reactive-fabric-ecs': 'component-ecs.json',
  'reactive-fabric-fabric': 'component-fabric.json',
};
const index = `reactive-fabric-events-it-${process.pid}-${Date.now()}`;

type Json = Record<string, unknown>;
type Mapping = { type?: string; properties?: Record<string, Mapping>; index?: boolean };

async function os(method: string, path: string, body?: unknown, ndjson = false): Promise<Json> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body: ndjson ? (body as string) : JSON.stringify(body) }),
  });
  const json = (await res.json()) as Json;
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json).slice(0, 500)}`);
  return json;
}

function template(name: string): Json {
  return JSON.parse(readFileSync(join(templates, name), 'utf8')) as Json;
}

/** The quickstart, as `npm start` runs it, with its state and logs in a temporary folder. */
function quickstartOutput(): Json[] {
  const dir = tempDir('rf-index-template-');
  const logs = join(dir, 'sample-logs');
  const gen = spawnSync(process.execPath, [join(repoRoot, 'scripts/generate-sample-logs.mjs'), '--out', logs], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`generate-sample-logs failed: ${gen.stderr}`);
  const config = parse(readFileSync(join(repoRoot, 'examples/quickstart.yaml'), 'utf8')) as {
    state_dir: string;
    admin?: { enabled?: boolean };
    collectors: Array<{ config: { base_dir?: string } }>;
  };
  config.state_dir = join(dir, '.fabric');
  config.admin = { ...config.admin, enabled: false };
  for (const c of config.collectors) c.config.base_dir = logs;
  const file = join(dir, 'quickstart.yaml');
  writeFileSync(file, stringify(config));
  const run = spawnSync(process.execPath, [join(repoRoot, 'core/bin/fabric.js'), 'run', '--once', '-c', file], { cwd: repoRoot, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`fabric run --once failed (${run.status}): ${run.stderr}`);
  return readFileSync(join(dir, '.fabric/events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Json);
}

/** Every leaf field path of a document (`a.b.c`; arrays of objects contribute their members' paths). */
function leafPaths(value: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) leafPaths(v, prefix, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) leafPaths(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.add(prefix);
  }
  return out;
}

function mappingOf(mappings: Mapping, path: string): Mapping | undefined {
  let cur: Mapping | undefined = mappings;
  for (const part of path.split('.')) cur = cur?.properties?.[part];
  return cur;
}

async function indexMapping(): Promise<Mapping> {
  const res = (await os('GET', `/${index}/_mapping`)) as Record<string, { mappings: Mapping }>;
  return res[index]!.mappings;
}

async function bulk(docs: Json[]): Promise<Array<{ status: number; error?: unknown }>> {
  const body = `${docs.flatMap((d) => [JSON.stringify({ create: { _index: index } }), JSON.stringify(d)]).join('\n')}\n`;
  const res = await os('POST', '/_bulk?refresh=true', body, true);
  return (res.items as Array<{ create: { status: number; error?: unknown } }>).map((i) => i.create);
}

let events: Json[];

beforeAll(async () => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`status ${res.status}`);
  } catch (err) {
    throw new Error(
      `No OpenSearch node answers at ${url} (${(err as Error).message}). Start it with: node scripts/opensearch/node.mjs start (stop: node scripts/opensearch/node.mjs stop)`,
    );
  }
  // As docs/events.md says to install them: component templates first, then the index template.
  for (const name of COMPONENTS) await os('PUT', `/_component_template/${name}`, template(FILES[name]!));
  await os('PUT', '/_index_template/reactive-fabric-events', template('index-template.json'));
  events = quickstartOutput();
}, 120_000);

afterAll(async () => {
  await fetch(`${url}/${index}`, { method: 'DELETE' }).catch(() => undefined);
  await fetch(`${url}/_index_template/reactive-fabric-events`, { method: 'DELETE' }).catch(() => undefined);
  for (const name of COMPONENTS) await fetch(`${url}/_component_template/${name}`, { method: 'DELETE' }).catch(() => undefined);
});

describe('Elasticsearch/OpenSearch index template on a real OpenSearch node', () => {
  it('the quickstart output is ECS 2.0-shaped: alerts, ecs.version, only ECS rule fields, valid against threat-detected.v2.json', () => {
    const schema = JSON.parse(readFileSync(join(repoRoot, 'core/schemas/threat-detected.v2.json'), 'utf8')) as Record<string, unknown>;
    expect(events.flatMap((e) => [...Value.Errors(schema, e)].map((x) => `${String((e.event as Json).id)} ${x.instancePath} ${x.message}`))).toEqual([]);
    const alertTypes = new Map<string, number>();
    for (const e of events) {
      const fabric = e.fabric as Json;
      expect(e.ecs).toEqual({ version: ECS_VERSION });
      expect(fabric.schema_version).toBe(EVENT_SCHEMA_VERSION);
      expect((e.event as Json).kind).not.toBe('signal');
      const t = String(fabric.alert_type);
      alertTypes.set(t, (alertTypes.get(t) ?? 0) + 1);
      if (e.rule)
        expect(
          Object.keys(e.rule as Json).every((k) => ['author', 'category', 'description', 'id', 'license', 'name', 'reference', 'ruleset', 'uuid', 'version'].includes(k)),
        ).toBe(true);
    }
    // Both kinds of alert are in the sample: the test below indexes each shape, not just one.
    expect(alertTypes.get('detection') ?? 0).toBeGreaterThan(10);
    expect(alertTypes.get('correlation') ?? 0).toBeGreaterThan(0);
  });

  it('the templates say which ECS and event schema versions they map: the ones the product writes', () => {
    for (const file of [...Object.values(FILES), 'index-template.json'])
      expect(template(file)._meta, file).toMatchObject({ ecs_version: ECS_VERSION, fabric_schema_version: EVENT_SCHEMA_VERSION });
  });

  it('indexes every event of the quickstart with no error, and maps every field it wrote', async () => {
    const items = await bulk(events);
    expect(items.filter((i) => i.status !== 201)).toEqual([]);
    const count = await os('GET', `/${index}/_count`);
    expect(count.count).toBe(events.length);

    const mapping = await indexMapping();
    const unmapped = [...new Set(events.flatMap((e) => [...leafPaths(e)]))].filter((p) => mappingOf(mapping, p)?.type === undefined);
    expect(unmapped).toEqual([]);
  });

  it('maps the ECS fields with their ECS types', async () => {
    const mapping = await indexMapping();
    const types = Object.fromEntries(
      [
        '@timestamp',
        'source.ip',
        'related.ip',
        'source.port',
        'event.severity',
        'event.kind',
        'event.start',
        'ecs.version',
        'rule.name',
        'message',
        'threat.enrichments',
        'fabric.correlation.group_by.field',
        'fabric.correlation.group_by.value',
        'fabric.correlation.window.start',
        'fabric.rule.level',
      ].map((p) => [p, mappingOf(mapping, p)?.type]),
    );
    expect(types).toEqual({
      '@timestamp': 'date',
      'source.ip': 'ip',
      'related.ip': 'ip',
      'source.port': 'long',
      'event.severity': 'long',
      'event.kind': 'keyword',
      'event.start': 'date',
      'ecs.version': 'keyword',
      'rule.name': 'keyword',
      message: 'text',
      'threat.enrichments': 'nested',
      'fabric.correlation.group_by.field': 'keyword',
      'fabric.correlation.group_by.value': 'keyword',
      'fabric.correlation.window.start': 'date',
      'fabric.rule.level': 'keyword',
    });
    // Kept for the analyst, never indexed (ECS).
    expect(mappingOf(mapping, 'event.original')).toMatchObject({ type: 'keyword', index: false });
  });

  it('source.ip answers CIDR queries and event.kind finds the alerts', async () => {
    const attacker = events.find((e) => (e.fabric as Json).alert_type === 'correlation' && (e.source as Json | undefined)?.ip);
    expect(attacker).toBeDefined();
    const ip = String((attacker!.source as Json).ip);
    const cidr = `${ip.split('.').slice(0, 3).join('.')}.0/24`;
    const byCidr = await os('POST', `/${index}/_count`, { query: { term: { 'source.ip': cidr } } });
    expect(byCidr.count).toBeGreaterThan(0);
    const alerts = await os('POST', `/${index}/_count`, { query: { term: { 'fabric.alert_type': 'correlation' } } });
    expect(alerts.count).toBe(events.filter((e) => (e.fabric as Json).alert_type === 'correlation').length);
  });

  it('hostile and unknown source fields are indexed without error and add nothing to the mapping', async () => {
    const fieldsBefore = leafPaths(await indexMapping()).size;
    const base = events.find((e) => (e.fabric as Json).alert_type === 'detection')!;
    const docs: Json[] = [
      // The same unknown field as an object, a number, a string and an array: no dynamic mapping to conflict with.
      { ...base, custom: { deep: { a: 1 } } },
      { ...base, custom: 7 },
      { ...base, custom: 'text' },
      { ...base, custom: [1, 'two', { three: 3 }] },
      // Thousands of distinct field names (a mapping explosion if they were mapped dynamically).
      { ...base, spray: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`f${i}`, i])) },
      // Malformed values in typed ECS fields: the field is left unindexed, the document is kept.
      { ...base, source: { ip: 'not-an-ip', port: 'eighty' } },
      { ...base, '@timestamp': base['@timestamp'], event: { ...(base.event as Json), severity: 'high', start: 'yesterday' } },
      // Unknown fields inside ECS and product objects.
      { ...base, host: { name: 'h', unknown_ecs_child: { x: [1, 2] } }, fabric: { ...(base.fabric as Json), future_field: { y: true } } },
      // Free-form syslog structured data (SD-IDs chosen by the sender).
      { ...base, log: { syslog: { structured_data: { 'exampleSDID@32473': { iut: '3' }, 'x@1': { a: 'b' } } } } },
    ];
    const items = await bulk(docs);
    expect(items.filter((i) => i.status !== 201)).toEqual([]);
    expect(leafPaths(await indexMapping()).size).toBe(fieldsBefore);
  });
});
