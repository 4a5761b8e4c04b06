import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** Statistics exported ("max" is the longest single delay). Not `quantile`: Prometheus reserves that label for summaries. */
const STATS: ReadonlyArray<[string, number]> = [
  ['p50', 50],
  ['p99', 99],
  ['max', 100],
];

/**
 * `fabric_event_loop_delay_seconds{stat="p50"|"p99"|"max"}`: how late the event loop ran timers since the
 * previous scrape (perf_hooks.monitorEventLoopDelay, 10 ms resolution). A p99 of tens of
 * milliseconds means the admin API, health checks and acknowledgements all wait that long.
 * The histogram restarts at every scrape (as prom-client's own lag metrics do), so each value
 * describes the last scrape interval; its first 10 ms tick after a scrape only sets the reference.
 */
let shared: IntervalHistogram | undefined;

export function registerEventLoopDelay(registry: Registry): IntervalHistogram {
  // One per process: the loop is the process's, and each histogram is a 10 ms timer of its own.
  if (!shared) {
    shared = monitorEventLoopDelay({ resolution: 10 });
    shared.enable();
  }
  const h = shared;
  const existing = registry.getSingleMetric('fabric_event_loop_delay_seconds');
  if (existing) registry.removeSingleMetric('fabric_event_loop_delay_seconds');
  new Gauge({
    name: 'fabric_event_loop_delay_seconds',
    help: 'Event-loop delay since the previous scrape (stat p50, p99, max): how long timers and I/O callbacks waited for the main thread.',
    labelNames: ['stat'],
    registers: [registry],
    collect() {
      // No sample yet (a scrape right after start): report 0 rather than NaN.
      for (const [label, q] of STATS) this.set({ stat: label }, h.count > 0 ? (q === 100 ? h.max : h.percentile(q)) / 1e9 : 0);
      h.reset();
    },
  });
  return h;
}
