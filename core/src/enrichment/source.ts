// One enrichment source: its request queue, coalescing, budget and retries. Over 400 lines because
// the lookup state machine (queued → sent → answered / retried / given up) is one piece; its
// budget, cache and indicator rules live in their own modules.
import type { EnricherInstance, Indicator, IndicatorType, Priority, Verdict, VerdictStatus } from '../plugin-api/index.js';
import { ErrorCodes, PluginError, toPluginError } from '../plugin-api/index.js';
import type { BudgetBlock, BudgetShare, BudgetState } from './budget.js';
import { RequestBudget } from './budget.js';
import type { VerdictCache } from './cache.js';
import { sourceNamespace, verdictCacheKey } from './cache.js';
import type { Clock } from './clock.js';
import { nextUtcMidnight } from './clock.js';
import { indicatorKey, normalizeIndicator } from './indicator.js';
import type { EnrichmentMetrics } from './metrics.js';

export type LookupOutcome = { kind: 'answer'; verdict: Verdict; cached: boolean } | { kind: 'failed'; code: string; message: string };

export interface SourceHealth {
  status: 'healthy' | 'degraded';
  code?: string;
  reason?: string;
  retryAfterMs?: number;
}

export interface SourceLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
}

export interface EnricherSourceOptions {
  id: string;
  plugin: string;
  instance: EnricherInstance;
  /** Everything that changes answers; hashed into every cache key. */
  instanceKey: string;
  perMinute: number;
  perDay: number | undefined;
  maxBatchSize: number;
  reserveFraction: number;
  ttlMs: number;
  negativeTtlMs: number;
  requestTimeoutMs: number;
  maxConcurrent: number;
  maxQueue: number;
  maxAttempts: number;
  cache: VerdictCache;
  clock: Clock;
  logger: SourceLogger;
  metrics: EnrichmentMetrics;
  budgetState?: BudgetState;
  /** Cluster mode: the budget is the cluster's, this instance spends its share. */
  budgetShare?: BudgetShare;
  onHealth?(health: SourceHealth): void;
  onBudgetChange?(): void;
}

const RANK: Record<Priority, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
const STATUSES: readonly VerdictStatus[] = ['malicious', 'suspicious', 'clean', 'unknown'];
/** After credentials are refused, lookups fail fast for this long before one probe is let through. */
const AUTH_RETRY_MS = 60_000;
const DEFAULT_RETRY_AFTER_MS = 60_000;
const MAX_BACKOFF_MS = 60_000;
/** A source answering 429 forever must not hold an indicator forever. */
const MAX_RATE_LIMITED_RETRIES = 20;
const KEY_MEMO_MAX = 50_000;

interface Pending {
  cacheKey: string;
  indicator: Indicator;
  rank: number;
  attempts: number;
  rateLimited: number;
  state: 'queued' | 'in_flight';
  waiters: Array<(o: LookupOutcome) => void>;
}

/**
 * One enricher as the stage uses it: a priority queue of indicators in front of the source,
 * drained in batches only as fast as its request budget allows. A lookup is never failed for
 * being over budget; it waits. Identical concurrent lookups share one request.
 */
export class EnricherSource {
  readonly id: string;
  readonly plugin: string;
  private readonly budget: RequestBudget;
  private readonly pending = new Map<string, Pending>();
  /** One FIFO per priority rank, critical first. */
  private readonly buckets: Pending[][] = [[], [], [], [], []];
  private queued = 0;
  private inFlight = 0;
  private wakeTimer: { handle: unknown; at: number } | undefined;
  private blocked: string | undefined;
  private consecutiveFailures = 0;
  private authFailedUntil = 0;
  private authFailure: { code: string; message: string } | undefined;
  private health: SourceHealth = { status: 'healthy' };
  private closed = false;
  private readonly closeController = new AbortController();
  private readonly namespace: string;
  private readonly cacheTally = { hits: 0, misses: 0 };
  private readonly cacheFlushed = { hits: 0, misses: 0 };
  private readonly keyMemo = new Map<string, string>();

  constructor(private readonly o: EnricherSourceOptions) {
    this.id = o.id;
    this.namespace = sourceNamespace(o.plugin, o.instanceKey);
    this.plugin = o.plugin;
    this.budget = new RequestBudget(o.perMinute, o.perDay, o.reserveFraction, o.clock, o.budgetState, o.budgetShare);
    o.metrics.budgetUsed.set({ enricher: o.id }, this.budget.usedToday);
    // With the budget itself exported, "used >= budget" is an alert rule (deploy/prometheus/alerts.yml).
    if (o.perDay !== undefined) o.metrics.budget.set({ enricher: o.id }, o.perDay);
  }

  supports(type: IndicatorType): boolean {
    // Read each time: an enricher whose create() failed at start-up learns its types when its
    // collector creates it again.
    return this.o.instance.supports.includes(type);
  }

  get limits(): { perMinute: number; perDay: number | undefined; reserve: number; maxBatchSize: number } {
    return { perMinute: this.o.perMinute, perDay: this.o.perDay, reserve: this.budget.reserve, maxBatchSize: this.o.maxBatchSize };
  }

  get queueDepth(): number {
    return this.queued;
  }

  budgetSnapshot(): BudgetState {
    return this.budget.snapshot();
  }

  currentHealth(): SourceHealth {
    return { ...this.health };
  }

  /** This source's verdict-cache key of an indicator (`key`: its indicatorKey), for cachedAt. */
  cacheKeyOf(indicator: Indicator, key: string): string {
    return this.cacheKey(indicator, key);
  }

  /**
   * A fresh cached answer at `now`, counting the hit or miss. Takes the cache key and the time so
   * a caller looking many up reads both once (the stage memoises the key per indicator).
   */
  cachedAt(cacheKey: string, now: number): Verdict | undefined {
    const e = this.o.cache.get(cacheKey, now);
    // Counted here; the metrics get them at flushCacheMetrics (a labelled increment per lookup cost
    // more than the lookup).
    if (e) this.cacheTally.hits++;
    else this.cacheTally.misses++;
    return e?.verdict;
  }

  /** Adds the hits and misses counted since the last call to the metrics (the stage calls it once per batch). */
  flushCacheMetrics(): void {
    const hits = this.cacheTally.hits - this.cacheFlushed.hits;
    const misses = this.cacheTally.misses - this.cacheFlushed.misses;
    if (hits > 0) this.o.metrics.cacheHits.inc({ enricher: this.id }, hits);
    if (misses > 0) this.o.metrics.cacheMisses.inc({ enricher: this.id }, misses);
    this.cacheFlushed.hits = this.cacheTally.hits;
    this.cacheFlushed.misses = this.cacheTally.misses;
  }

  /**
   * Another instance's answer just reached the shared cache (cluster mode): a lookup of the same
   * indicator still queued here is answered from it instead of spending a request.
   */
  answeredElsewhere(cacheKey: string): void {
    const p = this.pending.get(cacheKey);
    if (!p || p.state !== 'queued') return;
    const e = this.o.cache.get(cacheKey);
    if (!e) return;
    this.removeQueued(p);
    this.o.metrics.queueDepth.set({ enricher: this.id }, this.queued);
    this.settle(p, { kind: 'answer', verdict: e.verdict, cached: true });
  }

  /** The prefix of this source's keys in the verdict cache. */
  get cachePrefix(): string {
    return `${this.namespace}|`;
  }

  /** Hits and misses since start (the admin API's hit rate), and the answers of this source held in the shared cache. */
  cacheStats(): { entries: number; hits: number; misses: number } {
    return { entries: this.o.cache.sizeOf(`${this.namespace}|`), ...this.cacheTally };
  }

  /** Forget this source's cached answers (an operator's `DELETE /enrichers/:id/cache`); the next lookups ask it again. */
  clearCache(): number {
    return this.o.cache.deleteWhere(`${this.namespace}|`);
  }

  /** Requests spent today and what is left of the daily quota (none when the source has no daily limit). */
  quota(): { usedToday: number; remainingToday?: number; perMinute: number; perDay?: number; availableThisMinute: number } {
    const used = this.budget.usedToday;
    return {
      usedToday: used,
      ...(this.o.perDay !== undefined ? { perDay: this.o.perDay, remainingToday: Math.max(0, this.o.perDay - used) } : {}),
      perMinute: this.o.perMinute,
      availableThisMinute: this.budget.availableThisMinute(),
    };
  }

  /** Ask the source (after a cache miss). Resolves when answered or given up; never rejects. */
  request(indicator: Indicator, priority: Priority = 'medium'): Promise<LookupOutcome> {
    if (this.closed) return Promise.resolve({ kind: 'failed', code: ErrorCodes.ABORTED, message: 'enrichment stage is closed' });
    if (this.authFailure && this.o.clock.now() < this.authFailedUntil) return Promise.resolve({ kind: 'failed', ...this.authFailure });
    const key = this.cacheKey(indicator);
    const rank = RANK[priority] ?? RANK.medium;
    return new Promise<LookupOutcome>((resolve) => {
      const existing = this.pending.get(key);
      if (existing) {
        existing.waiters.push(resolve);
        if (existing.state === 'queued' && rank < existing.rank) {
          this.removeQueued(existing);
          existing.rank = rank;
          this.enqueue(existing, false);
        }
        this.pump();
        return;
      }
      const p: Pending = { cacheKey: key, indicator, rank, attempts: 0, rateLimited: 0, state: 'queued', waiters: [resolve] };
      if (this.queued >= this.o.maxQueue && !this.evictFor(rank)) {
        resolve({ kind: 'failed', code: 'QUEUE_FULL', message: `${this.o.maxQueue} indicators already wait for ${this.id}` });
        return;
      }
      this.pending.set(key, p);
      this.enqueue(p, false);
      this.pump();
    });
  }

  /**
   * Whether a pending lookup can plausibly be answered within `ms`: false when the source is
   * paused or out of budget for longer, or when more requests wait ahead of it than the minute
   * window allows. The stage then does not hold the event for an answer that cannot come.
   */
  canAnswerWithin(indicator: Indicator, ms: number): boolean {
    const p = this.pending.get(this.cacheKey(indicator));
    if (!p || p.state === 'in_flight') return true;
    const block = this.budget.check(p.rank <= RANK.high);
    if (block.waitMs > ms) return false;
    let ahead = this.buckets[p.rank]!.indexOf(p);
    for (let r = 0; r < p.rank; r++) ahead += this.buckets[r]!.length;
    const requestsAhead = Math.floor(ahead / this.o.maxBatchSize);
    // Next in line and its wait fits: worth waiting for.
    if (requestsAhead === 0) return true;
    return requestsAhead < this.budget.availableThisMinute() || ms >= 60_000;
  }

  /** Where an unanswered lookup stands, for the verdict's sources_unanswered. */
  describePending(indicator: Indicator): { state: 'queued' | 'in_flight'; blocked?: string } | undefined {
    const p = this.pending.get(this.cacheKey(indicator));
    if (!p) return undefined;
    const blocked = p.state === 'queued' ? this.blockReason(p) : undefined;
    return { state: p.state, ...(blocked ? { blocked } : {}) };
  }

  /** What holds a queued lookup back right now. */
  private blockReason(p: Pending): string | undefined {
    const b = this.budget.check(p.rank <= RANK.high);
    if (b.waitMs > 0) return b.reason === 'PAUSED' || !b.reason ? (b.pauseCode ?? 'PAUSED') : b.reason;
    if (this.inFlight >= this.o.maxConcurrent) return 'CONCURRENCY_LIMIT';
    return this.blocked;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.wakeTimer) this.o.clock.clearTimer(this.wakeTimer.handle);
    this.wakeTimer = undefined;
    this.closeController.abort(new PluginError(ErrorCodes.ABORTED, 'enrichment stage is closing'));
    for (const p of [...this.pending.values()]) this.settle(p, { kind: 'failed', code: ErrorCodes.ABORTED, message: 'enrichment stage closed before the source answered' });
  }

  /**
   * `key` is indicatorKey(indicator) when the caller holds it (extraction does). Memoised by that
   * key, so the cache is handed the same string every time (its hash computed once): a fresh
   * concatenation per lookup cost more than the cache read itself (bench/enrichment). Bounded:
   * cleared when full.
   */
  private cacheKey(indicator: Indicator, key = indicatorKey(indicator)): string {
    let cacheKey = this.keyMemo.get(key);
    if (cacheKey === undefined) {
      if (this.keyMemo.size >= KEY_MEMO_MAX) this.keyMemo.clear();
      cacheKey = verdictCacheKey(this.namespace, indicator);
      this.keyMemo.set(key, cacheKey);
    }
    return cacheKey;
  }

  private enqueue(p: Pending, front: boolean): void {
    p.state = 'queued';
    const bucket = this.buckets[p.rank]!;
    if (front) bucket.unshift(p);
    else bucket.push(p);
    this.queued++;
    this.o.metrics.queueDepth.set({ enricher: this.id }, this.queued);
  }

  private removeQueued(p: Pending): void {
    const bucket = this.buckets[p.rank]!;
    const i = bucket.indexOf(p);
    if (i !== -1) {
      bucket.splice(i, 1);
      this.queued--;
    }
  }

  /** Make room by giving up the oldest queued lookup of the lowest priority not above `rank`. */
  private evictFor(rank: number): boolean {
    for (let r = this.buckets.length - 1; r >= rank; r--) {
      const victim = this.buckets[r]![0];
      if (!victim) continue;
      this.buckets[r]!.shift();
      this.queued--;
      this.settle(victim, { kind: 'failed', code: 'QUEUE_FULL', message: `given up: more than ${this.o.maxQueue} indicators waited for ${this.id}` });
      return true;
    }
    return false;
  }

  private head(): Pending | undefined {
    for (const b of this.buckets) if (b.length > 0) return b[0];
    return undefined;
  }

  private pump(): void {
    if (this.closed) return;
    while (this.inFlight < this.o.maxConcurrent && this.queued > 0) {
      const head = this.head()!;
      const block = this.budget.check(head.rank <= RANK.high);
      if (block.waitMs > 0) {
        this.onBlocked(block);
        return;
      }
      this.blocked = undefined;
      const batch: Pending[] = [];
      for (const bucket of this.buckets) {
        while (bucket.length > 0 && batch.length < this.o.maxBatchSize) {
          const p = bucket.shift()!;
          p.state = 'in_flight';
          this.queued--;
          batch.push(p);
        }
      }
      this.o.metrics.queueDepth.set({ enricher: this.id }, this.queued);
      this.budget.consume();
      this.o.metrics.budgetUsed.set({ enricher: this.id }, this.budget.usedToday);
      this.o.onBudgetChange?.();
      this.inFlight++;
      void this.send(batch);
    }
  }

  private onBlocked(block: BudgetBlock): void {
    this.blocked = block.reason === 'PAUSED' || !block.reason ? (block.pauseCode ?? 'PAUSED') : block.reason;
    if (block.reason === 'DAILY_BUDGET_EXHAUSTED') {
      this.setHealth({
        status: 'degraded',
        code: ErrorCodes.QUOTA_EXHAUSTED,
        reason: `daily budget of ${this.o.perDay} requests used; lookups are queued until ${new Date(this.o.clock.now() + block.waitMs).toISOString()}`,
        retryAfterMs: block.waitMs,
      });
    }
    this.wakeIn(block.waitMs);
  }

  private wakeIn(ms: number): void {
    const at = this.o.clock.now() + ms;
    if (this.wakeTimer && this.wakeTimer.at <= at) return;
    if (this.wakeTimer) this.o.clock.clearTimer(this.wakeTimer.handle);
    const handle = this.o.clock.setTimer(() => {
      this.wakeTimer = undefined;
      this.pump();
    }, ms);
    this.wakeTimer = { handle, at };
  }

  private async send(batch: Pending[]): Promise<void> {
    const timeout = new AbortController();
    const timer = this.o.clock.setTimer(() => timeout.abort(new PluginError(ErrorCodes.TIMEOUT, `lookup took longer than ${this.o.requestTimeoutMs} ms`)), this.o.requestTimeoutMs);
    try {
      const signal = AbortSignal.any([timeout.signal, this.closeController.signal]);
      // A plugin that ignores its signal must still not hold a request slot forever.
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      aborted.catch(() => undefined);
      const verdicts = await Promise.race([
        this.o.instance.lookup(
          batch.map((p) => p.indicator),
          { signal },
        ),
        aborted,
      ]);
      this.onAnswer(batch, verdicts);
    } catch (err) {
      let e = toPluginError(err);
      if (timeout.signal.aborted && !this.closed) e = new PluginError(ErrorCodes.TIMEOUT, `lookup took longer than ${this.o.requestTimeoutMs} ms`);
      this.onError(batch, e);
    } finally {
      this.o.clock.clearTimer(timer);
      this.inFlight--;
      this.pump();
    }
  }

  private onAnswer(batch: Pending[], verdicts: unknown): void {
    if (!Array.isArray(verdicts)) {
      this.onError(batch, new PluginError(ErrorCodes.CONTRACT_VIOLATION, `${this.plugin} lookup() returned ${typeof verdicts}, not an array of verdicts`));
      return;
    }
    this.o.metrics.requests.inc({ enricher: this.id, outcome: 'ok' });
    this.consecutiveFailures = 0;
    this.authFailure = undefined;
    this.setHealth({ status: 'healthy' });
    const byIndicator = new Map<string, Verdict>();
    for (const v of verdicts as Verdict[]) {
      const n = v && typeof v === 'object' && v.indicator ? normalizeIndicator(String(v.indicator.type), String(v.indicator.value)) : undefined;
      if (n?.ok) byIndicator.set(indicatorKey(n.indicator), v);
    }
    for (const p of batch) {
      const raw = byIndicator.get(indicatorKey(p.indicator));
      const verdict = raw && sanitizeVerdict(raw, p.indicator);
      if (!verdict) {
        this.settle(p, { kind: 'failed', code: ErrorCodes.CONTRACT_VIOLATION, message: `${this.plugin} returned no valid verdict for ${p.indicator.type} ${p.indicator.value}` });
        continue;
      }
      this.o.cache.set(p.cacheKey, verdict, verdict.status === 'unknown' ? this.o.negativeTtlMs : this.o.ttlMs);
      this.settle(p, { kind: 'answer', verdict, cached: false });
    }
  }

  private onError(batch: Pending[], e: PluginError): void {
    if (this.closed) {
      for (const p of batch) this.settle(p, { kind: 'failed', code: ErrorCodes.ABORTED, message: 'enrichment stage closed before the source answered' });
      return;
    }
    const now = this.o.clock.now();
    this.o.metrics.requests.inc({ enricher: this.id, outcome: String(e.code) });
    const message = e.message;
    switch (e.code) {
      case ErrorCodes.RATE_LIMITED: {
        const wait = e.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
        this.budget.pause(now + wait, e.code);
        this.setHealth({ status: 'degraded', code: e.code, reason: `rate limited by the source; retrying in ${Math.ceil(wait / 1000)} s`, retryAfterMs: wait });
        this.requeueOrFail(batch, e, (p) => ++p.rateLimited <= MAX_RATE_LIMITED_RETRIES);
        return;
      }
      case ErrorCodes.QUOTA_EXHAUSTED: {
        const until = e.retryAfterMs !== undefined ? now + e.retryAfterMs : nextUtcMidnight(now);
        if (e.retryAfterMs === undefined) this.budget.exhaustDay();
        this.budget.pause(until, e.code);
        this.setHealth({ status: 'degraded', code: e.code, reason: `quota exhausted; lookups are queued until ${new Date(until).toISOString()}`, retryAfterMs: until - now });
        this.requeueOrFail(batch, e, () => true);
        return;
      }
      case ErrorCodes.AUTH_FAILED:
      case ErrorCodes.BAD_CONFIG: {
        // Everything queued would be refused the same way: answer it now rather than at the deadline.
        this.authFailure = { code: String(e.code), message };
        this.authFailedUntil = now + AUTH_RETRY_MS;
        this.budget.pause(now + AUTH_RETRY_MS, String(e.code));
        this.setHealth({ status: 'degraded', code: String(e.code), reason: message });
        for (const p of batch) this.settle(p, { kind: 'failed', code: String(e.code), message });
        for (const bucket of this.buckets) {
          for (const p of bucket.splice(0)) {
            this.queued--;
            this.settle(p, { kind: 'failed', code: String(e.code), message });
          }
        }
        this.o.metrics.queueDepth.set({ enricher: this.id }, this.queued);
        this.o.logger.warn({ enricher: this.id, code: e.code, err: message }, 'enricher refused our credentials or config; lookups fail until it recovers');
        return;
      }
      default: {
        this.consecutiveFailures++;
        const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.consecutiveFailures - 1));
        this.budget.pause(now + (e.retryAfterMs ?? backoff), String(e.code));
        this.setHealth({ status: 'degraded', code: String(e.code), reason: message, retryAfterMs: e.retryAfterMs ?? backoff });
        this.requeueOrFail(batch, e, (p) => ++p.attempts < this.o.maxAttempts);
      }
    }
  }

  private requeueOrFail(batch: Pending[], e: PluginError, retry: (p: Pending) => boolean): void {
    // Reverse, so unshifting keeps the batch's original order at the front of each bucket.
    for (const p of [...batch].reverse()) {
      if (retry(p)) this.enqueue(p, true);
      else this.settle(p, { kind: 'failed', code: String(e.code), message: e.message });
    }
    this.o.metrics.queueDepth.set({ enricher: this.id }, this.queued);
  }

  private settle(p: Pending, outcome: LookupOutcome): void {
    if (this.pending.get(p.cacheKey) === p) this.pending.delete(p.cacheKey);
    if (outcome.kind === 'failed') this.o.metrics.unanswered.inc({ enricher: this.id, reason: outcome.code });
    for (const w of p.waiters.splice(0)) w(outcome);
  }

  private setHealth(h: SourceHealth): void {
    if (this.health.status === h.status && this.health.code === h.code) return;
    this.health = h;
    if (h.status === 'degraded') this.o.logger.warn({ enricher: this.id, code: h.code, reason: h.reason }, 'enrichment source degraded');
    else this.o.logger.info({ enricher: this.id }, 'enrichment source healthy again');
    try {
      this.o.onHealth?.(h);
    } catch (err) {
      this.o.logger.warn({ enricher: this.id, err: (err as Error).message }, 'onSourceHealth callback threw');
    }
  }
}

/** Keep only what the contract allows; a verdict for the wrong indicator or status is not a verdict. */
function sanitizeVerdict(v: Verdict, indicator: Indicator): Verdict | undefined {
  if (!STATUSES.includes(v.status)) return undefined;
  const clamp = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : undefined);
  const score = v.status === 'unknown' ? undefined : clamp(v.score);
  const confidence = clamp(v.confidence);
  return {
    indicator,
    status: v.status,
    ...(score !== undefined ? { score } : {}),
    ...(confidence !== undefined ? { confidence } : {}),
    ...(v.evidence && typeof v.evidence === 'object' ? { evidence: v.evidence } : {}),
    ...(typeof v.reference === 'string' ? { reference: v.reference } : {}),
  };
}
