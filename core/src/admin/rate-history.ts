import type { Metric, MetricValue } from 'prom-client';
import type { FabricHost } from '../host.js';

/**
 * A short rolling window (15 minutes by default) of the rates the runtime already counts, so the
 * dashboard's charts have history when the page is reloaded. Sampled on a timer from the host's
 * counters: nothing is added to the hot path. Memory is fixed: `capacity` samples, each with one
 * entry per collector and per enricher.
 */

export interface RateSample {
  /** Epoch milliseconds of the sample. */
  t: number;
  /** Events per second over the last interval, all collectors. */
  collected: number;
  published: number;
  /** Pipeline load between poll and sink acknowledgement at sample time. */
  queueEvents: number;
  queueBatches: number;
  /** Per collector: events/s in (collected) and out (published). */
  collectors: Record<string, { in: number; out: number }>;
  /** Per enricher: lookup requests sent during the interval. */
  enrichRequests: Record<string, number>;
}

type Listener = (s: RateSample) => void;

interface Totals {
  t: number;
  collectors: Map<string, { in: number; out: number }>;
  enrich: Map<string, number>;
}

async function metricValues(host: FabricHost, name: string): Promise<MetricValue<string>[]> {
  const m = host.metrics.getSingleMetric(name) as Metric<string> | undefined;
  if (!m) return [];
  return (await m.get()).values;
}

/** Sum of a metric's values per value of one label. */
export async function sumByLabel(host: FabricHost, name: string, label: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of await metricValues(host, name)) {
    const key = v.labels[label];
    if (key === undefined) continue;
    out.set(String(key), (out.get(String(key)) ?? 0) + v.value);
  }
  return out;
}

const round = (n: number): number => Math.round(n * 100) / 100;

export class RateHistory {
  private readonly ring: RateSample[] = [];
  private readonly listeners = new Set<Listener>();
  private last: Totals | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(
    private readonly host: FabricHost,
    readonly intervalMs: number,
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  start(): void {
    if (this.timer) return;
    // A failed sample is a gap in the chart, never an unhandled rejection.
    const tick = (): void => void this.sample().catch((err: Error) => this.onError(err));
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  samples(): RateSample[] {
    return [...this.ring];
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Take one sample now (the timer calls this; exported for tests with their own clock). */
  async sample(): Promise<RateSample | undefined> {
    if (this.sampling) return undefined;
    this.sampling = true;
    try {
      const totals = await this.totals();
      const prev = this.last;
      this.last = totals;
      if (!prev) return undefined;
      const dt = Math.max(0.001, (totals.t - prev.t) / 1000);
      // A collector's counters restart from zero when it is re-created: a negative delta is a reset, not a rate.
      const rate = (now: number, before: number | undefined): number => round(Math.max(0, now - (before ?? 0)) / dt);
      const collectors: RateSample['collectors'] = {};
      let collected = 0;
      let published = 0;
      for (const [id, c] of totals.collectors) {
        const p = prev.collectors.get(id);
        const r = { in: rate(c.in, p?.in), out: rate(c.out, p?.out) };
        collectors[id] = r;
        collected += r.in;
        published += r.out;
      }
      const enrichRequests: Record<string, number> = {};
      for (const [id, n] of totals.enrich) enrichRequests[id] = Math.max(0, n - (prev.enrich.get(id) ?? 0));
      const queue = await sumByLabel(this.host, 'fabric_pipeline_queue_depth', 'unit');
      const s: RateSample = {
        t: totals.t,
        collected: round(collected),
        published: round(published),
        queueEvents: queue.get('events') ?? 0,
        queueBatches: queue.get('batches') ?? 0,
        collectors,
        enrichRequests,
      };
      this.ring.push(s);
      if (this.ring.length > this.capacity) this.ring.shift();
      for (const l of this.listeners) {
        try {
          l(s);
        } catch (err) {
          this.onError(err as Error);
        }
      }
      return s;
    } finally {
      this.sampling = false;
    }
  }

  private async totals(): Promise<Totals> {
    const collectors = new Map<string, { in: number; out: number }>();
    for (const c of this.host.listCollectors()) {
      const m = this.host.getCollector(c.id)?.metrics;
      if (m) collectors.set(c.id, { in: m.eventsCollected, out: m.eventsPublished });
    }
    const enrich = await sumByLabel(this.host, 'fabric_enrichment_requests_total', 'enricher');
    return { t: this.now(), collectors, enrich };
  }
}
