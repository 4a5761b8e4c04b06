import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { FabricMetrics } from '../src/metrics/fabric-metrics.js';

async function delay(metrics: FabricMetrics): Promise<Record<string, number>> {
  const m = await metrics.registry.getSingleMetric('fabric_event_loop_delay_seconds')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.stat), v.value]));
}

describe('fabric_event_loop_delay_seconds', () => {
  it('is exported by the host metrics and shows a main thread that was kept busy', async () => {
    const metrics = new FabricMetrics(undefined, { defaultMetrics: true });
    await delay(metrics); // start a fresh interval
    // The monitor's first tick after a reset only sets its reference point.
    await sleep(30);
    // Hold the thread for 200 ms: every timer due meanwhile runs at least that late.
    const until = Date.now() + 200;
    while (Date.now() < until) {
      // busy on purpose
    }
    await sleep(30);
    const d = await delay(metrics);
    expect(Object.keys(d).sort()).toEqual(['max', 'p50', 'p99']);
    expect(d.max).toBeGreaterThanOrEqual(0.15);
    expect(d.p99).toBeGreaterThanOrEqual(0.15);
  });

  it('is not registered on a plain registry (tests and embedded stages keep their own)', () => {
    expect(new FabricMetrics().registry.getSingleMetric('fabric_event_loop_delay_seconds')).toBeUndefined();
  });
});
