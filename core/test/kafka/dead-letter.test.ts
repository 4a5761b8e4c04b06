import { beforeAll, describe, expect, it } from 'vitest';
import { createKafkaSink, resolveKafkaSinkConfig } from '../../src/sinks/kafka/index.js';
import { createDeadLetterTarget } from '../../src/sinks/factory.js';
import { DeadLetterQueue } from '../../src/sinks/dead-letter.js';
import { FabricMetrics } from '../../src/metrics/fabric-metrics.js';
import { consumeAll, runId, sharedBroker, sinkContext } from './helpers.js';
import { silentLogger, testPipeline } from '../helpers.js';

let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBroker();
});

describe('dead letters with the Kafka sink', () => {
  it('a refused event goes to the dead-letter topic (created with the others) with its reason; its neighbours go to the detections topic', async () => {
    const run = runId();
    const topics = { detections: `rf-test-${run}.threat_detected`, status: `rf-test-${run}.honeypot_status`, dead_letter: `rf-test-${run}.dead_letter` };
    const config = resolveKafkaSinkConfig({ type: 'kafka', brokers: [bootstrap], topics, create_topics: { partitions: 1 } });
    const ctx = sinkContext();
    const sink = createKafkaSink(config, ctx);
    await sink.start();
    const target = createDeadLetterTarget({ enabled: true, max_original_bytes: 65536, recent: 10 }, config, sink, { stateDir: '/nonexistent' });
    expect(target?.location).toBe(`topic ${topics.dead_letter}`);
    const metrics = new FabricMetrics();
    const queue = new DeadLetterQueue({ target, metrics, logger: silentLogger() });
    const pipeline = testPipeline({ sink, metrics, deadLetters: queue });
    const cyclic: Record<string, unknown> = { '@timestamp': '2026-01-01T00:00:00Z', message: `cyclic ${run}` };
    cyclic.self = cyclic;
    const r = await pipeline.submit({
      collector: 'honeypot',
      plugin: 'p',
      events: [{ '@timestamp': '2026-01-01T00:00:00Z', message: `ok-1 ${run}` }, cyclic as never, { '@timestamp': '2026-01-01T00:00:01Z', message: `ok-2 ${run}` }],
    });
    expect(r).toEqual({ collected: 3, rejected: 1, published: 2, deduplicated: 0 });
    await sink.close(5000);
    const dead = await consumeAll(bootstrap, topics.dead_letter);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.key).toBe('honeypot');
    expect(dead[0]!.headers).toMatchObject({ 'fabric-event-type': 'dead_letter', 'fabric-dead-letter-reason': 'CYCLE', 'fabric-collector': 'honeypot' });
    expect(JSON.parse(dead[0]!.value)).toMatchObject({ collector: 'honeypot', plugin: 'p', reason: { code: 'CYCLE' }, original: expect.stringContaining('[Circular]') });
    const published = await consumeAll(bootstrap, topics.detections);
    expect(published.map((x) => (JSON.parse(x.value) as { message: string }).message).sort()).toEqual([`ok-1 ${run}`, `ok-2 ${run}`]);
  });
});
