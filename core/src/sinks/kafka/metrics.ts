import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../metrics/register.js';

export interface KafkaSinkMetrics {
  acked: Counter<'topic'>;
  errors: Counter<'code'>;
  retries: Counter;
  pending: Gauge;
  ackLatency: Histogram;
}

/** The sink whose health a registry's gauge reports: the latest one created on it. */
const healthSources = new WeakMap<Registry, () => number>();

export function kafkaSinkMetrics(registry: Registry, health: () => number): KafkaSinkMetrics {
  healthSources.set(registry, health);
  gauge(registry, {
    name: 'fabric_kafka_sink_health',
    help: 'Kafka sink health: 0 ok, 1 degraded, 2 down.',
    collect() {
      const read = healthSources.get(registry);
      if (read) this.set(read());
    },
  });
  return {
    acked: counter(registry, { name: 'fabric_kafka_sink_acked_events_total', help: 'Records the brokers acknowledged (acks=all).', labelNames: ['topic'] as const }),
    errors: counter(registry, { name: 'fabric_kafka_sink_errors_total', help: 'Failed produce attempts, by broker error type.', labelNames: ['code'] as const }),
    retries: counter(registry, { name: 'fabric_kafka_sink_retries_total', help: 'Produce requests sent again after a failure.' }),
    pending: gauge(registry, { name: 'fabric_kafka_sink_pending_events', help: 'Events accepted but not yet acknowledged.' }),
    ackLatency: histogram(registry, {
      name: 'fabric_kafka_sink_ack_latency_seconds',
      help: 'From write() accepting an event to the broker acknowledging it.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
  };
}
