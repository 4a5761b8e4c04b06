import type { Clock } from './clock.js';
import { nextUtcMidnight, utcDay } from './clock.js';
import type { Logger } from 'pino';
import { readJsonFile } from './json-file.js';

/** What survives a restart, so a crash loop cannot spend a daily quota twice. */
export interface BudgetState {
  day: string;
  used: number;
  /** Send times (epoch ms) within the last minute. */
  recent: number[];
  pausedUntil?: number;
  pauseCode?: string;
}

/** waitMs 0: send now. Otherwise why and for how long the next request must wait. */
export interface BudgetBlock {
  waitMs: number;
  reason?: 'RATE_LIMIT_WINDOW' | 'BUDGET_RESERVED' | 'DAILY_BUDGET_EXHAUSTED' | 'PAUSED';
  pauseCode?: string;
}

/**
 * The window the per-minute limit is kept over: a minute plus a second. The vendor counts
 * requests as they arrive, and two sent exactly a minute apart can arrive less than a minute apart
 * (the first one also opened the connection): measured against the VirusTotal fake, 59.98 s.
 */
export const RATE_WINDOW_MS = 61_000;

/**
 * A source's budget shared by the instances of a cluster (the quota is the vendor's, not each
 * instance's): this instance spends only its part of the per-minute limit, and counts what the
 * others spent today against the daily one.
 */
export interface BudgetShare {
  /** This instance's part of `total` requests per minute (0 while it is not a member). */
  perMinute(total: number): number;
  /** Requests of this source the other instances reported for UTC day `day`. */
  usedElsewhere(day: string): number;
  /** This instance spent `used` requests of this source on `day`, `recent` (send times) in the last minute. */
  report(day: string, used: number, recent: readonly number[]): void;
}

/**
 * One source's request budget: a sliding one-minute window (no 60 s span ever holds more than
 * `perMinute` requests), a UTC-day counter with a reserve only high-priority work may spend, and
 * a pause the source itself asked for (Retry-After, quota reset, outage backoff).
 */
export class RequestBudget {
  private state: BudgetState;

  constructor(
    readonly perMinute: number,
    readonly perDay: number | undefined,
    reserveFraction: number,
    private readonly clock: Clock,
    restored?: BudgetState,
    private readonly share?: BudgetShare,
  ) {
    this.reserve = perDay === undefined ? 0 : Math.floor(perDay * reserveFraction);
    const today = utcDay(clock.now());
    this.state =
      restored && restored.day === today
        ? { ...restored, recent: [...restored.recent] }
        : {
            day: today,
            used: 0,
            recent: restored?.recent ? [...restored.recent] : [],
            ...(restored?.pausedUntil ? { pausedUntil: restored.pausedUntil, pauseCode: restored.pauseCode } : {}),
          };
  }

  /** Requests of the daily budget held back for high and critical detections. */
  readonly reserve: number;

  /** How long until one more request may be sent; `canUseReserve` for high-priority work. */
  check(canUseReserve: boolean): BudgetBlock {
    const now = this.clock.now();
    this.roll(now);
    const s = this.state;
    if (s.pausedUntil !== undefined) {
      if (s.pausedUntil > now) return { waitMs: s.pausedUntil - now, reason: 'PAUSED', ...(s.pauseCode ? { pauseCode: s.pauseCode } : {}) };
      delete s.pausedUntil;
      delete s.pauseCode;
    }
    if (this.perDay !== undefined) {
      const used = s.used + (this.share?.usedElsewhere(s.day) ?? 0);
      if (used >= this.perDay) return { waitMs: nextUtcMidnight(now) - now, reason: 'DAILY_BUDGET_EXHAUSTED' };
      if (!canUseReserve && used >= this.perDay - this.reserve) return { waitMs: nextUtcMidnight(now) - now, reason: 'BUDGET_RESERVED' };
    }
    while (s.recent.length > 0 && s.recent[0]! <= now - RATE_WINDOW_MS) s.recent.shift();
    const perMinute = this.minuteLimit();
    // No share at all (not a member yet, more instances than requests a minute): look again in a while.
    if (perMinute === 0) return { waitMs: 5_000, reason: 'RATE_LIMIT_WINDOW' };
    if (s.recent.length >= perMinute) return { waitMs: s.recent[0]! + RATE_WINDOW_MS - now, reason: 'RATE_LIMIT_WINDOW' };
    return { waitMs: 0 };
  }

  /** Requests a minute this instance may send: the whole limit, or its cluster share of it. */
  private minuteLimit(): number {
    return this.share ? Math.min(this.perMinute, Math.max(0, Math.floor(this.share.perMinute(this.perMinute)))) : this.perMinute;
  }

  /** Requests the one-minute window still allows right now. */
  availableThisMinute(): number {
    const now = this.clock.now();
    const s = this.state;
    while (s.recent.length > 0 && s.recent[0]! <= now - RATE_WINDOW_MS) s.recent.shift();
    return Math.max(0, this.minuteLimit() - s.recent.length);
  }

  consume(): void {
    const now = this.clock.now();
    this.roll(now);
    this.state.used++;
    this.state.recent.push(now);
    this.share?.report(this.state.day, this.state.used, this.state.recent);
  }

  /** Stop sending until `until` (epoch ms), because the source said so. */
  pause(until: number, code: string): void {
    if (this.state.pausedUntil !== undefined && this.state.pausedUntil >= until) return;
    this.state.pausedUntil = until;
    this.state.pauseCode = code;
  }

  /** The source reports its daily quota spent even if our count says otherwise. */
  exhaustDay(): void {
    if (this.perDay !== undefined) this.state.used = Math.max(this.state.used, this.perDay);
    this.share?.report(this.state.day, this.state.used, this.state.recent);
  }

  get usedToday(): number {
    this.roll(this.clock.now());
    return this.state.used;
  }

  snapshot(): BudgetState {
    return { ...this.state, recent: [...this.state.recent] };
  }

  private roll(now: number): void {
    const today = utcDay(now);
    if (this.state.day !== today) {
      this.state.day = today;
      this.state.used = 0;
    }
  }
}

/** Budgets saved by an earlier run; an unreadable file starts fresh budgets (never fails the stage). */
export async function readBudgets(file: string, logger: Logger): Promise<Record<string, BudgetState>> {
  try {
    const doc = (await readJsonFile(file)) as { sources?: Record<string, BudgetState> } | undefined;
    const out: Record<string, BudgetState> = {};
    for (const [id, s] of Object.entries(doc?.sources ?? {})) {
      if (s && typeof s.day === 'string' && typeof s.used === 'number' && Array.isArray(s.recent)) out[id] = s;
    }
    return out;
  } catch (err) {
    logger.warn({ file, err: (err as Error).message }, 'enrichment budgets file unreadable; starting with fresh budgets');
    return {};
  }
}
