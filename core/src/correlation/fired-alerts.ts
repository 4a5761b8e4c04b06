import { LRUCache } from 'lru-cache';

/**
 * Ids of the alerts fired recently. A group evicted past max_keys and created again must not
 * fire the same window twice (alert ids are deterministic: same rule, group and window start);
 * the ids go into the checkpoint, as deltas, so a restart remembers them too.
 */
export class FiredAlerts {
  /** Ids remembered: at least one per group a rule may hold. */
  readonly kept: number;
  private readonly ids: LRUCache<string, true>;
  /** Fired since the last delta, oldest first. */
  private since: string[] = [];

  constructor(maxKeys: number) {
    this.kept = Math.max(1000, maxKeys);
    this.ids = new LRUCache<string, true>({ max: this.kept });
  }

  /** Remember `id` as fired; returns whether it had fired already. */
  record(id: string): boolean {
    const repeat = this.ids.has(id);
    this.ids.set(id, true);
    if (!repeat) {
      this.since.push(id);
      // Never checkpointed (no acknowledgements): only the newest `kept` matter.
      if (this.since.length > 2 * this.kept) this.since.splice(0, this.since.length - this.kept);
    }
    return repeat;
  }

  /** Every id remembered, least recently fired first. */
  all(): string[] {
    return [...this.ids.rkeys()];
  }

  /** Ids fired since the last call (every id when `full`); `retry()` puts them back when that delta is not written. */
  takeSince(full: boolean): { ids: string[]; retry: () => void } {
    const ids = full ? this.all() : this.since;
    this.since = [];
    const retry = () => {
      if (!full && ids.length > 0) this.since = ids.concat(this.since);
    };
    return { ids, retry };
  }

  restore(ids: readonly string[]): void {
    for (const id of ids) this.ids.set(id, true);
  }
}
