// Over 400 lines: createEnrichmentStage is one closure over the stage's state (sources, budgets,
// the verdict cache, tallies, each event's deadline); what has its own job lives in its own module.
import path from 'node:path';
import { FabricError } from '../errors/fabric-error.js';
import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import type { PipelineStage } from '../pipeline/stage.js';
import type { EnricherInstance, FabricEvent, Indicator as FabricIndicator, Priority } from '../plugin-api/index.js';
import { validateAgainstSchema } from '../config/validate.js';
import type { IndicatorAnswers, IndicatorSummary, SourceAnswer } from './aggregate.js';
import { combine, summarizeIndicator } from './aggregate.js';
import { readBudgets, type BudgetState } from './budget.js';
import { enrichmentForField, freezeDeep } from './frozen.js';
import { stableStringify } from './stable-stringify.js';
import { Tally } from '../metrics/tally.js';
import { VerdictCache } from './cache.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { EnrichmentConfig } from './config.js';
import { EnrichmentConfigSchema } from './config.js';
import type { PriorityDecision, SkippedIndicator } from './ecs.js';
import { decidePriority, PRIORITY_SEVERITY, threatEnrichments } from './ecs.js';
import { extractIndicators } from './extract.js';
import { FalsePositiveStore } from './false-positives.js';
import { shareEnrichmentState, sharedBudget, type SharedEnrichmentState } from './shared.js';
import { isNonPublic } from './indicator.js';
import { writeJsonFile } from './json-file.js';
import { enrichmentMetrics, type EnrichmentMetrics } from './metrics.js';
import type { LookupOutcome, SourceHealth } from './source.js';
import { EnricherSource } from './source.js';
import { Warninglists, type WarninglistMatch } from './warninglists.js';

export interface EnricherBinding {
  id: string;
  plugin: string;
  instance: EnricherInstance;
  /** The enricher's validated config (requests_per_minute, requests_per_day, cache_ttl_minutes are read). */
  config: Record<string, unknown>;
}

export interface EnrichmentContext {
  logger: Logger;
  metrics: Registry;
  /** Absolute state_dir; the cache, budgets and false-positive list live under it. */
  stateDir: string;
  /** Folder of the config file; relative warninglist paths resolve against it. */
  configDir: string;
  onSourceHealth?(enricherId: string, health: SourceHealth): void;
  /** For tests: a controllable clock. Defaults to the system clock. */
  clock?: Clock;
  /** Cluster mode: the verdict cache, false positives and budgets are the cluster's (shared.ts). */
  shared?: SharedEnrichmentState;
}

export type EnrichmentStage = PipelineStage & {
  falsePositives: FalsePositiveStore;
  readiness(): { ok: boolean; detail?: string };
  /** Sources by enricher id (read-only use: limits, queue depth, health). */
  readonly sources: ReadonlyMap<string, EnricherSource>;
  stop(): Promise<void>;
};

export class EnrichmentConfigError extends FabricError {
  constructor(message: string) {
    super('ENRICHMENT_CONFIG_INVALID', message);
  }
}

export const BUDGETS_FILE = path.join('enrichment', 'budgets.json');
const BUDGET_FLUSH_MS = 5000;
const CACHE_SAVE_INTERVAL_MS = 30_000;
/** An event with thousands of addresses must not grow by thousands of skip records. */
const MAX_SKIPPED_LISTED = 100;
const DEFAULT_REQUESTS_PER_MINUTE = 60;

/** Apply defaults and check an `enrichment:` section; throws with every bad field named. */
export function resolveEnrichmentConfig(candidate: unknown): EnrichmentConfig {
  const { value, errors } = validateAgainstSchema(EnrichmentConfigSchema, candidate ?? {});
  if (errors.length > 0) {
    throw new EnrichmentConfigError(
      `invalid enrichment config: ${errors.map((e) => `enrichment${e.path.replaceAll('/', '.')}: ${e.message}${e.value !== undefined ? ` (got ${JSON.stringify(e.value)})` : ''}`).join('; ')}`,
    );
  }
  const c = value as EnrichmentConfig;
  if (c.aggregation.suspicious_at > c.aggregation.malicious_at) {
    throw new EnrichmentConfigError(`enrichment.aggregation.suspicious_at (${c.aggregation.suspicious_at}) must not exceed malicious_at (${c.aggregation.malicious_at})`);
  }
  return c;
}

/**
 * The enrichment stage. Over 400 lines on purpose: it is one closure over the stage's state (the
 * sources, their budgets, the verdict cache, the tallies and each event's deadline) so that the
 * per-event path reads that state without passing it around; what has its own job (budgets,
 * copies, sources, cache, aggregation, ECS fields) lives in its own module.
 */
export async function createEnrichmentStage(configInput: EnrichmentConfig, enrichers: EnricherBinding[], ctx: EnrichmentContext): Promise<EnrichmentStage> {
  const config = resolveEnrichmentConfig(configInput);
  const clock = ctx.clock ?? systemClock;
  const logger = ctx.logger.child({ component: 'enrichment' });
  const registered = enrichmentMetrics(ctx.metrics);
  // Labelled prom-client counters hash their labels on every inc: per indicator that cost more than
  // the cache hit itself. The per-indicator ones are counted here and added once per batch.
  const tallies: Tally[] = [];
  const tallied = <L extends string>(counter: Counter<L>, label: L): Counter<L> => {
    const t = new Tally(counter as unknown as Counter<string>, label);
    tallies.push(t);
    return t as unknown as Counter<L>;
  };
  const metrics: EnrichmentMetrics = {
    ...registered,
    events: tallied(registered.events, 'verdict'),
    skipped: tallied(registered.skipped, 'reason'),
  };
  const flushTallies = () => {
    for (const src of sources.values()) src.flushCacheMetrics();
    for (const t of tallies) t.flush();
  };
  const falsePositives = await FalsePositiveStore.open(ctx.stateDir, metrics, clock);
  const warninglists = await Warninglists.load(config.warninglists, ctx.configDir);
  const cache = await VerdictCache.open(path.resolve(ctx.stateDir, config.cache.file), config.cache.max_entries, clock, logger);
  const budgetsFile = path.resolve(ctx.stateDir, BUDGETS_FILE);
  const savedBudgets = await readBudgets(budgetsFile, logger);

  const sources = new Map<string, EnricherSource>();
  const plugins = new Map<string, string>();
  let budgetsDirty = false;
  let flushTimer: unknown;
  let flushing: Promise<void> = Promise.resolve();
  // Serialised, so a timer-driven save and the final one at close never race each other.
  const flushBudgets = (): Promise<void> => {
    flushing = flushing.then(async () => {
      if (!budgetsDirty) return;
      budgetsDirty = false;
      const out: Record<string, BudgetState> = {};
      for (const [id, s] of sources) out[id] = s.budgetSnapshot();
      try {
        await writeJsonFile(budgetsFile, { version: 1, sources: out });
      } catch (err) {
        budgetsDirty = true;
        logger.warn({ file: budgetsFile, err: (err as Error).message }, 'could not save enrichment budgets');
      }
    });
    return flushing;
  };

  for (const e of enrichers) {
    if (sources.has(e.id)) throw new EnrichmentConfigError(`enrichers: id "${e.id}" is used twice; give each enricher its own id`);
    const field = (name: string) => `enrichers[${e.id}].config.${name}`;
    const limits = e.instance.limits ?? {};
    const perMinute = positiveNumber(e.config.requests_per_minute, field('requests_per_minute')) ?? limits.requestsPerMinute ?? DEFAULT_REQUESTS_PER_MINUTE;
    const perDay = positiveNumber(e.config.requests_per_day, field('requests_per_day')) ?? limits.requestsPerDay;
    const ttlMinutes = positiveNumber(e.config.cache_ttl_minutes, field('cache_ttl_minutes'), true) ?? config.cache.ttl_minutes;
    const source = new EnricherSource({
      id: e.id,
      plugin: e.plugin,
      instance: e.instance,
      instanceKey: e.instance.cacheKey?.() ?? stableStringify(e.config),
      perMinute,
      perDay,
      maxBatchSize: Math.max(1, Math.floor(limits.maxBatchSize ?? 1)),
      reserveFraction: config.daily_budget_reserve,
      ttlMs: ttlMinutes * 60_000,
      // An enricher that caches nothing caches no "unknown" either.
      negativeTtlMs: Math.min(config.cache.negative_ttl_minutes, ttlMinutes) * 60_000,
      requestTimeoutMs: config.request_timeout_ms,
      maxConcurrent: config.max_concurrent_requests_per_source,
      maxQueue: config.max_queue_per_source,
      maxAttempts: config.max_attempts,
      cache,
      clock,
      logger,
      metrics,
      ...(savedBudgets[e.id] ? { budgetState: savedBudgets[e.id] } : {}),
      ...(ctx.shared ? { budgetShare: sharedBudget(ctx.shared, e.id) } : {}),
      onHealth: (h) => ctx.onSourceHealth?.(e.id, h),
      onBudgetChange: () => {
        budgetsDirty = true;
        // Spent budget must survive a crash, but not cost a disk write per request.
        flushTimer ??= clock.setTimer(() => {
          flushTimer = undefined;
          void flushBudgets();
        }, BUDGET_FLUSH_MS);
      },
    });
    sources.set(e.id, source);
    plugins.set(e.id, e.plugin);
  }
  if (ctx.shared)
    shareEnrichmentState(ctx.shared, {
      cache,
      falsePositives,
      answered: (key) => {
        for (const s of sources.values()) if (key.startsWith(s.cachePrefix)) s.answeredElsewhere(key);
      },
      warn: (msg) => logger.warn({ err: msg }, 'a false-positive change from another instance could not be applied'),
    });
  logger.info(
    {
      enrichers: [...sources.values()].map((s) => ({ id: s.id, ...s.limits })),
      warninglists: warninglists.size,
      cached: cache.size,
      falsePositives: falsePositives.snapshot().length,
    },
    'enrichment stage ready',
  );

  const sourceList = [...sources.values()];
  const weights = sourceList.map((src) => config.aggregation.weights[src.id] ?? config.aggregation.weights[src.plugin] ?? 1);
  type Slot = { source: string; weight: number; src: EnricherSource; outcome?: LookupOutcome };
  type Pending = { indicator: FabricIndicator; fields: string[]; key: string; slots: Slot[] };
  const aggregation = { defaultConfidence: config.aggregation.default_confidence, maliciousAt: config.aggregation.malicious_at, suspiciousAt: config.aggregation.suspicious_at };

  /**
   * Reused work for indicators whose every source answered from the cache: the summary and the
   * threat.enrichments entries depend only on the indicator and those verdicts (by identity: a
   * new answer is a new object), so a cached event does not rebuild the same text every time.
   * The entries are frozen and shared. Bounded; cleared when full.
   */
  const MEMO_MAX = 20_000;
  const summaries = new Map<string, { answers: SourceAnswer[]; summary: IndicatorSummary; enrichments: Record<string, unknown>[] }>();
  /**
   * What does not change for an indicator, by its key: whether it is public, its warninglist match
   * (lists load once), its verdict-cache key per source (in sourceList order). One read per
   * indicator instead of one per question: these reads were a fifth of a cached enrichment.
   */
  type IndicatorFacts = { nonPublic: boolean; listed: WarninglistMatch | null; cacheKeys: string[] };
  const facts = new Map<string, IndicatorFacts>();
  const factsOf = (ind: FabricIndicator, key: string): IndicatorFacts =>
    facts.get(key) ??
    bounded(facts, key, {
      nonPublic: isNonPublic(ind, !config.lookup_documentation_ranges),
      listed: warninglists.match(ind) ?? null,
      cacheKeys: sourceList.map((src) => src.cacheKeyOf(ind, key)),
    });
  const decisions = new Map<string, PriorityDecision>();
  const bounded = <V>(m: Map<string, V>, k: string, v: V): V => {
    if (m.size >= MEMO_MAX) m.clear();
    m.set(k, v);
    return v;
  };
  const sameAnswers = (a: SourceAnswer[], b: SourceAnswer[]) =>
    a.length === b.length && a.every((x, i) => x.source === b[i]!.source && x.weight === b[i]!.weight && x.verdict === b[i]!.verdict);

  /** Everything up to the lookups: skips, cache hits, requests queued. Synchronous. */
  const prepare = (event: FabricEvent) => {
    const extracted = extractIndicators(event);
    if (extracted.length === 0) return undefined;
    const skipped: SkippedIndicator[] = [];
    const pending: Pending[] = [];
    let requested: Array<{ src: EnricherSource; ind: FabricIndicator; wait: Promise<void> }> | undefined;
    const priority: Priority = event.fabric?.priority ?? 'medium';
    const now = clock.now();
    for (const x of extracted) {
      const ind = x.indicator;
      const known = factsOf(ind, x.key);
      if (config.skip_private_addresses && known.nonPublic) {
        skipped.push({ indicator: ind, reason: 'non_public' });
        continue;
      }
      if (falsePositives.getByKey(x.key)) {
        falsePositives.recordHit();
        skipped.push({ indicator: ind, reason: 'false_positive' });
        continue;
      }
      const wl = known.listed;
      if (wl) {
        skipped.push({ indicator: ind, reason: 'warninglist', list: wl.list });
        continue;
      }
      if (pending.length >= config.max_indicators_per_event) {
        skipped.push({ indicator: ind, reason: 'over_limit' });
        continue;
      }
      const slots: Slot[] = [];
      for (let i = 0; i < sourceList.length; i++) {
        const src = sourceList[i]!;
        if (!src.supports(ind.type)) continue;
        const weight = weights[i]!;
        if (weight === 0) continue;
        const slot: Slot = { source: src.id, weight, src };
        const hit = src.cachedAt(known.cacheKeys[i]!, now);
        if (hit) slot.outcome = { kind: 'answer', verdict: hit, cached: true };
        else
          (requested ??= []).push({
            src,
            ind,
            wait: src.request(ind, priority).then((o) => {
              slot.outcome = o;
            }),
          });
        slots.push(slot);
      }
      pending.push({ indicator: ind, fields: x.fields, key: x.key, slots });
    }
    for (const s of skipped) metrics.skipped.inc({ reason: s.reason });
    return { skipped, pending, requested };
  };

  const waitAndFinish = async (event: FabricEvent, plan: NonNullable<ReturnType<typeof prepare>>, deadline: Promise<void>, deadlineAt: number): Promise<void> => {
    // Asked after every request was queued, so each source's queue already holds this event's work.
    const waits = (plan.requested ?? []).filter((r) => r.src.canAnswerWithin(r.ind, deadlineAt - clock.now())).map((r) => r.wait);
    if (waits.length > 0) await Promise.race([Promise.all(waits), deadline]);
    else await Promise.resolve();
    finish(event, plan.pending, plan.skipped);
  };

  /** Aggregate the answers (or their absence) into the event. Synchronous. */
  /**
   * Whole outcomes of events answered entirely from the cache, by what decides them (priority,
   * indicators and the field each was first found in, skips), checked against the verdict objects:
   * an event like one already enriched is given that result itself (frozen, so shared safely).
   */
  type Outcome = { sig: unknown[]; raise: Priority | undefined; verdict: string; reputation: Record<string, unknown>; enrichments: Record<string, unknown>[] };
  /** By the first indicator's key (a string the extraction reuses, so its hash is computed once). */
  const outcomes = new Map<string, Outcome[]>();
  let outcomeCount = 0;
  /** What decides an event's outcome (undefined when a source has not answered): built only to store one. */
  const signature = (event: FabricEvent, pending: Pending[], skipped: SkippedIndicator[]): unknown[] | undefined => {
    const sig: unknown[] = [event.fabric?.priority, pending.length];
    for (const p of pending) {
      sig.push(p.key, p.fields[0]);
      for (const slot of p.slots) {
        if (slot.outcome?.kind !== 'answer') return undefined;
        sig.push(slot.source, slot.outcome.verdict);
      }
    }
    for (const x of skipped) sig.push(x.indicator.type, x.indicator.value, x.reason, x.list);
    return sig;
  };
  /** signature(event, …) equals sig, compared element by element without building it (this runs per event). */
  const matches = (sig: unknown[], event: FabricEvent, pending: Pending[], skipped: SkippedIndicator[]): boolean => {
    if (sig[0] !== event.fabric?.priority || sig[1] !== pending.length) return false;
    let i = 2;
    for (const p of pending) {
      if (sig[i++] !== p.key || sig[i++] !== p.fields[0]) return false;
      for (const slot of p.slots) {
        if (slot.outcome?.kind !== 'answer' || sig[i++] !== slot.source || sig[i++] !== slot.outcome.verdict) return false;
      }
    }
    for (const x of skipped) {
      if (sig[i++] !== x.indicator.type || sig[i++] !== x.indicator.value || sig[i++] !== x.reason || sig[i++] !== x.list) return false;
    }
    return i === sig.length;
  };
  const outcomeKey = (pending: Pending[], skipped: SkippedIndicator[]) => pending[0]?.key ?? skipped[0]?.indicator.value ?? '';

  const finish = (event: FabricEvent, pending: Pending[], skipped: SkippedIndicator[]): void => {
    let known: Outcome | undefined;
    const candidates = outcomes.get(outcomeKey(pending, skipped));
    if (candidates)
      for (const o of candidates)
        if (matches(o.sig, event, pending, skipped)) {
          known = o;
          break;
        }
    if (known) {
      if (known.raise) {
        event.fabric.priority = known.raise;
        const sev = PRIORITY_SEVERITY[known.raise];
        if (sev !== undefined) event.event.severity = sev;
      }
      // Shared with every event decided alike: frozen (frozen.ts).
      const threat = (event.threat && typeof event.threat === 'object' ? event.threat : (event.threat = {})) as Record<string, unknown>;
      threat.enrichments = Array.isArray(threat.enrichments) ? Object.freeze([...threat.enrichments, ...known.enrichments]) : known.enrichments;
      event.fabric.reputation = known.reputation;
      metrics.events.inc({ verdict: known.verdict });
      return;
    }
    // Taken before this event is changed (its priority may be raised below).
    const sig = signature(event, pending, skipped);
    const results: IndicatorAnswers[] = new Array(pending.length);
    const sums: IndicatorSummary[] = new Array(pending.length);
    const enrichments: Record<string, unknown>[] = [];
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      let allCached = true;
      const answers = p.slots.map(({ source, weight, src, outcome }): SourceAnswer => {
        if (outcome?.kind === 'answer') return { source, weight, verdict: outcome.verdict };
        allCached = false;
        // Error messages stay in the logs and health reports: the event carries the stable code.
        if (outcome?.kind === 'failed') return { source, weight, unanswered: { reason: outcome.code } };
        const where = src.describePending(p.indicator);
        metrics.unanswered.inc({ enricher: src.id, reason: 'DEADLINE' });
        const detail = where?.state === 'queued' ? `queued${where.blocked ? `: ${where.blocked}` : ''}` : 'in flight';
        return { source, weight, unanswered: { reason: 'DEADLINE', detail } };
      });
      const ia: IndicatorAnswers = { indicator: p.indicator, fields: p.fields, answers };
      results[i] = ia;
      const known = allCached ? summaries.get(p.key) : undefined;
      if (known && sameAnswers(known.answers, answers)) {
        sums[i] = known.summary;
        for (const e of known.enrichments) enrichments.push(enrichmentForField(e, p.fields[0]));
        continue;
      }
      sums[i] = summarizeIndicator(ia, aggregation);
      const own = freezeDeep(threatEnrichments([ia], plugins));
      for (const e of own) enrichments.push(e);
      if (allCached) bounded(summaries, p.key, { answers, summary: sums[i]!, enrichments: own });
    }
    const rep = combine(results, sums);
    const dkey = `${event.fabric?.priority}|${rep.score}`;
    const decision = decisions.get(dkey) ?? bounded(decisions, dkey, decidePriority(event.fabric?.priority, rep, config.severity, config.min_reputation_score));
    if (decision.to !== decision.from && decision.to) {
      event.fabric.priority = decision.to;
      const sev = PRIORITY_SEVERITY[decision.to];
      if (sev !== undefined) event.event.severity = sev;
    }
    const threat = (event.threat && typeof event.threat === 'object' ? event.threat : (event.threat = {})) as Record<string, unknown>;
    Object.freeze(enrichments);
    threat.enrichments = Array.isArray(threat.enrichments) ? Object.freeze([...threat.enrichments, ...enrichments]) : enrichments;
    const skippedText = skipped.slice(0, 10).map((s) => `${s.indicator.value} (${s.reason}${s.list ? `: ${s.list}` : ''})`);
    if (skipped.length > 10) skippedText.push(`and ${skipped.length - 10} more`);
    // Built property by property (same key order as always): object literals with conditional
    // spreads were the most expensive lines of a cached enrichment.
    const reputation: Record<string, unknown> = {};
    if (rep.score !== undefined) reputation.score = rep.score;
    reputation.confidence = rep.confidence;
    reputation.verdict = rep.verdict;
    reputation.sources_answered = rep.sourcesAnswered;
    reputation.sources_unanswered = rep.sourcesUnanswered;
    const indicators = new Array<Record<string, unknown>>(rep.indicators.length);
    for (let i = 0; i < rep.indicators.length; i++) {
      const r = rep.indicators[i]!;
      const o: Record<string, unknown> = { type: r.indicator.type, value: r.indicator.value, verdict: r.verdict };
      if (r.score !== undefined) o.score = r.score;
      o.confidence = r.confidence;
      indicators[i] = o;
    }
    reputation.indicators = indicators;
    const listed = Math.min(skipped.length, MAX_SKIPPED_LISTED);
    const skippedOut = new Array<Record<string, unknown>>(listed);
    for (let i = 0; i < listed; i++) {
      const x = skipped[i]!;
      const o: Record<string, unknown> = { type: x.indicator.type, value: x.indicator.value, reason: x.reason };
      if (x.list) o.list = x.list;
      skippedOut[i] = o;
    }
    reputation.skipped = skippedOut;
    if (skipped.length > MAX_SKIPPED_LISTED) reputation.skipped_total = skipped.length;
    reputation.priority = { from: decision.from ?? null, to: decision.to ?? null, reason: decision.reason };
    reputation.explanation = `${rep.explanation}${skippedText.length ? `. Not looked up: ${skippedText.join(', ')}` : ''}. ${decision.reason}.`;
    event.fabric.reputation = freezeDeep(reputation);
    if (sig) {
      if (outcomeCount >= MEMO_MAX) {
        outcomes.clear();
        outcomeCount = 0;
      }
      const k = outcomeKey(pending, skipped);
      const list = outcomes.get(k) ?? [];
      // A few variants per first indicator (priorities, companions); more is not a pattern worth keeping.
      if (list.length < 8) {
        list.push({
          sig,
          raise: decision.to !== decision.from && decision.to ? decision.to : undefined,
          verdict: rep.verdict,
          reputation,
          enrichments,
        });
        outcomes.set(k, list);
        outcomeCount++;
      }
    }
    metrics.events.inc({ verdict: rep.verdict });
  };

  let closed = false;
  let lastCacheSave = clock.now();
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (flushTimer !== undefined) clock.clearTimer(flushTimer);
    flushTimer = undefined;
    for (const s of sources.values()) await s.close();
    flushTallies();
    budgetsDirty = true;
    await flushBudgets();
    await cache.save().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not save the verdict cache'));
  };

  return {
    name: 'enrichment',
    falsePositives,
    sources,
    async process(batch: FabricEvent[]): Promise<FabricEvent[]> {
      if (!config.enabled || sources.size === 0 || closed) return batch;
      // Alerts: ours (detections, correlations) and those a source sent (`signal`: Elastic's engine).
      const targets = batch.filter((e) => e.event?.kind === 'alert' || e.event?.kind === 'signal');
      if (targets.length === 0) return batch;
      // In the background: a mark the CLI wrote to the file applies from the next batch on,
      // and no batch ever waits on disk for it.
      void falsePositives.refreshIfChanged().catch(() => undefined);
      // The events of a batch start together, so one timer is every event's deadline.
      let timer: unknown;
      const deadlineAt = clock.now() + config.deadline_ms;
      const deadline = new Promise<void>((resolve) => {
        timer = clock.setTimer(resolve, config.deadline_ms);
      });
      // An event whose enrichment throws (a bug, or an input nobody foresaw) goes on without
      // reputation; the others are enriched, and no event's wait is left without a listener.
      const failures: { count: number; first?: { event: unknown; err: string } } = { count: 0 };
      const failed = (e: FabricEvent, err: unknown) => {
        failures.count++;
        failures.first ??= { event: e.event?.id, err: err instanceof Error ? err.message : String(err) };
      };
      try {
        const waiting: Array<Promise<void>> = [];
        for (const e of targets) {
          try {
            const plan = prepare(e);
            if (!plan) continue;
            // Every indicator answered from the cache (or skipped): nothing to wait for, finish now.
            if (!plan.requested) finish(e, plan.pending, plan.skipped);
            else waiting.push(waitAndFinish(e, plan, deadline, deadlineAt).catch((err: unknown) => failed(e, err)));
          } catch (err) {
            failed(e, err);
          }
        }
        if (waiting.length > 0) await Promise.all(waiting);
      } finally {
        clock.clearTimer(timer);
        flushTallies();
      }
      if (failures.count > 0) {
        metrics.failed.inc(failures.count);
        logger.error(
          { events: failures.count, first_event_id: failures.first?.event, err: failures.first?.err },
          'enrichment failed for some events: they are published without reputation',
        );
      }
      return batch;
    },
    async acknowledge(): Promise<void> {
      await flushBudgets();
      // The pipeline checkpoints after every acknowledged batch; rewriting a large cache that
      // often would cost more than losing a few seconds of answers in a crash.
      if (clock.now() - lastCacheSave < CACHE_SAVE_INTERVAL_MS) return;
      lastCacheSave = clock.now();
      await cache.save().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not save the verdict cache'));
    },
    stop: close,
    readiness() {
      // Enrichment never holds events back, so it is always ready; the detail says what is degraded.
      const degraded = [...sources.values()].filter((s) => s.currentHealth().status !== 'healthy').map((s) => `${s.id} ${s.currentHealth().code ?? 'degraded'}`);
      return { ok: true, detail: `${sources.size} enricher(s)${degraded.length ? `; degraded: ${degraded.join(', ')}` : ''}` };
    },
  };
}

function positiveNumber(v: unknown, field: string, zeroAllowed = false): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (v === 0 && !zeroAllowed)) {
    throw new EnrichmentConfigError(`${field}: expected a ${zeroAllowed ? 'non-negative' : 'positive'} number, got ${JSON.stringify(v)}`);
  }
  return v;
}
