import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export interface KafkaSinkMetrics {
  acked: Counter<'topic'>;
  errors: Counter<'code'>;
  retries: Counter;
  pending: Gauge;
  ackLatency: Histogram;
}

/** A restarted sink reuses the registry's metrics instead of failing on a duplicate name. */
function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** The sink whose health a registry's gauge reports: the latest one created on it. */
const healthSources = new WeakMap<Registry, () => number>();

export function kafkaSinkMetrics(registry: Registry, health: () => number): KafkaSinkMetrics {
  const registers = [registry];
  healthSources.set(registry, health);
  reuse(
    registry,
    'fabric_kafka_sink_health',
    () =>
      new Gauge({
        name: 'fabric_kafka_sink_health',
        help: 'Kafka sink health: 0 ok, 1 degraded, 2 down.',
        registers,
        collect() {
          const read = healthSources.get(registry);
          if (read) this.set(read());
        },
      }),
  );
  return {
    acked: reuse(registry, 'fabric_kafka_sink_acked_events_total', () => new Counter({ name: 'fabric_kafka_sink_acked_events_total', help: 'Records the brokers acknowledged (acks=all).', labelNames: ['topic'] as const, registers })),
    errors: reuse(registry, 'fabric_kafka_sink_errors_total', () => new Counter({ name: 'fabric_kafka_sink_errors_total', help: 'Failed produce attempts, by broker error type.', labelNames: ['code'] as const, registers })),
    retries: reuse(registry, 'fabric_kafka_sink_retries_total', () => new Counter({ name: 'fabric_kafka_sink_retries_total', help: 'Produce requests sent again after a failure.', registers })),
    pending: reuse(registry, 'fabric_kafka_sink_pending_events', () => new Gauge({ name: 'fabric_kafka_sink_pending_events', help: 'Events accepted but not yet acknowledged.', registers })),
    ackLatency: reuse(
      registry,
      'fabric_kafka_sink_ack_latency_seconds',
      () =>
        new Histogram({
          name: 'fabric_kafka_sink_ack_latency_seconds',
          help: 'From write() accepting an event to the broker acknowledging it.',
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
          registers,
        }),
    ),
  };
}
