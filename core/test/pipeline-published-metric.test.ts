import { testPipeline } from './helpers.js';
import { describe, expect, it } from 'vitest';
import { FabricMetrics } from '../src/metrics/fabric-metrics.js';
import type { FabricEvent } from '../src/plugin-api/index.js';
import type { PipelineStage } from '../src/pipeline/stage.js';
import { MemorySink } from './helpers.js';

/** Marks events as detections with the priority their message names. */
const prioritise: PipelineStage = {
  name: 'detection',
  async process(batch: FabricEvent[]) {
    for (const e of batch) {
      e.event.kind = 'alert';
      e.fabric.alert_type = 'detection';
      e.fabric.priority = e.message as FabricEvent['fabric']['priority'];
    }
    return batch;
  },
};

describe('fabric_events_published_total', () => {
  it('counts every published event by collector and priority (counted per batch, not per event)', async () => {
    const metrics = new FabricMetrics();
    const sink = new MemorySink();
    const pipeline = testPipeline({ stages: [prioritise], sink, minPriority: 'low', metrics });
    const ev = (i: number, p: string) => ({ '@timestamp': new Date(Date.UTC(2026, 0, 1) + i).toISOString(), message: p });
    await pipeline.submit({ collector: 'a', plugin: 'p', events: [ev(1, 'high'), ev(2, 'low'), ev(3, 'high'), ev(4, 'info')] });
    await pipeline.submit({ collector: 'b', plugin: 'p', events: [ev(5, 'high')] });
    const m = await metrics.registry.getSingleMetric('fabric_events_published_total')!.get();
    const got = Object.fromEntries(m.values.map((v) => [`${v.labels.collector}/${v.labels.priority}`, v.value]));
    expect(got).toEqual({ 'a/high': 2, 'a/low': 1, 'b/high': 1 });
    expect(sink.events).toHaveLength(4);
  });
});
