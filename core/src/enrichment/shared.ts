import type { FalsePositive } from '../host.js';
import { RATE_WINDOW_MS, type BudgetShare } from './budget.js';
import type { Entry, VerdictCache } from './cache.js';
import type { FalsePositiveStore } from './false-positives.js';

/**
 * The enrichment state the instances of a cluster share (cluster mode; docs/cluster.md): answers
 * of the sources, the false-positive list and what each instance spent of each source's budget,
 * kept by the cluster in compacted Kafka topics. Keys: `v/<cache key>`, `fp/<indicator key>`,
 * `b/<enricher id>/<instance>`.
 */
export interface SharedEnrichmentState {
  readonly instance: string;
  /** Write a record (null: delete it). Fire and forget: a lost record costs a lookup, never an event. */
  publish(key: string, value: string | null): void;
  /** Every record whose key starts with `prefix`: those read so far, then each new one, in order. */
  follow(prefix: string, apply: (key: string, value: string | null) => void): void;
  /** This instance's part of a cluster-wide limit of `total` requests a minute. */
  share(total: number): number;
}

const VERDICT = 'v/';
const FALSE_POSITIVE = 'fp/';
const BUDGET = 'b/';
/** A budget record goes out at most this often per source (the daily count is eventually shared). */
const BUDGET_REPORT_MS = 1000;

function parse(value: string | null): unknown {
  if (value === null) return null;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** The budget of one source shared through `shared`. */
export function sharedBudget(shared: SharedEnrichmentState, enricher: string): BudgetShare {
  /** UTC day → instance → requests it reported. */
  const others = new Map<string, Map<string, number>>();
  /** Instance → its send times within the last minute, as it last reported them. */
  const recentOf = new Map<string, number[]>();
  shared.follow(`${BUDGET}${enricher}/`, (key, value) => {
    const instance = key.slice(BUDGET.length + enricher.length + 1);
    if (instance === shared.instance) return;
    const v = parse(value) as { day?: unknown; used?: unknown; recent?: unknown } | null | undefined;
    if (!v || typeof v.day !== 'string' || typeof v.used !== 'number' || !Number.isFinite(v.used) || v.used < 0) return;
    if (Array.isArray(v.recent)) recentOf.set(instance, v.recent.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)).slice(-1000));
    const day = others.get(v.day) ?? new Map<string, number>();
    day.set(instance, v.used);
    others.set(v.day, day);
    // Days gone by are of no use: keep the newest few.
    if (others.size > 3) others.delete([...others.keys()].sort()[0]!);
  });
  let timer: NodeJS.Timeout | undefined;
  let latest: { day: string; used: number; recent: number[] } | undefined;
  return {
    // Its share, and never more than the others (as they last reported) left of the minute: after
    // a membership change a new share starts while the others' earlier sends are still in the window.
    perMinute(total) {
      const since = Date.now() - RATE_WINDOW_MS;
      let elsewhere = 0;
      for (const times of recentOf.values()) for (const t of times) if (t > since) elsewhere++;
      return Math.max(0, Math.min(shared.share(total), total - elsewhere));
    },
    usedElsewhere(day) {
      let n = 0;
      for (const used of others.get(day)?.values() ?? []) n += used;
      return n;
    },
    report(day, used, recent) {
      latest = { day, used, recent: [...recent] };
      timer ??= setTimeout(() => {
        timer = undefined;
        if (latest) shared.publish(`${BUDGET}${enricher}/${shared.instance}`, JSON.stringify(latest));
      }, BUDGET_REPORT_MS);
      timer.unref?.();
    },
  };
}

/**
 * Share the verdict cache and the false-positive list: answers received and marks made here are
 * published, those of the other instances merged. `answered(key)` is told of each answer merged,
 * so a lookup still queued for it is answered without a request.
 */
export function shareEnrichmentState(
  shared: SharedEnrichmentState,
  parts: { cache: VerdictCache; falsePositives: FalsePositiveStore; answered(key: string): void; warn(msg: string): void },
): void {
  parts.cache.onSet = (key, entry) => shared.publish(`${VERDICT}${key}`, JSON.stringify(entry));
  shared.follow(VERDICT, (key, value) => {
    const e = parse(value) as Partial<Entry> | null | undefined;
    if (!e || typeof e.at !== 'number' || typeof e.exp !== 'number' || !e.verdict || typeof e.verdict !== 'object') return;
    const cacheKey = key.slice(VERDICT.length);
    if (parts.cache.merge(cacheKey, e as Entry)) parts.answered(cacheKey);
  });
  parts.falsePositives.onChange = (key, entry) => shared.publish(`${FALSE_POSITIVE}${key}`, entry === null ? null : JSON.stringify(entry));
  shared.follow(FALSE_POSITIVE, (key, value) => {
    const v = parse(value);
    if (v === undefined || (v !== null && typeof v !== 'object')) return;
    void parts.falsePositives.apply(v as Partial<FalsePositive> | null, key.slice(FALSE_POSITIVE.length)).catch((err: Error) => parts.warn(err.message));
  });
}
