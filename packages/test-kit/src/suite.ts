import { isDeepStrictEqual } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, INDICATOR_TYPES } from '@reactive-fabric/core';
import { readPluginPackage, RefusedEvent, WorkerPlugin, type WorkerLimits } from '@reactive-fabric/core/runtime';
import type { Checkpoint, ErrorCode, Indicator, IndicatorType, PluginDefinition, SourceEvent, VerdictStatus } from '@reactive-fabric/core';
import { checkDefinition } from './checks/definition.js';
import { checkErrorAtPath, derivedInvalidConfigs, validateConfig } from './checks/config.js';
import type { InvalidConfigCase } from './checks/config.js';
import { validateEcsEvent } from './checks/ecs.js';
import { collectSecrets, findLeakedSecrets } from './checks/secrets.js';
import { checkPackageJson, readPackageJson } from './checks/package.js';
import { checkpointProblems, classifyError, createTestHost, lookupContractProblems, pollContractProblems } from './host.js';
import type { TestHost, TestHostOptions } from './host.js';
import { closedPortUrl, startScenarioServer } from './scenario-server.js';
import type { Scenario } from './scenario-server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPlugin = PluginDefinition<any, any>;
type Lazy<T> = T | (() => T | Promise<T>);

export interface FailureCase {
  name: string;
  /** A config under which start()/poll()/lookup() must fail. */
  config: Lazy<unknown>;
  /** Acceptable error codes (the first error thrown must carry one of them). */
  codes: ErrorCode[];
}

export interface ConformanceOptions {
  /** A config that works: pointing at a fake started in `setup`, or a temp file. A function is called after setup. */
  validConfig: Lazy<unknown>;
  /** Extra configs the schema must refuse, each with the field path the error must name. */
  invalidConfigs?: InvalidConfigCase[];
  /** Values that must never appear in describe(), logs or errors (Secret() fields are found automatically). */
  secrets?: string[];
  /** Runs before the suite (start fakes, write sample files); may return a teardown. */
  setup?: () => Promise<void | (() => unknown)> | void | (() => unknown);
  /**
   * For plugins that talk HTTP: a valid config whose backend base URL is `baseUrl`. With it the
   * suite points the plugin at misbehaving servers: one that never answers (abort/timeout),
   * 401 (AUTH_FAILED), 429 with Retry-After (RATE_LIMITED/QUOTA_EXHAUSTED), 500 (UNAVAILABLE),
   * a non-JSON 200 (BAD_RESPONSE) and a closed port (UNAVAILABLE).
   */
  configForEndpoint?: (baseUrl: string) => unknown;
  /** Override the expected codes of the HTTP scenarios (key: hang, 401, 429, 500, garbage, closed). */
  endpointCodes?: Partial<Record<EndpointScenario, ErrorCode[]>>;
  /** Plugin-specific configs that must fail with a coded PluginError. */
  failures?: FailureCase[];
  /** Enrichers: the instance also has a poll() feed; run the source checks on it too. */
  feed?: boolean;
  /** Sources and feeds: fewest events the valid config must yield across the polls (default 1). */
  minEvents?: number;
  /** Sources: most polls when draining (default 20). */
  maxPolls?: number;
  /** Sources: returns <0, 0, >0 like a sort comparator; checkpoints must never go backwards. */
  compareCheckpoints?: (a: Checkpoint, b: Checkpoint) => number;
  /** Enrichers: indicators the backend knows, optionally with the status each must get. */
  indicators?: Array<Indicator & { expect?: VerdictStatus }>;
  /** Enrichers: indicators the backend has never seen (default: random ones of each supported type). */
  unknownIndicators?: Indicator[];
  /** Deadline of each start/poll/lookup (default 10 s). */
  timeoutMs?: number;
  /** The plugin's package.json (path or file: URL, e.g. new URL('../package.json', import.meta.url)): checked against the definition. */
  packageJson?: string | URL;
  /** Name shown in the test report (default: the plugin's name). */
  name?: string;
}

export type EndpointScenario = 'hang' | '401' | '429' | '500' | 'garbage' | 'closed';

export interface ConformanceCheck {
  group: string;
  name: string;
  run(): Promise<void>;
  /** Per-check timeout for the test runner. */
  timeoutMs: number;
}

export interface ConformanceSuite {
  name: string;
  checks: ConformanceCheck[];
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

/** Thrown when a plugin breaks the contract; the message says what and how to fix it. */
export class ConformanceError extends Error {
  constructor(message: string, readonly problems: string[] = []) {
    super(problems.length > 0 ? `${message}\n  - ${problems.join('\n  - ')}` : message);
    this.name = 'ConformanceError';
  }
}

function fail(message: string, problems: string[] = []): never {
  throw new ConformanceError(message, problems);
}

function expectNone(message: string, problems: string[]): void {
  if (problems.length > 0) fail(message, problems);
}

const DEFAULT_ENDPOINT_CODES: Record<EndpointScenario, ErrorCode[]> = {
  hang: [ErrorCodes.ABORTED, ErrorCodes.TIMEOUT],
  '401': [ErrorCodes.AUTH_FAILED],
  '429': [ErrorCodes.RATE_LIMITED, ErrorCodes.QUOTA_EXHAUSTED],
  '500': [ErrorCodes.UNAVAILABLE],
  garbage: [ErrorCodes.BAD_RESPONSE],
  closed: [ErrorCodes.UNAVAILABLE, ErrorCodes.TIMEOUT],
};

const SCENARIOS: Record<Exclude<EndpointScenario, 'closed'>, { scenario: Scenario; what: string }> = {
  hang: { scenario: { kind: 'hang' }, what: 'a backend that never answers' },
  '401': { scenario: { kind: 'status', status: 401, body: '{"error":"invalid credentials"}' }, what: 'HTTP 401 (credentials refused)' },
  '429': { scenario: { kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: '{"error":"too many requests"}' }, what: 'HTTP 429 with Retry-After: 7' },
  '500': { scenario: { kind: 'status', status: 500, body: '{"error":"internal"}' }, what: 'HTTP 500' },
  garbage: { scenario: { kind: 'status', status: 200, headers: { 'content-type': 'text/html' }, body: '<html>this is not the API</html>' }, what: 'a 200 response that is not the API (HTML)' },
};

/**
 * The conformance checks for one plugin, independent of any test runner. `runConformance`
 * registers them as vitest tests; this form lets other runners (and the test kit's own tests) use them.
 */
export function conformanceSuite(plugin: AnyPlugin, options: ConformanceOptions): ConformanceSuite {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const checkTimeout = timeoutMs * 3 + 10_000;
  const hosts: TestHost[] = [];
  const thrown: unknown[] = [];
  let teardownFn: (() => unknown) | undefined;
  let resolvedConfig: unknown;
  let secrets: string[] = [];
  const checks: ConformanceCheck[] = [];
  const add = (group: string, name: string, run: () => Promise<void>, t = checkTimeout) => checks.push({ group, name, run, timeoutMs: t });
  const kind = (plugin as { kind?: unknown } | undefined)?.kind;

  const resolve = async <T>(lazy: Lazy<T>): Promise<T> => (typeof lazy === 'function' ? await (lazy as () => T | Promise<T>)() : lazy);
  const host = async (config: unknown, extra: TestHostOptions = {}): Promise<TestHost> => {
    const h = await createTestHost(plugin, config, { timeoutMs, ...extra });
    hosts.push(h as TestHost);
    return h as TestHost;
  };
  // Only problems that make instances impossible to create block the behaviour checks; a wrong
  // name or API range is reported by its own check while the rest still runs.
  const definitionOk = () => {
    const blocking = checkDefinition(plugin).filter((p) => /^(the plugin module|kind:|configSchema: must be a TypeBox|create:)/.test(p));
    if (blocking.length > 0) fail('the plugin definition is invalid, so its instances cannot be tested', blocking);
  };

  // ---- definition ------------------------------------------------------------------------
  add('definition', 'has a valid npm name, semver version, kind, object config schema and create()', async () => {
    expectNone('definition problems', checkDefinition(plugin).filter((p) => !p.startsWith('apiVersion')));
  });
  add('definition', "declares an apiVersion semver range that accepts this core's PLUGIN_API_VERSION", async () => {
    expectNone('apiVersion problems', checkDefinition(plugin).filter((p) => p.startsWith('apiVersion')));
  });

  if (options.packageJson !== undefined) {
    const location = options.packageJson;
    add('definition', 'package.json agrees with the definition (name, version, reactiveFabric range and kind, keyword, core as a peer)', async () => {
      const pkg = await readPackageJson(location);
      expectNone('package.json problems', checkPackageJson(pkg, plugin));
    });
  }

  // ---- isolation ---------------------------------------------------------------------------
  // The host runs every source in its own worker thread by default: the package is imported
  // there, events and checkpoints cross as JSON, and anything thrown outside a call ends the worker.
  if (options.packageJson !== undefined && (kind === 'source' || (kind === 'enricher' && options.feed === true))) {
    const location = options.packageJson;
    const limits: WorkerLimits = { maxHeapMb: 512, unresponsiveMs: Math.max(5000, timeoutMs), heartbeatMs: 250, maxBatchBytes: 33_554_432, createTimeoutMs: timeoutMs };
    const entry = (): string => readPluginPackage(dirname(location instanceof URL ? fileURLToPath(location) : location)).entry;
    add('isolation', 'imports in a worker thread without exiting, throwing or blocking, and exports the same definition there', async () => {
      definitionOk();
      let data;
      try {
        data = await WorkerPlugin.inspect(entry(), limits);
      } catch (err) {
        fail(`importing the package in a worker failed (${(err as { code?: string }).code ?? 'ERROR'}): ${(err as Error).message}; build the package, and do no work at import time (no process.exit, no timers, no network)`);
      }
      const problems: string[] = [];
      if (data.name !== plugin.name) problems.push(`name in the worker is ${JSON.stringify(data.name)}, here ${JSON.stringify(plugin.name)}: does package.json point at the built entry of this plugin?`);
      if (data.kind !== plugin.kind) problems.push(`kind in the worker is ${JSON.stringify(data.kind)}, here ${JSON.stringify(plugin.kind)}`);
      if (!isDeepStrictEqual(data.configSchema, JSON.parse(JSON.stringify(plugin.configSchema)))) problems.push('the config schema read in the worker differs from this one (rebuild the package?)');
      expectNone('the package imported in a worker does not match the definition under test', problems);
    });
    add('isolation', 'polls the valid config from its own worker thread: every batch crosses as JSON within maxEvents, and the worker survives (no uncaught error, unhandled rejection or process.exit)', async () => {
      definitionOk();
      const { value } = validateConfig(plugin.configSchema, resolvedConfig);
      let lost: Error | undefined;
      const logs: unknown[] = [];
      const log = (obj: unknown) => logs.push(obj);
      const stateDir = mkdtempSync(join(tmpdir(), 'conformance-worker-'));
      const ws = await WorkerPlugin.create({
        entry: entry(),
        config: value,
        collectorId: 'conformance',
        stateDir,
        logger: { debug: log, info: log, warn: log, error: log },
        limits,
        onLost: (e) => (lost = e),
      }).catch((err: Error) => fail(`create() in a worker failed (${(err as { code?: string }).code ?? 'ERROR'}): ${err.message}`));
      let events = 0;
      try {
        await ws.start();
        let checkpoint: Checkpoint | undefined;
        for (let i = 0; i < (options.maxPolls ?? 20); i++) {
          const r = await ws.poll({ checkpoint, signal: new AbortController().signal, maxEvents: 100 });
          const refused = r.events.flatMap((e, j) => (e instanceof RefusedEvent ? [`events[${j}]: ${e.code}: ${e.reason}`] : []));
          expectNone(`poll #${i + 1}: events that cannot cross to the host as JSON (the host dead-letters them)`, refused);
          expectNone(`poll #${i + 1} in the worker broke the contract`, pollContractProblems(r, 100));
          events += r.events.length;
          checkpoint = r.checkpoint;
          if (r.events.length === 0 && !r.hasMore) break;
        }
        // A timer or promise left behind by a poll fails here, as it would kill the worker in the host.
        await new Promise((r) => setTimeout(r, 200));
      } catch (err) {
        thrown.push(err);
        fail(`polling in the worker failed (${(err as { code?: string }).code ?? 'ERROR'}): ${(err as Error).message}`);
      } finally {
        await ws.stop();
        rmSync(stateDir, { recursive: true, force: true });
      }
      if (lost) fail(`the plugin's worker was lost (${(lost as { code?: string }).code}): ${lost.message}`);
      if (events < (options.minEvents ?? 1)) fail(`polling in the worker yielded ${events} events; inline the valid config yields at least ${options.minEvents ?? 1}`);
      expectNone('a secret reached a log record written in the worker', findLeakedSecrets(secrets, { 'worker logs': logs }));
    });
  }

  // ---- config schema ---------------------------------------------------------------------
  add('config schema', 'accepts the valid config (defaults applied)', async () => {
    definitionOk();
    const { errors } = validateConfig(plugin.configSchema, resolvedConfig);
    expectNone('the valid config was refused', errors.map((e) => `${e.path}: ${e.message}`));
  });
  add('config schema', 'refuses bad configs with an error naming the field path', async () => {
    definitionOk();
    const cases = [...derivedInvalidConfigs(plugin.configSchema, resolvedConfig), ...(options.invalidConfigs ?? [])];
    const problems: string[] = [];
    let wrong = 0;
    for (const c of cases) {
      const { errors } = validateConfig(plugin.configSchema, c.config);
      const caseProblems = [
        ...checkErrorAtPath(errors, c.path).map((p) => `${c.name ?? c.path}: ${p}`),
        ...findLeakedSecrets(secrets, { [`errors for ${c.name ?? c.path}`]: errors }),
      ];
      if (caseProblems.length > 0) wrong++;
      problems.push(...caseProblems);
    }
    if (cases.length === 0) fail('no bad config to try: the schema has no fields and no additionalProperties: false; pass invalidConfigs');
    expectNone(`${wrong} of ${cases.length} bad configs were not refused at the right path (or leaked a secret)`, problems);
  });

  // ---- lifecycle -------------------------------------------------------------------------
  add('lifecycle', 'stop() before start(), start() twice and stop() twice do not throw', async () => {
    definitionOk();
    const h = await host(resolvedConfig);
    try {
      await h.stop();
      await h.start();
      await h.start();
      await h.stop();
      await h.stop();
    } catch (err) {
      thrown.push(err);
      fail(`lifecycle calls must be idempotent, but one threw: ${(err as Error)?.message ?? String(err)}`);
    } finally {
      await h.dispose();
    }
  });
  add('lifecycle', 'describe() names the backend and carries no secret', async () => {
    definitionOk();
    const h = await host(resolvedConfig);
    try {
      const d = h.describe();
      if (d === undefined) fail('describe() is missing: operators need to see what each collector talks to (backend, target)');
      if (typeof d !== 'object' || d === null) fail(`describe() must return an object, got ${typeof d}`);
      const problems: string[] = [];
      if (typeof d.backend !== 'string' || d.backend.length === 0) problems.push('backend: must be a non-empty string such as "splunk"');
      for (const [k, v] of Object.entries(d)) {
        const ok = v === undefined || ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
        if (!ok) problems.push(`${k}: must be a string, number, boolean or string[]`);
      }
      problems.push(...findLeakedSecrets(secrets, { 'describe()': d }));
      if (typeof d.target === 'string' && /\/\/[^/@\s]+:[^/@\s]+@/.test(d.target)) problems.push('target: contains credentials (user:password@); strip them');
      expectNone('describe() problems', problems);
    } finally {
      await h.dispose();
    }
  });
  add('lifecycle', 'healthCheck() (when present) reports a valid status for the valid config', async () => {
    definitionOk();
    const h = await host(resolvedConfig);
    try {
      await h.start();
      const report = await h.healthCheck();
      if (report === undefined) return;
      const problems: string[] = [];
      if (!['healthy', 'degraded', 'unhealthy'].includes(report.status)) problems.push(`status: must be healthy, degraded or unhealthy, got ${JSON.stringify(report.status)}`);
      else if (report.status !== 'healthy') problems.push(`status: the valid config should be healthy, got ${report.status} (${report.reason ?? 'no reason'})`);
      problems.push(...findLeakedSecrets(secrets, { 'healthCheck()': report }));
      expectNone('healthCheck() problems', problems);
    } finally {
      await h.dispose();
    }
  });

  // ---- source behaviour -------------------------------------------------------------------
  // Enrichers run the source checks on their feed (poll()) only when they declare one.
  const sourceLike = kind === 'source' || (kind === 'enricher' && options.feed === true);
  if (kind === 'enricher') {
    add('enricher', options.feed ? 'offers the poll() feed the suite was told about' : 'has no poll() feed (pass feed: true to test one)', async () => {
      definitionOk();
      const h = await host(resolvedConfig);
      try {
        const has = typeof (h.instance as { poll?: unknown }).poll === 'function';
        if (has && !options.feed) fail('the instance has a poll() feed: pass feed: true so the suite checks its events and checkpoints');
        if (!has && options.feed) fail('feed: true was passed, but the instance created from validConfig has no poll()');
      } finally {
        await h.dispose();
      }
    });
  }
  if (sourceLike) {
    const minEvents = options.minEvents ?? 1;
    const maxPolls = options.maxPolls ?? 20;
    let drained: { events: SourceEvent[]; perPoll: number[]; checkpoints: Checkpoint[] } | undefined;

    const drain = async (): Promise<NonNullable<typeof drained>> => {
      if (drained) return drained;
      definitionOk();
      const h = await host(resolvedConfig, { strict: false });
      const events: SourceEvent[] = [];
      const perPoll: number[] = [];
      const checkpoints: Checkpoint[] = [];
      try {
        await h.start();
        for (let i = 0; i < maxPolls; i++) {
          const r = await h.poll();
          const problems = pollContractProblems(r, 100);
          expectNone(`poll #${i + 1} broke the contract`, problems);
          events.push(...r.events);
          perPoll.push(r.events.length);
          checkpoints.push(h.checkpoint as Checkpoint);
          if (r.events.length === 0 && !r.hasMore) break;
        }
      } catch (err) {
        thrown.push(err);
        throw err;
      } finally {
        await h.dispose();
      }
      drained = { events, perPoll, checkpoints };
      return drained;
    };

    const group = kind === 'source' ? 'source' : 'enricher feed';
    add(group, `polls the valid config to the end, yielding at least ${minEvents} valid ECS event(s)`, async () => {
      const { events, perPoll } = await drain();
      if (events.length < minEvents) {
        fail(`the valid config yielded ${events.length} events over ${perPoll.length} polls; expected at least ${minEvents} (point validConfig at data: a fake with seeded records or a sample file)`);
      }
      const problems = events.flatMap((e, i) => validateEcsEvent(e).map((p) => `events[${i}].${p}`));
      expectNone('events are not valid ECS', problems.slice(0, 20));
      if (perPoll.length === maxPolls && perPoll[perPoll.length - 1]! > 0) {
        fail(`still returning events after ${maxPolls} polls: does the checkpoint advance? (poll sizes: ${perPoll.join(', ')})`);
      }
    });
    add(group, 'checkpoints are JSON-serialisable, never go backwards, and no event is emitted twice', async () => {
      const { events, checkpoints } = await drain();
      const problems: string[] = [];
      checkpoints.forEach((c, i) => problems.push(...checkpointProblems(c).map((p) => `after poll #${i + 1}: ${p}`)));
      const cmp = options.compareCheckpoints ?? defaultCompare;
      for (let i = 1; i < checkpoints.length; i++) {
        const order = cmp(checkpoints[i - 1]!, checkpoints[i]!);
        if (order !== undefined && order > 0) problems.push(`checkpoint went backwards between poll #${i} and #${i + 1}: ${JSON.stringify(checkpoints[i - 1])} → ${JSON.stringify(checkpoints[i])}`);
      }
      problems.push(...duplicates(events));
      expectNone('checkpoint problems', problems);
    });
    add(group, 'resuming from the last committed checkpoint (a new instance, as after a restart) re-emits nothing', async () => {
      const { events, checkpoints } = await drain();
      const last = checkpoints[checkpoints.length - 1];
      const h = await host(resolvedConfig, { checkpoint: last });
      try {
        await h.start();
        const r = await h.poll();
        const seen = new Set(events.map(identity));
        const again = r.events.filter((e) => seen.has(identity(e)));
        if (again.length > 0) fail(`${again.length} event(s) emitted again after resuming from ${JSON.stringify(last)}`, again.slice(0, 3).map((e) => JSON.stringify(e).slice(0, 200)));
        if (r.events.length === 0 && !r.hasMore && options.compareCheckpoints) {
          const order = options.compareCheckpoints(last as Checkpoint, h.checkpoint as Checkpoint);
          if (order > 0) fail(`an idle poll moved the checkpoint backwards: ${JSON.stringify(last)} → ${JSON.stringify(h.checkpoint)}`);
        }
      } finally {
        await h.dispose();
      }
    });
    add(group, 'honours maxEvents: small batches deliver the same events, none lost or repeated', async () => {
      const { events } = await drain();
      if (events.length === 0) return;
      const batch = events.length <= 30 ? 1 : Math.ceil(events.length / 10);
      const h = await host(resolvedConfig, { maxEvents: batch });
      const small: SourceEvent[] = [];
      try {
        await h.start();
        for (let i = 0; i < Math.ceil(events.length / batch) + 5; i++) {
          const r = await h.poll();
          small.push(...r.events);
          if (r.events.length === 0 && !r.hasMore) break;
        }
      } finally {
        await h.dispose();
      }
      const problems = [...duplicates(small)];
      const bigSet = new Set(events.map(identity));
      const smallSet = new Set(small.map(identity));
      const lost = [...bigSet].filter((k) => !smallSet.has(k));
      if (lost.length > 0) problems.push(`${lost.length} of ${bigSet.size} events never arrived with maxEvents=${batch} (is the checkpoint the position after the last returned event?)`);
      expectNone(`polling with maxEvents=${batch}`, problems);
    });
    add(group, 'a poll whose signal is already aborted settles promptly with ABORTED/TIMEOUT or a valid result', async () => {
      definitionOk();
      const h = await host(resolvedConfig, { strict: false, abortGraceMs: 2_000 });
      try {
        await h.start();
        const controller = new AbortController();
        controller.abort();
        try {
          const r = await h.poll({ signal: controller.signal });
          expectNone('result of an aborted poll', pollContractProblems(r, 100));
        } catch (err) {
          const { error } = classifyError(err);
          if (error.detail?.ignoredAbort === true) fail(error.message);
          if (error.code !== ErrorCodes.ABORTED && error.code !== ErrorCodes.TIMEOUT) {
            fail(`an aborted poll must reject with ABORTED or TIMEOUT (or let the AbortError through), got ${error.code}: ${error.message}`);
          }
        }
      } finally {
        await h.dispose();
      }
    });
  }

  // ---- enricher behaviour -----------------------------------------------------------------
  if (kind === 'enricher') {
    add('enricher', 'supports a non-empty list of known indicator types; limits are positive', async () => {
      definitionOk();
      const h = await host(resolvedConfig);
      try {
        const inst = h.instance as { supports?: unknown; limits?: Record<string, unknown> };
        const problems: string[] = [];
        if (!Array.isArray(inst.supports) || inst.supports.length === 0) problems.push('supports: must be a non-empty array of indicator types');
        else {
          for (const t of inst.supports) if (!INDICATOR_TYPES.includes(t as IndicatorType)) problems.push(`supports: unknown indicator type ${JSON.stringify(t)} (known: ${INDICATOR_TYPES.join(', ')})`);
          if (new Set(inst.supports).size !== inst.supports.length) problems.push('supports: lists a type twice');
        }
        for (const [k, v] of Object.entries(inst.limits ?? {})) {
          if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) problems.push(`limits.${k}: must be a positive number, got ${JSON.stringify(v)}`);
        }
        const key1 = (h.instance as { cacheKey?: () => unknown }).cacheKey?.();
        const key2 = (h.instance as { cacheKey?: () => unknown }).cacheKey?.();
        if (key1 !== undefined && (typeof key1 !== 'string' || key1 !== key2)) problems.push('cacheKey(): must return the same string on every call');
        expectNone('enricher shape problems', problems);
      } finally {
        await h.dispose();
      }
    });
    add('enricher', 'lookup() returns exactly one valid verdict per indicator', async () => {
      definitionOk();
      const h = await host(resolvedConfig, { strict: false });
      try {
        await h.start();
        const supports = (h.instance as { supports: readonly IndicatorType[] }).supports;
        const known = (options.indicators ?? []).filter((i) => supports.includes(i.type));
        const unknown = options.unknownIndicators ?? supports.map(randomIndicator);
        const asked = [...known.map(({ type, value }) => ({ type, value })), ...unknown];
        const verdicts = await h.lookup(asked);
        const problems = lookupContractProblems(asked, verdicts);
        for (const k of known) {
          if (!k.expect) continue;
          const v = verdicts.find((x) => x?.indicator?.type === k.type && x.indicator.value === k.value);
          if (v && v.status !== k.expect) problems.push(`${k.type}:${k.value}: expected status ${k.expect}, got ${v.status}`);
        }
        problems.push(...findLeakedSecrets(secrets, { verdicts }));
        expectNone('lookup() problems', problems);
      } catch (err) {
        thrown.push(err);
        throw err;
      } finally {
        await h.dispose();
      }
    });
    add('enricher', 'an indicator the source has never seen gets status "unknown" (not an error, not "clean")', async () => {
      definitionOk();
      const h = await host(resolvedConfig, { strict: false });
      try {
        await h.start();
        const supports = (h.instance as { supports: readonly IndicatorType[] }).supports;
        const unknown = options.unknownIndicators ?? supports.map(randomIndicator);
        const verdicts = await h.lookup(unknown);
        const problems = lookupContractProblems(unknown, verdicts);
        for (const v of verdicts) if (v?.status !== 'unknown') problems.push(`${v?.indicator?.type}:${v?.indicator?.value}: expected "unknown", got ${JSON.stringify(v?.status)}`);
        expectNone('never-seen indicators', problems);
      } catch (err) {
        thrown.push(err);
        throw err;
      } finally {
        await h.dispose();
      }
    });
  }

  // ---- errors -----------------------------------------------------------------------------
  const exercise = async (config: unknown, hostOptions: TestHostOptions = {}): Promise<{ error?: unknown; requests?: number }> => {
    const h = await host(config, { strict: false, ...hostOptions });
    try {
      await h.start();
      if (kind === 'enricher') {
        const supports = (h.instance as { supports: readonly IndicatorType[] }).supports;
        const indicators = (options.indicators ?? []).filter((i) => supports.includes(i.type)).map(({ type, value }) => ({ type, value }));
        await h.lookup(indicators.length > 0 ? indicators.slice(0, 1) : [randomIndicator(supports[0] ?? 'ipv4')]);
      } else {
        await h.poll();
      }
      return {};
    } catch (err) {
      thrown.push(err);
      return { error: err };
    } finally {
      await h.dispose().catch(() => undefined);
    }
  };
  const expectCoded = (what: string, error: unknown, codes: readonly ErrorCode[]): void => {
    if (error === undefined) fail(`${what}: nothing failed — start(), ${kind === 'enricher' ? 'lookup()' : 'poll()'} all succeeded, so the problem was silently swallowed`);
    const { error: e, wasPluginError } = classifyError(error);
    if (e.detail?.ignoredAbort === true) fail(`${what}: ${e.message}`);
    const abortLike = e.code === ErrorCodes.ABORTED || e.code === ErrorCodes.TIMEOUT;
    if (!wasPluginError && !abortLike) {
      fail(`${what}: threw ${(error as Error)?.name ?? typeof error} "${(error as Error)?.message ?? String(error)}" instead of a PluginError; throw new PluginError(ErrorCodes.X, message) so supervision knows what to do`);
    }
    if (!codes.includes(e.code)) fail(`${what}: expected error code ${codes.join(' or ')}, got ${e.code}: ${e.message}`);
    const leaks = findLeakedSecrets(secrets, { 'error message': e.message, 'error detail': e.detail ?? {} });
    expectNone(`${what}: the error leaks a secret`, leaks);
  };

  if (options.configForEndpoint) {
    const forEndpoint = options.configForEndpoint;
    const codesFor = (s: EndpointScenario) => options.endpointCodes?.[s] ?? DEFAULT_ENDPOINT_CODES[s];
    for (const [key, { scenario, what }] of Object.entries(SCENARIOS) as Array<[Exclude<EndpointScenario, 'closed'>, (typeof SCENARIOS)['hang']]>) {
      const name = key === 'hang'
        ? 'honours abort and timeout: against a backend that never answers it rejects with ABORTED/TIMEOUT once its deadline passes'
        : `fails with ${codesFor(key).join(' or ')} on ${what}`;
      add('errors', name, async () => {
        definitionOk();
        const server = await startScenarioServer(scenario);
        try {
          const started = Date.now();
          const { error } = await exercise(forEndpoint(server.url), key === 'hang' ? { timeoutMs: 500, abortGraceMs: 3_000 } : {});
          if (server.requests.length === 0 && error !== undefined && classifyError(error).error.code === ErrorCodes.BAD_CONFIG) {
            fail(`the plugin refused the config from configForEndpoint(${server.url}): ${(error as Error).message}`);
          }
          if (server.requests.length === 0) fail(`the plugin never sent a request to ${server.url}: does configForEndpoint() set the backend URL?`);
          expectCoded(what, error, codesFor(key));
          const e = classifyError(error).error;
          // Vendors differ (VirusTotal sends no Retry-After and resets per minute), so any positive hint will do.
          if (key === '429' && e.code === ErrorCodes.RATE_LIMITED && !(typeof e.retryAfterMs === 'number' && e.retryAfterMs > 0)) {
            fail(`RATE_LIMITED must carry retryAfterMs (the backend said Retry-After: 7), got ${String(e.retryAfterMs)}; the host waits that long before retrying`);
          }
          if (key === 'hang' && Date.now() - started > 3_000 + 500 + 2_000) fail(`took ${Date.now() - started} ms to give up after a 500 ms deadline`);
        } finally {
          await server.close();
        }
      });
    }
    add('errors', `fails with ${codesFor('closed').join(' or ')} when nothing listens at the backend address`, async () => {
      definitionOk();
      const url = await closedPortUrl();
      const { error } = await exercise(forEndpoint(url));
      expectCoded('connection refused', error, codesFor('closed'));
    });
  }
  for (const f of options.failures ?? []) {
    add('errors', `fails with ${f.codes.join(' or ')}: ${f.name}`, async () => {
      definitionOk();
      const { error } = await exercise(await resolve(f.config));
      expectCoded(f.name, error, f.codes);
    });
  }
  add('errors', 'every error thrown during this suite was a PluginError with a code (or an abort)', async () => {
    const problems: string[] = [];
    for (const err of thrown) {
      if (err instanceof ConformanceError) continue;
      const { error, wasPluginError } = classifyError(err);
      if (!wasPluginError && error.code !== ErrorCodes.ABORTED && error.code !== ErrorCodes.TIMEOUT) {
        problems.push(`${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    expectNone('errors that were not PluginErrors (the host would report them as PLUGIN_CRASHED)', problems);
  });
  add('secrets', 'no secret appears in any log record written during this suite', async () => {
    const records = hosts.flatMap((h) => h.logger.records);
    expectNone('secrets in logs', findLeakedSecrets(secrets, { logs: records }));
  });

  return {
    name: options.name ?? (typeof plugin?.name === 'string' ? plugin.name : 'plugin'),
    checks,
    async setup() {
      const t = await options.setup?.();
      if (typeof t === 'function') teardownFn = t;
      resolvedConfig = await resolve(options.validConfig);
      const schemaOk = plugin && typeof plugin === 'object' && plugin.configSchema && typeof plugin.configSchema === 'object';
      secrets = schemaOk ? collectSecrets(plugin.configSchema, validateConfig(plugin.configSchema, resolvedConfig).value, options.secrets) : [...(options.secrets ?? [])];
    },
    async teardown() {
      await Promise.allSettled(hosts.map((h) => h.dispose()));
      await teardownFn?.();
    },
  };
}

/** An event's identity across polls: its id, else its content without ingest-time fields. */
function identity(e: SourceEvent): string {
  if (typeof e.event?.id === 'string') return `id:${e.event.id}`;
  const { event, ...rest } = e;
  const ev = event ? { ...event } : undefined;
  if (ev) {
    delete ev.ingested;
    delete ev.created;
  }
  return JSON.stringify({ ...rest, event: ev });
}

function duplicates(events: SourceEvent[]): string[] {
  const seen = new Map<string, number>();
  for (const e of events) seen.set(identity(e), (seen.get(identity(e)) ?? 0) + 1);
  return [...seen.entries()].filter(([, n]) => n > 1).slice(0, 5).map(([k, n]) => `emitted ${n} times: ${k.slice(0, 200)}`);
}

/** Numbers and ISO timestamps compare naturally; other shapes need options.compareCheckpoints. */
function defaultCompare(a: Checkpoint, b: Checkpoint): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string' && !Number.isNaN(Date.parse(a)) && !Number.isNaN(Date.parse(b))) return Date.parse(a) - Date.parse(b);
  if (isDeepStrictEqual(a, b)) return 0;
  return undefined;
}

/** A syntactically valid indicator no backend has seen (random, from documentation ranges). */
export function randomIndicator(type: IndicatorType): Indicator {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  const n = randomBytes(2);
  switch (type) {
    case 'ipv4':
      // 198.18.0.0/15 (benchmarking): fakes seed TEST-NET addresses, never these.
      return { type, value: `198.19.${n[0]!}.${(n[1]! % 250) + 1}` };
    case 'ipv6':
      return { type, value: `2001:db8:ffff:${hex(2)}::${hex(2)}` };
    case 'domain':
      return { type, value: `never-seen-${hex(6)}.example` };
    case 'url':
      return { type, value: `http://never-seen-${hex(6)}.example/${hex(4)}` };
    case 'md5':
      return { type, value: hex(16) };
    case 'sha1':
      return { type, value: hex(20) };
    case 'sha256':
      return { type, value: hex(32) };
    default:
      return { type, value: hex(8) };
  }
}
