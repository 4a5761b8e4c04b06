import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Indicator, Verdict } from '../plugin-api/index.js';
import type { Clock } from './clock.js';
import { readJsonFile, writeJsonFile } from './json-file.js';

export interface Entry {
  verdict: Verdict;
  /** Epoch ms the answer was received. */
  at: number;
  /** Epoch ms after which it is not served. */
  exp: number;
}

interface StoredEntry extends Entry {
  k: string;
}

export interface CacheLogger {
  warn(obj: Record<string, unknown>, msg?: string): void;
}

/**
 * The part of a cache key that names one source as configured: a hash of the plugin and of
 * everything the instance says changes answers (its cacheKey(): API key, endpoint, options), so a
 * new key or config never serves an old answer, and no secret is ever written to disk.
 */
export function sourceNamespace(plugin: string, instanceKey: string): string {
  return createHash('sha256').update(plugin).update('\0').update(instanceKey).digest('base64url').slice(0, 32);
}

/** The key of one source's answer about one indicator (hashed once per source, not per lookup). */
export function verdictCacheKey(namespace: string, indicator: Indicator): string {
  return `${namespace}|${indicator.type}|${indicator.value}`;
}

/**
 * One cache for all sources. Expiry is checked against the injected clock (not lru-cache's
 * own TTL, which reads performance.now and cannot be persisted across restarts).
 */
export class VerdictCache {
  private readonly lru: LRUCache<string, Entry>;
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();
  /** Told of every answer stored here (not of merged ones): cluster mode shares them. */
  onSet: ((key: string, entry: Entry) => void) | undefined;

  private constructor(
    readonly file: string | undefined,
    maxEntries: number,
    private readonly clock: Clock,
  ) {
    this.lru = new LRUCache<string, Entry>({ max: maxEntries });
  }

  static async open(file: string | undefined, maxEntries: number, clock: Clock, logger?: CacheLogger): Promise<VerdictCache> {
    const cache = new VerdictCache(file, maxEntries, clock);
    if (!file) return cache;
    let doc: unknown;
    try {
      doc = await readJsonFile(file);
    } catch (err) {
      // A cache is only an optimisation: start empty rather than refuse to run.
      logger?.warn({ file, err: (err as Error).message }, 'verdict cache file unreadable; starting with an empty cache');
      return cache;
    }
    const entries = (doc as { entries?: unknown } | undefined)?.entries;
    if (!Array.isArray(entries)) return cache;
    const now = clock.now();
    // Stored oldest first, so LRU order (and eviction) is preserved across restarts.
    for (const e of entries as StoredEntry[]) {
      if (!e || typeof e.k !== 'string' || typeof e.exp !== 'number' || e.exp <= now || typeof e.verdict !== 'object') continue;
      cache.lru.set(e.k, { verdict: e.verdict, at: e.at, exp: e.exp });
    }
    return cache;
  }

  /** `now`: the clock's time, when the caller has read it already. */
  get(key: string, now = this.clock.now()): Entry | undefined {
    const e = this.lru.get(key);
    if (!e) return undefined;
    if (e.exp <= now) {
      this.lru.delete(key);
      this.dirty = true;
      return undefined;
    }
    return e;
  }

  set(key: string, verdict: Verdict, ttlMs: number): void {
    if (ttlMs <= 0) return;
    const now = this.clock.now();
    const entry = { verdict, at: now, exp: now + ttlMs };
    this.lru.set(key, entry);
    this.dirty = true;
    this.onSet?.(key, entry);
  }

  /**
   * An answer another instance received (cluster mode). Kept unless expired or older than the one
   * held; returns whether it was stored.
   */
  merge(key: string, entry: Entry): boolean {
    if (entry.exp <= this.clock.now()) return false;
    const held = this.lru.peek(key);
    if (held && held.at >= entry.at) return false;
    this.lru.set(key, entry);
    this.dirty = true;
    return true;
  }

  get size(): number {
    return this.lru.size;
  }

  /** Entries whose key starts with `prefix` (one source's namespace): for the admin API, O(entries). */
  sizeOf(prefix: string): number {
    let n = 0;
    for (const k of this.lru.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }

  /** Forget every entry whose key starts with `prefix`; returns how many. Saved at the next save. */
  deleteWhere(prefix: string): number {
    const doomed = [...this.lru.keys()].filter((k) => k.startsWith(prefix));
    for (const k of doomed) this.lru.delete(k);
    if (doomed.length > 0) this.dirty = true;
    return doomed.length;
  }

  /** Persist when something changed. Saves are serialised. */
  save(): Promise<void> {
    if (!this.file || !this.dirty) return this.saving;
    this.dirty = false;
    const now = this.clock.now();
    const entries: StoredEntry[] = [];
    for (const [k, e] of this.lru.entries()) if (e.exp > now) entries.push({ k, ...e });
    entries.reverse();
    const file = this.file;
    this.saving = this.saving
      .catch(() => undefined)
      .then(() => writeJsonFile(file, { version: 1, entries }))
      .catch((err: unknown) => {
        this.dirty = true;
        throw err;
      });
    return this.saving;
  }
}
