import { Registry, collectDefaultMetrics, type Counter, type Gauge, type Histogram } from 'prom-client';
import { counter, gauge, histogram } from './register.js';
import { COLLECTOR_STATES } from '../host.js';
import { registerEventLoopDelay } from './event-loop.js';

/** Default Node.js gauges whose *_total name promtool refuses (it is for counters). */
export const PROMTOOL_REJECTED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** The runtime's own metrics. Modules that own more (detection, sinks) register on the same registry. */
export class FabricMetrics {
  readonly registry: Registry;
  readonly eventsCollected: Counter<'collector'>;
  readonly eventsRejected: Counter<'collector'>;
  readonly eventsDeduplicated: Counter<'collector'>;
  readonly eventsPublished: Counter<'collector' | 'priority'>;
  readonly eventsFiltered: Counter<'collector'>;
  readonly pollErrors: Counter<'collector' | 'code'>;
  readonly restarts: Counter<'collector'>;
  readonly collectorState: Gauge<'collector' | 'state'>;
  readonly pollDuration: Histogram<'collector'>;
  readonly checkpointLag: Gauge<'collector'>;
  /** Per worker-isolated collector, from its worker's heartbeat. */
  readonly workerHeap: Gauge<'collector'>;
  readonly workerEventLoopUtilization: Gauge<'collector'>;
  readonly workerBusySeconds: Gauge<'collector'>;
  readonly queueDepth: Gauge<'unit'>;
  readonly sinkAcks: Counter<'sink'>;
  readonly stageErrors: Counter<'stage'>;
  readonly eventsDeadLettered: Counter<'collector' | 'reason'>;
  readonly deadLetterWriteFailures: Counter;
  readonly checkpointWriteFailures: Counter<'collector'>;

  constructor(registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics) {
      // Unprefixed, as every Node.js exporter names them (process_cpu_seconds_total,
      // nodejs_heap_size_used_bytes…), so stock Node.js dashboards and alerts work unchanged.
      collectDefaultMetrics({ register: registry });
      // prom-client names these gauges *_total, which Prometheus reserves for counters
      // (promtool check metrics rejects them); the same numbers are in nodejs_active_{handles,requests,resources}.
      for (const n of PROMTOOL_REJECTED) registry.removeSingleMetric(n);
      // The host process (not each test's registry): fabric_event_loop_delay_seconds{quantile}.
      registerEventLoopDelay(registry);
    }
    this.eventsCollected = counter(registry, { name: 'fabric_events_collected_total', help: 'Events returned by collector polls', labelNames: ['collector'] });
    this.eventsRejected = counter(registry, {
      name: 'fabric_events_rejected_total',
      help: 'Events refused one by one (not an object, no valid @timestamp, too deep or large, cycles, BigInt, unreadable, not serialisable) and dead-lettered; the rest of their batch went on',
      labelNames: ['collector'],
    });
    this.eventsDeduplicated = counter(registry, {
      name: 'fabric_events_deduplicated_total',
      help: 'Events dropped as duplicates within the de-duplication window',
      labelNames: ['collector'],
    });
    this.eventsPublished = counter(registry, { name: 'fabric_events_published_total', help: 'Events acknowledged by the sink', labelNames: ['collector', 'priority'] });
    this.eventsFiltered = counter(registry, {
      name: 'fabric_events_filtered_total',
      help: 'Events not published by routing (no detection, below min priority)',
      labelNames: ['collector'],
    });
    this.pollErrors = counter(registry, { name: 'fabric_collector_errors_total', help: 'Failed polls and starts', labelNames: ['collector', 'code'] });
    this.restarts = counter(registry, { name: 'fabric_collector_restarts_total', help: 'Supervisor restarts', labelNames: ['collector'] });
    this.collectorState = gauge(registry, { name: 'fabric_collector_state', help: '1 for the state each collector is in, 0 otherwise', labelNames: ['collector', 'state'] });
    this.pollDuration = histogram(registry, {
      name: 'fabric_poll_duration_seconds',
      help: 'Latency of collector polls',
      labelNames: ['collector'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.workerHeap = gauge(registry, {
      name: 'fabric_collector_worker_heap_used_bytes',
      help: "V8 heap in use by the collector's plugin worker (orchestrator.max_heap_mb bounds it)",
      labelNames: ['collector'],
    });
    this.workerEventLoopUtilization = gauge(registry, {
      name: 'fabric_collector_worker_event_loop_utilization',
      help: "Share of the last heartbeat interval the collector's plugin worker was busy (0-1)",
      labelNames: ['collector'],
    });
    this.workerBusySeconds = gauge(registry, {
      name: 'fabric_collector_worker_busy_seconds',
      help: "Time the collector's current plugin worker has spent busy since it started (its CPU time, roughly); restarts from 0 with the worker",
      labelNames: ['collector'],
    });
    this.checkpointLag = gauge(registry, { name: 'fabric_checkpoint_lag_events', help: 'Events polled but not yet covered by a committed checkpoint', labelNames: ['collector'] });
    this.queueDepth = gauge(registry, { name: 'fabric_pipeline_queue_depth', help: 'Pipeline in-flight load between poll and sink acknowledgement', labelNames: ['unit'] });
    this.sinkAcks = counter(registry, { name: 'fabric_sink_acknowledged_total', help: 'Events the sink confirmed durable', labelNames: ['sink'] });
    this.eventsDeadLettered = counter(registry, {
      name: 'fabric_events_dead_lettered_total',
      help: 'Events refused on their own (the rest of their batch went on) and sent to the dead-letter file or topic, by reason code',
      labelNames: ['collector', 'reason'],
    });
    this.deadLetterWriteFailures = counter(registry, {
      name: 'fabric_dead_letter_write_failures_total',
      help: 'Dead-letter records that could not be written to the dead-letter file or topic (logged and kept in memory only)',
    });
    this.checkpointWriteFailures = counter(registry, {
      name: 'fabric_checkpoint_write_failures_total',
      help: 'Checkpoint writes that failed (disk full, unwritable state_dir): the collector is degraded and its replay after a restart grows',
      labelNames: ['collector'],
    });
    this.stageErrors = counter(registry, {
      name: 'fabric_stage_errors_total',
      help: 'Pipeline stage failures (the batch continues unprocessed by that stage)',
      labelNames: ['stage'],
    });
  }

  setState(collector: string, state: string): void {
    for (const s of COLLECTOR_STATES) this.collectorState.set({ collector, state: s }, s === state ? 1 : 0);
  }

  /** A collector removed at runtime: its state series go (an alert on "stopped" must not fire for it); counters keep their totals. */
  forgetState(collector: string): void {
    for (const s of COLLECTOR_STATES) this.collectorState.remove({ collector, state: s });
  }
}
