/**
 * Min-heap of correlation groups by the event time at which their oldest window closes.
 * Indexed (each item knows its slot) so an evicted group is removed at once: the queue never
 * holds more entries than there are live groups, which keeps memory bounded by max_keys.
 */
export interface Due {
  due: number;
  /** Slot in the heap, -1 when not queued. */
  slot: number;
}

export class DueQueue<T extends Due> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  /** Queue or re-position an item after its `due` changed. */
  schedule(item: T, due: number): void {
    item.due = due;
    if (item.slot < 0) {
      item.slot = this.heap.length;
      this.heap.push(item);
      this.up(item.slot);
    } else {
      this.up(item.slot);
      this.down(item.slot);
    }
  }

  remove(item: T): void {
    const i = item.slot;
    if (i < 0) return;
    const last = this.heap.pop()!;
    item.slot = -1;
    if (last !== item) {
      this.heap[i] = last;
      last.slot = i;
      this.up(i);
      this.down(i);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    const item = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (parent.due <= item.due) break;
      h[i] = parent;
      parent.slot = i;
      i = p;
    }
    h[i] = item;
    item.slot = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const item = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.due < h[l]!.due ? r : l;
      const child = h[c]!;
      if (child.due >= item.due) break;
      h[i] = child;
      child.slot = i;
      i = c;
    }
    h[i] = item;
    item.slot = i;
  }
}
