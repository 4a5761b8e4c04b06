/**
 * Correlation groups by the event time at which their oldest window closes, in buckets of
 * BUCKET_MS. A group is re-timed every time its oldest detection expires; in a binary heap of
 * 100k+ groups that was a sift through ~17 random groups (cache misses) per expiry. Here
 * scheduling is an append to its bucket; a group that moved on leaves a stale entry behind, which
 * is recognised (its `due` is no longer in that bucket) and dropped when the bucket is reached.
 * Only the bucket numbers sit in a heap, and there are few of them (timespan / BUCKET_MS).
 * Memory stays bounded by max_keys: each group has at most a few entries, and stale ones go when
 * their bucket is reached.
 */
export interface Due {
  due: number;
  /** 0 while queued, -1 when not. */
  slot: number;
}

/** Width of a bucket in event time. Groups within one bucket are still taken in `due` order. */
const BUCKET_MS = 1000;

const bucketOf = (due: number) => Math.floor(due / BUCKET_MS);

export class DueQueue<T extends Due> {
  private readonly buckets = new Map<number, T[]>();
  /** Min-heap of the bucket numbers present in `buckets`. */
  private readonly order: number[] = [];
  /** The bucket being drained by `next`, sorted by due, and where in it. */
  private current: T[] = [];
  private currentBucket = Number.NaN;
  private at = 0;
  /** Entries of the current bucket not due yet: they go back when the drain stops. */
  private kept: T[] = [];
  /** The limit and bucket of the last drain, and whether it returned anything (else draining it again is pointless). */
  private lastLimit = Number.NaN;
  private lastBucket = Number.NaN;
  private progress = false;

  /**
   * `ordered`: take items in due order within a bucket. Needed when closing a group can fire an
   * alert (the order of alerts then follows event time); without such rules the order is free.
   */
  constructor(private readonly ordered = true) {}

  /** Queue or re-position an item after its `due` changed. */
  schedule(item: T, due: number): void {
    const sameBucket = item.slot >= 0 && bucketOf(item.due) === bucketOf(due);
    item.due = due;
    if (sameBucket) return;
    item.slot = 0;
    const b = bucketOf(due);
    const list = this.buckets.get(b);
    if (list) {
      if (list[list.length - 1] !== item) list.push(item);
    } else {
      this.buckets.set(b, [item]);
      this.pushBucket(b);
    }
  }

  remove(item: T): void {
    item.slot = -1;
  }

  /**
   * The queued item with the smallest due, if that due is before `limit`; it is dequeued (it must
   * be scheduled again to stay). Items are returned in due order within a bucket, buckets in order.
   */
  next(limit: number): T | undefined {
    if (limit !== this.lastLimit) {
      this.lastLimit = limit;
      this.lastBucket = Number.NaN;
    }
    for (;;) {
      while (this.at < this.current.length) {
        const item = this.current[this.at++]!;
        if (item.slot < 0 || bucketOf(item.due) !== this.currentBucket) continue;
        if (item.due < limit) {
          item.slot = -1;
          this.progress = true;
          return item;
        }
        this.kept.push(item);
      }
      this.putBack();
      const b = this.order[0];
      if (b === undefined || b * BUCKET_MS >= limit) return undefined;
      // The bucket holding the limit, drained without finding anything due: the rest waits for a later limit.
      if (b === this.lastBucket && !this.progress) return undefined;
      this.lastBucket = b;
      this.progress = false;
      this.popBucket();
      const list = this.buckets.get(b)!;
      this.buckets.delete(b);
      if (this.ordered) list.sort((x, y) => x.due - y.due);
      this.current = list;
      this.currentBucket = b;
      this.at = 0;
    }
  }

  /** End of a drain: what was not due goes back to its bucket. */
  private putBack(): void {
    const b = this.currentBucket;
    this.current = [];
    this.at = 0;
    if (this.kept.length === 0) return;
    const kept = this.kept;
    this.kept = [];
    const list = this.buckets.get(b);
    if (list) list.push(...kept);
    else {
      this.buckets.set(b, kept);
      this.pushBucket(b);
    }
  }

  private pushBucket(b: number): void {
    const h = this.order;
    let i = h.length;
    h.push(b);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= b) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = b;
  }

  private popBucket(): void {
    const h = this.order;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
