import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { ERROR_AREAS, ERROR_CODES, ERROR_HANDLING, FabricError, errorCodeSpec, type ErrorCodeSpec } from '../src/errors/index.js';
import { ErrorCodes, PluginError, isRetriableCode } from '../src/plugin-api/index.js';
import { IsolationErrorCodes, isInstanceLost } from '../src/isolation/codes.js';
import { RejectCodes } from '../src/events/sanitize.js';
import { AdminErrorCodes, ApiError, fromHostError } from '../src/admin/errors.js';
import { AdminClientError } from '../src/admin/client.js';
import { TokenConfigError } from '../src/admin/token.js';
import { HostError } from '../src/host.js';
import { CheckpointFileError, CheckpointValidationError } from '../src/state/checkpoint-store.js';
import { ConfigError } from '../src/config/errors.js';
import { describeKafkaError, KafkaSinkClosedError, KafkaSinkSetupError } from '../src/sinks/kafka/errors.js';
import { EnrichmentConfigError } from '../src/enrichment/stage.js';
import { WarninglistError } from '../src/enrichment/warninglists.js';
import { CorrelationRuleError } from '../src/correlation/rule-problem.js';
import { UsageError } from '../src/cli/args.js';
import { PluginLoadError } from '../src/plugins/loader.js';
import { LogsourceFileError } from '../src/detection/sigma/logsource.js';
import { RuleRefusal } from '../src/detection/sigma/errors.js';
import { DetectionTaskError } from '../src/detection/pool.js';
import { CollectorErrorCodes } from '../src/collectors/commit-ledger.js';
import { collectorMachine, leafState, type ErrorInfo } from '../src/collectors/machine.js';
import { testPolicy } from './collector-harness.js';

const root = resolve(import.meta.dirname, '../..');
const table = ERROR_CODES as Record<string, ErrorCodeSpec>;
const codes = Object.keys(table);
const DOCS = join(root, 'docs/errors.md');
const SECTION = '## Error codes';

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts')) yield p;
  }
}
const src = [...sources(join(root, 'core/src'))].map((file) => ({ file: relative(root, file), text: readFileSync(file, 'utf8') }));

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The `## Error codes` section of docs/errors.md, as the table says it must read. */
function renderSection(): string {
  const out = [
    SECTION,
    '',
    '<!-- Generated from core/src/errors/codes.ts: edit the table there, then run',
    '     UPDATE_ERROR_DOCS=1 npx vitest run core/test/errors.test.ts -->',
    '',
    'What the runtime does with an error, by its `handling`:',
    '',
    '| handling | what happens |',
    '|---|---|',
    ...Object.entries(ERROR_HANDLING).map(([h, text]) => `| \`${h}\` | ${cell(text)} |`),
  ];
  for (const [area, title] of Object.entries(ERROR_AREAS)) {
    out.push('', `### ${title}`, '', '| code | meaning | retriable | HTTP | handling |', '|---|---|---|---|---|');
    for (const [code, s] of Object.entries(table)) {
      if (s.area !== area) continue;
      const http = s.status === undefined ? '' : [s.status, ...(s.alsoStatus ?? [])].join(', ');
      out.push(`| \`${code}\` | ${cell(s.meaning)} | ${s.retriable ? 'yes' : 'no'} | ${http} | \`${s.handling}\` |`);
    }
  }
  return `${out.join('\n')}\n`;
}

describe('the error table', () => {
  it('is documented: the "Error codes" section of docs/errors.md is generated from it', () => {
    const expected = renderSection();
    const text = readFileSync(DOCS, 'utf8');
    const at = text.indexOf(`\n${SECTION}\n`);
    expect(at, `docs/errors.md has no "${SECTION}" section`).toBeGreaterThan(-1);
    if (process.env.UPDATE_ERROR_DOCS === '1') writeFileSync(DOCS, text.slice(0, at + 1) + expected);
    else expect(text.slice(at + 1), 'docs/errors.md is out of date: run UPDATE_ERROR_DOCS=1 npx vitest run core/test/errors.test.ts').toBe(expected);
    for (const code of codes) expect(text, code).toContain(`\`${code}\``);
  });

  it('has a meaning, an area and a handling for every code; codes are SCREAMING_SNAKE_CASE', () => {
    for (const [code, s] of Object.entries(table)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(s.meaning.length, code).toBeGreaterThan(10);
      expect(Object.keys(ERROR_AREAS), code).toContain(s.area);
      expect(Object.keys(ERROR_HANDLING), code).toContain(s.handling);
      if (s.alsoStatus) expect(s.status, code).toBeDefined();
    }
  });

  it('the code lists other modules export are its slices', () => {
    const area = (a: string) => codes.filter((c) => table[c]!.area === a);
    expect(Object.values(ErrorCodes)).toEqual(area('plugin'));
    expect(Object.values(IsolationErrorCodes)).toEqual(area('isolation'));
    expect(Object.values(RejectCodes)).toEqual(area('event'));
    expect(Object.values(AdminErrorCodes)).toEqual(codes.filter((c) => table[c]!.status !== undefined));
    for (const c of Object.values(CollectorErrorCodes)) expect(table[c]?.area, c).toBe('collector');
    for (const [k, v] of Object.entries({ ...ErrorCodes, ...IsolationErrorCodes, ...RejectCodes, ...AdminErrorCodes, ...CollectorErrorCodes })) expect(v).toBe(k);
  });

  it('the per-audience docs name only codes of the table: plugins.md (supervision table) and admin-api.md (stable codes)', () => {
    const plugins = readFileSync(join(root, 'docs/plugins.md'), 'utf8');
    const supervision = plugins.slice(plugins.indexOf('| code | use it when |'), plugins.indexOf('Degraded is about progress'));
    const named = [...supervision.matchAll(/`([A-Z][A-Z_]+)`/g)].map((m) => m[1]!);
    expect(new Set(named)).toEqual(new Set(Object.values(ErrorCodes)));
    const admin = readFileSync(join(root, 'docs/admin-api.md'), 'utf8');
    const stable = admin.slice(admin.indexOf('Stable error codes:'), admin.indexOf('### `/events`'));
    const listed = [...stable.matchAll(/`([A-Z][A-Z_]+)`/g)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(10);
    for (const c of listed) expect(Object.values(AdminErrorCodes) as string[], c).toContain(c);
  });
});

describe('every error Reactive Fabric throws on purpose is a FabricError with a code of the table', () => {
  it("each error class, constructed, carries a table code and the table's retriable", () => {
    const samples: Array<[FabricError, string]> = [
      [new PluginError('TIMEOUT', 'x'), 'TIMEOUT'],
      [new HostError('NOT_FOUND', 'x'), 'NOT_FOUND'],
      [new CheckpointValidationError('x', []), 'INVALID'],
      [new ApiError(404, AdminErrorCodes.COLLECTOR_NOT_FOUND, 'x'), 'COLLECTOR_NOT_FOUND'],
      [new AdminClientError('x', undefined, undefined), 'ADMIN_UNREACHABLE'],
      [new TokenConfigError('x'), 'ADMIN_TOKEN_INVALID'],
      [new ConfigError('f.yaml', []), 'CONFIG_INVALID'],
      [new ConfigError('f.yaml', [], 'CONFIG_SYNTAX'), 'CONFIG_SYNTAX'],
      [new KafkaSinkSetupError('x', 'TOPIC_MISSING'), 'TOPIC_MISSING'],
      [new KafkaSinkSetupError('x', 'KAFKA_REFUSED', 'SASL_AUTHENTICATION_FAILED'), 'KAFKA_REFUSED'],
      [new KafkaSinkClosedError('x'), 'SINK_CLOSED'],
      [new EnrichmentConfigError('x'), 'ENRICHMENT_CONFIG_INVALID'],
      [new WarninglistError('x'), 'WARNINGLIST_INVALID'],
      [new CorrelationRuleError([]), 'CORRELATION_RULE_INVALID'],
      [new UsageError('x'), 'USAGE'],
      [new CheckpointFileError('x'), 'CHECKPOINT_UNREADABLE'],
      [new PluginLoadError('PLUGIN_NOT_INSTALLED', 'p', 'x'), 'PLUGIN_NOT_INSTALLED'],
      [new LogsourceFileError('f.yml', 'x'), 'LOGSOURCE_FILE_INVALID'],
      [new RuleRefusal('feature', 'x'), 'RULE_REFUSED'],
      [new DetectionTaskError('timeout', 'x'), 'DETECTION_TIMEOUT'],
      [new DetectionTaskError('worker', 'x'), 'DETECTION_WORKER_FAILED'],
    ];
    for (const [err, code] of samples) {
      expect(err, err.name).toBeInstanceOf(FabricError);
      expect(err.code, err.name).toBe(code);
      expect(err.retriable, err.name).toBe(table[code]!.retriable);
      expect(err.status, err.name).toBe(table[code]!.status);
    }
    // Where one error knows better than its code, it says so, and nothing else changes.
    expect(new AdminClientError('x', 404, 'COLLECTOR_NOT_FOUND')).toMatchObject({ code: 'ADMIN_REQUEST_FAILED', status: 404, apiCode: 'COLLECTOR_NOT_FOUND' });
    expect(new DetectionTaskError('worker', 'x', true).retriable).toBe(true);
    expect(new PluginError('CONTRACT_VIOLATION', 'x', { retriable: false }).retriable).toBe(false);
    expect(new KafkaSinkSetupError('x', 'KAFKA_REFUSED', 'TLS_ERR_SSL').brokerCode).toBe('TLS_ERR_SSL');
    // The Kafka error metric keeps the broker's word as its label; our own setup codes stay as they are.
    expect(describeKafkaError(new KafkaSinkSetupError('x', 'KAFKA_REFUSED', 'SASL_AUTHENTICATION_FAILED'))).toMatchObject({ code: 'SASL_AUTHENTICATION_FAILED', fatal: true });
    expect(describeKafkaError(new KafkaSinkSetupError('x', 'TOPIC_MISSING'))).toMatchObject({ code: 'TOPIC_MISSING', fatal: true });
  });

  it('no class in core/src but FabricError extends Error directly', () => {
    const direct = src.flatMap(({ file, text }) => [...text.matchAll(/class (\w+) extends Error\b/g)].map((m) => `${file}: ${m[1]}`));
    expect(direct).toEqual(['core/src/errors/fabric-error.ts: FabricError']);
  });

  it('every code literal in core/src is a table code, or a foreign one (errno, Node, Fastify, llhttp)', () => {
    const foreign = new Set([...Object.keys(constants.errno)]);
    const isForeign = (c: string) => foreign.has(c) || /^(ERR|FST_ERR|HPE)_/.test(c);
    // Not errors of ours: a Node process-warning code, and run --once's fallback for an error without any code.
    // proper-lockfile's "held by another process" (the state_dir lock).
    const allowed = new Set(['RF_CORRELATION_STATE', 'ERROR', 'ELOCKED']);
    const patterns = [
      // new PluginError('CODE', …), new HostError('CODE', …), new PluginLoadError('CODE', …), super('CODE', …)
      /\b(?:new \w*Error|super)\(\s*'([A-Z][A-Z0-9_]*)'/g,
      // { code: 'CODE' }, err.code === 'CODE', code ?? 'CODE'
      /\bcode\s*(?::|\?\?|===|!==|=)\s*'([A-Z][A-Z0-9_]*)'/g,
      // the code parameter of the classes whose code comes second or third
      /\bnew (?:ConfigError|KafkaSinkSetupError)\([^;]*?'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'\s*(?:,[^;]*)?\)/gs,
    ];
    const seen: string[] = [];
    const unknown: string[] = [];
    for (const { file, text } of src) {
      for (const re of patterns) {
        for (const m of text.matchAll(re)) {
          const code = m[1]!;
          seen.push(code);
          if (!errorCodeSpec(code) && !isForeign(code) && !allowed.has(code)) unknown.push(`${file}: ${code}`);
        }
      }
    }
    expect(unknown).toEqual([]);
    // The patterns still find what they are meant to find.
    for (const c of ['QUEUE_FULL', 'START_FAILED', 'SINK_CLOSED', 'TOPIC_MISSING', 'CONFIG_SYNTAX', 'PLUGIN_INVALID', 'RULE_REFUSED', 'ADMIN_TOKEN_INVALID'])
      expect(seen, c).toContain(c);
  });
});

describe('retriable and status agree with supervision and the admin API', () => {
  it('isRetriableCode and PluginError answer what the table says; codes it does not know are retriable', () => {
    for (const [code, s] of Object.entries(table)) {
      expect(isRetriableCode(code), code).toBe(s.retriable);
      expect(new PluginError(code, 'x').retriable, code).toBe(s.retriable);
    }
    expect(isRetriableCode('A_CODE_OF_A_PLUGIN')).toBe(true);
    expect(new PluginError('A_CODE_OF_A_PLUGIN', 'x').retriable).toBe(true);
  });

  it('only isolation codes mean the instance is lost, and each restarts it', () => {
    for (const [code, s] of Object.entries(table)) {
      expect(isInstanceLost(code), code).toBe(s.area === 'isolation');
      if (s.area === 'isolation') expect(s.handling, code).toBe('restart');
    }
  });

  it("the status of every ApiError and error body in core/src is its code's status in the table", () => {
    const uses = src.flatMap(({ file, text }) =>
      [...text.matchAll(/\b(?:new ApiError|errorBody)\(\s*(\d{3}),\s*AdminErrorCodes\.(\w+)/g)].map((m) => ({ file, status: Number(m[1]), code: m[2]! })),
    );
    expect(uses.length).toBeGreaterThan(20);
    for (const u of uses) {
      const s = table[u.code];
      expect([s?.status, ...(s?.alsoStatus ?? [])], `${u.file}: ${u.status} ${u.code}`).toContain(u.status);
    }
    for (const c of codes) if (table[c]!.area === 'admin-api') expect(table[c]!.status, c).toBeDefined();
  });

  it('host errors reach admin clients with the status of the code they are answered as', () => {
    const notFound = fromHostError(new HostError('NOT_FOUND', 'x'));
    const conflict = fromHostError(new HostError('CONFLICT', 'x'));
    const invalid = fromHostError(new HostError('INVALID', 'x'));
    for (const e of [notFound, conflict, invalid]) expect(e.statusCode, e.code).toBe(table[e.code]!.status);
    expect([notFound.code, conflict.code, invalid.code]).toEqual(['COLLECTOR_NOT_FOUND', 'CONFLICT', 'INVALID_REQUEST']);
  });

  describe('the collector state machine does with each code what its handling says', () => {
    const policy = { ...testPolicy, degradedAfterErrors: 3 };
    async function running() {
      const actor = createActor(collectorMachine, { input: { policy } });
      actor.start();
      actor.send({ type: 'START' });
      await waitFor(actor, (s) => leafState(s.value) === 'running');
      return actor;
    }
    const info = (code: string): ErrorInfo => ({ code, message: 'x', retriable: isRetriableCode(code) });
    const pollErrors = codes
      .filter((c) => table[c]!.area === 'plugin' || table[c]!.area === 'collector')
      .filter((c) => ['degrade', 'retry', 'reread'].includes(table[c]!.handling));

    it.each(pollErrors)('%s', async (code) => {
      const actor = await running();
      actor.send({ type: 'POLL_ERROR', error: info(code) });
      if (table[code]!.handling === 'degrade') {
        expect(leafState(actor.getSnapshot().value)).toBe('degraded');
      } else {
        expect(leafState(actor.getSnapshot().value)).toBe('running');
        actor.send({ type: 'POLL_ERROR', error: info(code) });
        actor.send({ type: 'POLL_ERROR', error: info(code) });
        expect(leafState(actor.getSnapshot().value)).toBe('degraded');
      }
      actor.stop();
    });

    it.each(Object.values(IsolationErrorCodes))('%s', async (code) => {
      const actor = await running();
      actor.send({ type: 'INSTANCE_LOST', error: info(code) });
      expect(leafState(actor.getSnapshot().value)).toBe('restarting');
      expect(actor.getSnapshot().context.lastError).toMatchObject({ code, retriable: true });
      actor.stop();
    });

    it('START_FAILED: a start that throws without a code is recorded as START_FAILED and restarted', async () => {
      const machine = collectorMachine.provide({ actors: { startPlugin: fromPromise<void>(() => Promise.reject(new Error('no'))) } });
      const actor = createActor(machine, { input: { policy } });
      actor.start();
      actor.send({ type: 'START' });
      await waitFor(actor, (s) => leafState(s.value) === 'restarting');
      expect(actor.getSnapshot().context.lastError).toMatchObject({ code: 'START_FAILED', retriable: table.START_FAILED!.retriable });
      expect(table.START_FAILED!.handling).toBe('restart');
      actor.stop();
    });
  });
});
