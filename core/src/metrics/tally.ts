import type { Counter } from 'prom-client';

/** A counter with one label, counted locally and added to the registered counter by `flush`. */
export class Tally {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly counter: Counter<string>,
    private readonly label: string,
  ) {}
  inc(labels: Record<string, string | number>, n = 1): void {
    const v = String(labels[this.label]);
    this.counts.set(v, (this.counts.get(v) ?? 0) + n);
  }
  flush(): void {
    for (const [v, n] of this.counts) this.counter.inc({ [this.label]: v }, n);
    this.counts.clear();
  }
}
