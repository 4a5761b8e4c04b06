import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { checkpointSchemaErrors, ErrorCodes, PluginError, toPluginError } from '@reactive-fabric/core';
import type {
  Checkpoint,
  CollectorDescription,
  EnricherInstance,
  HealthReport,
  Indicator,
  PluginDefinition,
  PollResult,
  SourceEvent,
  SourceInstance,
  TSchema,
  Verdict,
} from '@reactive-fabric/core';
import { validateConfig } from './checks/config.js';
import { validateEcsEvent } from './checks/ecs.js';
import { RecordingLogger } from './logger.js';

export interface TestHostOptions {
  collectorId?: string;
  /** Folder handed to the plugin as stateDir; a fresh temp folder by default (removed by dispose()). */
  stateDir?: string;
  /** Deadline of each poll/lookup, like the host's poll_timeout_seconds. Default 10 s. */
  timeoutMs?: number;
  /** Extra time a plugin gets to settle after its signal fired before the test host gives up. Default 2 s. */
  abortGraceMs?: number;
  /** Default maxEvents per poll. Default 100. */
  maxEvents?: number;
  /** Check every poll result (ECS events, JSON checkpoint) and lookup result like the real host. Default true. */
  strict?: boolean;
  /** Start from this checkpoint instead of nothing. */
  checkpoint?: Checkpoint;
  /** Print the plugin's log records to stderr as they happen. */
  echoLogs?: boolean;
}

export interface TestPollOptions {
  maxEvents?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * A tiny in-process host: validates the config (defaults applied, errors with field paths),
 * creates the instance, starts it, polls carrying JSON round-tripped checkpoints the way the
 * real host persists them, looks up indicators, stops. Not supervised: errors reach the test.
 */
export class TestHost<K extends 'source' | 'enricher' = 'source' | 'enricher'> {
  readonly logger: RecordingLogger;
  /** The committed checkpoint (what the next poll starts from). */
  checkpoint: Checkpoint | undefined;
  /** Every event returned by poll(), in order. */
  readonly events: SourceEvent[] = [];
  readonly polls: PollResult[] = [];
  private started = false;
  private readonly hostAbort = new AbortController();

  private constructor(
    readonly plugin: PluginDefinition<TSchema, K>,
    /** The validated config with defaults applied. */
    readonly config: unknown,
    readonly instance: K extends 'source' ? SourceInstance : EnricherInstance,
    readonly stateDir: string,
    private readonly ownsStateDir: boolean,
    private readonly options: Required<Pick<TestHostOptions, 'timeoutMs' | 'abortGraceMs' | 'maxEvents' | 'strict'>>,
    logger: RecordingLogger,
    checkpoint: Checkpoint | undefined,
  ) {
    this.logger = logger;
    this.checkpoint = checkpoint;
  }

  static async create<K extends 'source' | 'enricher'>(plugin: PluginDefinition<TSchema, K>, config: unknown, options: TestHostOptions = {}): Promise<TestHost<K>> {
    const { value, errors } = validateConfig(plugin.configSchema, config);
    if (errors.length > 0) {
      throw new PluginError(ErrorCodes.BAD_CONFIG, `config for plugin ${plugin.name} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, {
        detail: { errors },
      });
    }
    const ownsStateDir = options.stateDir === undefined;
    const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'rf-test-host-')));
    const logger = new RecordingLogger(options.echoLogs ?? false);
    const abort = new AbortController();
    const instance = await plugin.create(value as never, {
      collectorId: options.collectorId ?? 'test-collector',
      logger,
      stateDir,
      signal: abort.signal,
    });
    const host = new TestHost<K>(
      plugin,
      value,
      instance as K extends 'source' ? SourceInstance : EnricherInstance,
      stateDir,
      ownsStateDir,
      {
        timeoutMs: options.timeoutMs ?? 10_000,
        abortGraceMs: options.abortGraceMs ?? 2_000,
        maxEvents: options.maxEvents ?? 100,
        strict: options.strict ?? true,
      },
      logger,
      options.checkpoint,
    );
    // Share the host-wide signal with the instance's context so dispose() aborts it.
    host.hostAbort.signal.addEventListener('abort', () => abort.abort(), { once: true });
    return host;
  }

  /** start(), bounded by the host deadline: a startup probe that hangs must fail, not block. */
  async start(): Promise<void> {
    const start = this.instance.start;
    if (start) await this.withDeadline('start', this.options.timeoutMs, undefined, () => start.call(this.instance));
    this.started = true;
  }

  async stop(): Promise<void> {
    await this.instance.stop?.();
    this.started = false;
  }

  get isStarted(): boolean {
    return this.started;
  }

  describe(): CollectorDescription | undefined {
    return this.instance.describe?.();
  }

  async healthCheck(timeoutMs = this.options.timeoutMs): Promise<HealthReport | undefined> {
    const check = this.instance.healthCheck;
    if (!check) return undefined;
    return this.withDeadline('healthCheck', timeoutMs, undefined, (signal) => check.call(this.instance, signal));
  }

  /**
   * One poll from the committed checkpoint. The returned checkpoint is JSON round-tripped (as
   * the host persists it) and committed, so the next poll continues after these events.
   */
  async poll(options: TestPollOptions = {}): Promise<PollResult> {
    const poll = (this.instance as { poll?: SourceInstance['poll'] }).poll;
    if (typeof poll !== 'function') throw new Error(`plugin ${this.plugin.name} has no poll(): it is an enricher without a feed`);
    const maxEvents = options.maxEvents ?? this.options.maxEvents;
    const from = this.checkpoint;
    const result = await this.withDeadline('poll', options.timeoutMs ?? this.options.timeoutMs, options.signal, (signal) =>
      poll.call(this.instance, { checkpoint: from === undefined ? undefined : structuredClone(from), signal, maxEvents }),
    );
    if (this.options.strict) assertPollContract(this.plugin.name, result, maxEvents);
    const committed = JSON.parse(JSON.stringify(result.checkpoint ?? null)) as Checkpoint;
    if (this.options.strict) {
      // The host refuses a stored checkpoint its own plugin's schema rejects: catch that here, not after an upgrade.
      const bad = checkpointSchemaErrors(this.plugin.checkpointSchema, committed);
      if (bad.length > 0)
        throw new PluginError(
          ErrorCodes.CONTRACT_VIOLATION,
          `${this.plugin.name}: poll() returned a checkpoint its checkpointSchema rejects: ${bad.map((b) => `${b.path}: ${b.message}`).join('; ')}`,
        );
    }
    this.checkpoint = committed;
    this.events.push(...result.events);
    this.polls.push(result);
    return result;
  }

  /** Poll until a poll returns no events and no hasMore (or `maxPolls`), returning all events. */
  async pollUntilIdle(options: TestPollOptions & { maxPolls?: number } = {}): Promise<SourceEvent[]> {
    const out: SourceEvent[] = [];
    const maxPolls = options.maxPolls ?? 20;
    for (let i = 0; i < maxPolls; i++) {
      const r = await this.poll(options);
      out.push(...r.events);
      if (r.events.length === 0 && !r.hasMore) break;
    }
    return out;
  }

  /** Look up indicators, split into batches of the plugin's maxBatchSize like the host does. */
  async lookup(indicators: Indicator[], options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Verdict[]> {
    const instance = this.instance as EnricherInstance;
    if (typeof instance.lookup !== 'function') throw new Error(`plugin ${this.plugin.name} is not an enricher (no lookup())`);
    const batch = Math.max(1, instance.limits?.maxBatchSize ?? indicators.length);
    const verdicts: Verdict[] = [];
    for (let i = 0; i < indicators.length; i += batch) {
      const chunk = indicators.slice(i, i + batch);
      const result = await this.withDeadline('lookup', options.timeoutMs ?? this.options.timeoutMs, options.signal, (signal) =>
        instance.lookup(
          chunk.map((x) => ({ ...x })),
          { signal },
        ),
      );
      if (this.options.strict) assertLookupContract(this.plugin.name, chunk, result);
      verdicts.push(...result);
    }
    return verdicts;
  }

  /** Stop (if started), abort the host-wide signal and remove the temp state folder. */
  async dispose(): Promise<void> {
    try {
      if (this.started) await this.stop();
    } finally {
      this.hostAbort.abort();
      if (this.ownsStateDir) await rm(this.stateDir, { recursive: true, force: true });
    }
  }

  /**
   * Run `op` with a signal that fires at the deadline (or when `outer` aborts). If the plugin
   * ignores the signal, give up after the grace period with TIMEOUT, as the host would.
   */
  private async withDeadline<T>(what: string, timeoutMs: number, outer: AbortSignal | undefined, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = outer ? AbortSignal.any([deadline, outer, this.hostAbort.signal]) : AbortSignal.any([deadline, this.hostAbort.signal]);
    let timer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<never>((_, reject) => {
      const arm = () => {
        timer = setTimeout(() => {
          reject(
            new PluginError(
              ErrorCodes.TIMEOUT,
              `${this.plugin.name}: ${what}() did not settle within ${this.options.abortGraceMs} ms after its signal was aborted (pass request.signal to fetch/streams)`,
              { detail: { ignoredAbort: true } },
            ),
          );
        }, this.options.abortGraceMs);
      };
      if (signal.aborted) arm();
      else signal.addEventListener('abort', arm, { once: true });
    });
    try {
      const work = op(signal);
      // If the deadline wins, the plugin's late rejection must not surface as an unhandled rejection.
      work.catch(() => undefined);
      abandoned.catch(() => undefined);
      return await Promise.race([work, abandoned]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}

/** Build a started-or-not test host for `plugin` with `config` (validated, defaults applied). */
export function createTestHost<K extends 'source' | 'enricher'>(plugin: PluginDefinition<TSchema, K>, config: unknown, options?: TestHostOptions): Promise<TestHost<K>> {
  return TestHost.create(plugin, config, options);
}

/** Throws CONTRACT_VIOLATION (as the host does) when a poll result breaks the plugin contract. */
export function assertPollContract(pluginName: string, result: unknown, maxEvents: number): asserts result is PollResult {
  const problems = pollContractProblems(result, maxEvents);
  if (problems.length > 0) {
    throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `${pluginName}: poll() broke the contract: ${problems.slice(0, 10).join('; ')}`, { detail: { problems } });
  }
}

export function pollContractProblems(result: unknown, maxEvents: number): string[] {
  if (result === null || typeof result !== 'object') return [`poll() must resolve to { events, checkpoint }, got ${result === null ? 'null' : typeof result}`];
  const r = result as Partial<PollResult>;
  const problems: string[] = [];
  if (!Array.isArray(r.events)) problems.push('events: must be an array');
  else {
    if (r.events.length > maxEvents) problems.push(`events: returned ${r.events.length} events but maxEvents was ${maxEvents}`);
    r.events.forEach((e, i) => problems.push(...validateEcsEvent(e).map((p) => `events[${i}].${p}`)));
  }
  if (!('checkpoint' in r)) problems.push('checkpoint: missing (return the position after these events; the same checkpoint when nothing new)');
  else problems.push(...checkpointProblems(r.checkpoint));
  if (r.hasMore !== undefined && typeof r.hasMore !== 'boolean') problems.push('hasMore: must be a boolean when present');
  return problems;
}

/** A checkpoint must survive JSON (it is persisted to disk and shown by the admin API) unchanged. */
export function checkpointProblems(checkpoint: unknown): string[] {
  if (checkpoint === undefined) return ['checkpoint: must be a JSON value, got undefined (use null for "no position yet")'];
  let text: string | undefined;
  try {
    text = JSON.stringify(checkpoint);
  } catch (err) {
    return [`checkpoint: not JSON-serialisable (${(err as Error).message})`];
  }
  if (text === undefined) return ['checkpoint: not JSON-serialisable'];
  if (!isDeepStrictEqual(JSON.parse(text), checkpoint)) {
    return [`checkpoint: changes when written as JSON and read back (Dates, Maps, undefined, bigint or class instances?): ${text.slice(0, 200)}`];
  }
  return [];
}

/** Throws CONTRACT_VIOLATION when a lookup result is not exactly one valid verdict per indicator. */
export function assertLookupContract(pluginName: string, indicators: readonly Indicator[], verdicts: unknown): asserts verdicts is Verdict[] {
  const problems = lookupContractProblems(indicators, verdicts);
  if (problems.length > 0) {
    throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `${pluginName}: lookup() broke the contract: ${problems.slice(0, 10).join('; ')}`, { detail: { problems } });
  }
}

const STATUSES = ['malicious', 'suspicious', 'clean', 'unknown'];

export function lookupContractProblems(indicators: readonly Indicator[], verdicts: unknown): string[] {
  if (!Array.isArray(verdicts)) return [`lookup() must resolve to an array of verdicts, got ${verdicts === null ? 'null' : typeof verdicts}`];
  const problems: string[] = [];
  if (verdicts.length !== indicators.length)
    problems.push(`returned ${verdicts.length} verdicts for ${indicators.length} indicators (one verdict per indicator, "unknown" for never-seen ones)`);
  const key = (i: Indicator) => `${i.type}:${i.value}`;
  const wanted = new Set(indicators.map(key));
  const seen = new Map<string, number>();
  verdicts.forEach((v: Partial<Verdict>, i) => {
    const at = `verdicts[${i}]`;
    if (!v || typeof v !== 'object') {
      problems.push(`${at}: must be an object`);
      return;
    }
    if (!v.indicator || typeof v.indicator.value !== 'string' || typeof v.indicator.type !== 'string') {
      problems.push(`${at}.indicator: must echo the { type, value } that was looked up`);
    } else {
      const k = key(v.indicator);
      if (!wanted.has(k)) problems.push(`${at}.indicator: ${k} was not asked for`);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    if (!STATUSES.includes(v.status as string)) problems.push(`${at}.status: must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(v.status)}`);
    if (v.score !== undefined && (typeof v.score !== 'number' || !(v.score >= 0 && v.score <= 1)))
      problems.push(`${at}.score: must be a number 0…1, got ${JSON.stringify(v.score)}`);
    if (v.status === 'unknown' && v.score !== undefined) problems.push(`${at}.score: must be absent when status is "unknown"`);
    if (v.confidence !== undefined && (typeof v.confidence !== 'number' || !(v.confidence >= 0 && v.confidence <= 1)))
      problems.push(`${at}.confidence: must be a number 0…1, got ${JSON.stringify(v.confidence)}`);
    if (v.reference !== undefined && (typeof v.reference !== 'string' || !/^https?:\/\//.test(v.reference)))
      problems.push(`${at}.reference: must be an http(s) URL, got ${JSON.stringify(v.reference)}`);
    if (v.evidence !== undefined) {
      if (typeof v.evidence !== 'object' || v.evidence === null || Array.isArray(v.evidence)) problems.push(`${at}.evidence: must be an object`);
      else problems.push(...checkpointProblems(v.evidence).map((p) => `${at}.evidence${p.slice('checkpoint'.length)}`));
    }
  });
  for (const [k, n] of seen) if (n > 1) problems.push(`${k}: ${n} verdicts for one indicator`);
  for (const k of wanted) if (!seen.has(k)) problems.push(`${k}: no verdict (return status "unknown" when the source has never seen it)`);
  return problems;
}

/** Normalise what a plugin threw, keeping a note of whether it was a proper PluginError. */
export function classifyError(err: unknown): { error: PluginError; wasPluginError: boolean } {
  const normalised = toPluginError(err);
  return { error: normalised, wasPluginError: normalised === err };
}
