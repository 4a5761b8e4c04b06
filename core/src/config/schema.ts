import Type from 'typebox';
import type { Static } from 'typebox';
import { DetectionConfigSchema } from '../detection/config.js';
import { CorrelationConfigSchema } from '../correlation/config.js';
import { EnrichmentConfigSchema } from '../enrichment/config.js';
import { AdminConfigSchema } from '../admin/config.js';
import { KafkaSinkConfigSchema } from '../sinks/kafka/config.js';
import { JsonlSinkConfigSchema } from '../sinks/jsonl-config.js';
import { ClusterConfigSchema } from '../cluster/config.js';
import { spanLimit, timerLimit } from '../plugin-api/schema.js';

const Id = Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$', description: 'Unique id: letters, digits, _ . -' });

const Isolation = Type.Union([Type.Literal('worker'), Type.Literal('inline')], {
  default: 'worker',
  description:
    'worker: each collector and enricher runs its plugin in its own worker thread (a plugin that hangs, leaks, exits or throws ends only its thread); inline: in the host thread (trusted, hot plugins).',
});

export const OrchestratorConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    collection_interval_seconds: Type.Number({ exclusiveMinimum: 0, default: 60, ...timerLimit('seconds') }),
    interval_jitter: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: 'Fraction of the interval added at random, so collectors do not poll in lockstep.' }),
    event_batch_size: Type.Integer({ minimum: 1, maximum: 100000, default: 100 }),
    max_concurrent_collections: Type.Integer({ minimum: 1, default: 3 }),
    health_check_interval_seconds: Type.Number({ exclusiveMinimum: 0, default: 30, ...timerLimit('seconds') }),
    auto_restart_unhealthy: Type.Boolean({ default: true }),
    event_deduplication_window_seconds: Type.Number({ ...spanLimit('seconds'), minimum: 0, default: 300 }),
    poll_timeout_seconds: Type.Number({ exclusiveMinimum: 0, default: 30, ...timerLimit('seconds') }),
    degraded_after_errors: Type.Integer({ minimum: 1, default: 3, description: 'Consecutive poll errors before a collector is degraded.' }),
    stalled_after_intervals: Type.Number({ exclusiveMinimum: 0, default: 3, description: 'Degraded when no poll succeeded within this many intervals.' }),
    restart_degraded_after_checks: Type.Integer({ minimum: 1, default: 3, description: 'With auto_restart_unhealthy, restart after this many health checks in degraded.' }),
    isolation: Isolation,
    max_heap_mb: Type.Integer({
      minimum: 16,
      maximum: 65536,
      default: 512,
      description: "Heap limit of each collector's (and enricher's) worker thread (V8 old generation); past it the worker is stopped (MEMORY_LIMIT) and the collector restarted.",
    }),
    unresponsive_after_seconds: Type.Number({
      exclusiveMinimum: 0,
      default: 10,
      ...timerLimit('seconds'),
      description: 'A worker that sends no heartbeat for this long (its event loop is blocked) is terminated (UNRESPONSIVE) and the collector restarted.',
    }),
    max_batch_bytes: Type.Integer({
      minimum: 1024,
      maximum: 1073741824,
      default: 33554432,
      description: 'Largest poll batch (as JSON bytes) a worker may hand to the host; larger → CONTRACT_VIOLATION, nothing of it delivered, read again.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const SupervisorConfigSchema = Type.Object(
  {
    backoff_min_seconds: Type.Number({ exclusiveMinimum: 0, default: 1, ...timerLimit('seconds') }),
    backoff_max_seconds: Type.Number({ exclusiveMinimum: 0, default: 300, ...timerLimit('seconds') }),
    stable_after_seconds: Type.Number({ minimum: 0, default: 600, ...timerLimit('seconds'), description: 'Running this long resets the backoff.' }),
    restart_intensity: Type.Integer({ minimum: 0, default: 5, description: 'More restarts than this within restart_period_seconds → failed.' }),
    restart_period_seconds: Type.Number({ ...spanLimit('seconds'), exclusiveMinimum: 0, default: 300 }),
    shutdown_timeout_seconds: Type.Number({ exclusiveMinimum: 0, default: 10, ...timerLimit('seconds') }),
  },
  { additionalProperties: false, default: {} },
);

export const PipelineConfigSchema = Type.Object(
  {
    max_in_flight_batches: Type.Integer({ minimum: 1, default: 8, description: 'Batches between poll and sink acknowledgement; past it, sources stop polling.' }),
    max_buffered_events: Type.Integer({ minimum: 1, default: 20000, description: 'Events between poll and sink acknowledgement; past it, sources stop polling.' }),
    publish: Type.Union([Type.Literal('detections'), Type.Literal('all')], {
      default: 'detections',
      description: '"detections": only events that matched a rule (and alerts); "all": every collected event.',
    }),
    max_event_depth: Type.Integer({ minimum: 2, maximum: 1000, default: 32, description: 'Deepest nesting an event may have; deeper events are dead-lettered (TOO_DEEP).' }),
    max_event_bytes: Type.Integer({
      minimum: 1024,
      maximum: 268435456,
      default: 1048576,
      description: 'Largest event (keys and values, in characters); larger events are dead-lettered (TOO_LARGE).',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** `dead_letter:` — where events refused one by one go (issue 16). The Kafka sink uses its `topics.dead_letter` instead of the file. */
export const DeadLetterConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Write refused events to the dead-letter file (jsonl sink) or topic (kafka sink). When false they are only counted, logged and kept in memory.',
    }),
    path: Type.Optional(Type.String({ minLength: 1, description: 'Dead-letter file for the jsonl sink; default <state_dir>/dead-letters.jsonl. Relative to the config file.' })),
    max_original_bytes: Type.Integer({
      minimum: 256,
      maximum: 16777216,
      default: 65536,
      description: 'The refused event is kept in each record as text, cut to this many characters.',
    }),
    recent: Type.Integer({ minimum: 0, maximum: 100000, default: 1000, description: 'Most recent records kept in memory for GET /dead-letters.' }),
  },
  { additionalProperties: false, default: {} },
);

const Priority = Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low'), Type.Literal('info')]);

export const RoutingConfigSchema = Type.Object(
  {
    min_priority: Type.Union([Priority], { default: 'info', description: 'Events below this priority are not published.' }),
  },
  { additionalProperties: false, default: {} },
);

export const CollectorConfigSchema = Type.Object(
  {
    id: Id,
    plugin: Type.String({ minLength: 1, description: 'npm package name of the plugin' }),
    enabled: Type.Boolean({ default: true }),
    interval_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, ...timerLimit('seconds'), description: 'Overrides orchestrator.collection_interval_seconds' })),
    isolation: Type.Optional(Type.Union([Type.Literal('worker'), Type.Literal('inline')], { description: 'Overrides orchestrator.isolation for this collector' })),
    max_heap_mb: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536, description: 'Overrides orchestrator.max_heap_mb for this collector' })),
    config: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
  },
  { additionalProperties: false },
);

export const EnricherConfigSchema = Type.Object(
  {
    id: Id,
    plugin: Type.String({ minLength: 1 }),
    enabled: Type.Boolean({ default: true }),
    isolation: Type.Optional(
      Type.Union([Type.Literal('worker'), Type.Literal('inline')], {
        description: 'Overrides orchestrator.isolation for this enricher: worker runs its create, start, lookups and health checks in its own thread',
      }),
    ),
    max_heap_mb: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536, description: 'Overrides orchestrator.max_heap_mb for this enricher' })),
    config: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
  },
  { additionalProperties: false },
);

export const FabricConfigSchema = Type.Object(
  {
    state_dir: Type.String({ default: './.fabric', description: 'Local state: checkpoints, caches, events file. Relative to the config file.' }),
    log_level: Type.Union([Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')], {
      default: 'info',
    }),
    plugin_paths: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Folders searched for plugin packages, in order, before the working directory, the config folder and the installed fabric (each like a node_modules folder). Relative to the config file.',
    }),
    orchestrator: OrchestratorConfigSchema,
    supervisor: SupervisorConfigSchema,
    pipeline: PipelineConfigSchema,
    routing: RoutingConfigSchema,
    detection: DetectionConfigSchema,
    correlation: CorrelationConfigSchema,
    enrichment: EnrichmentConfigSchema,
    admin: AdminConfigSchema,
    sink: Type.Union([JsonlSinkConfigSchema, KafkaSinkConfigSchema], { default: { type: 'jsonl' } }),
    dead_letter: DeadLetterConfigSchema,
    collectors: Type.Array(CollectorConfigSchema, { default: [] }),
    enrichers: Type.Array(EnricherConfigSchema, { default: [] }),
    cluster: Type.Optional(ClusterConfigSchema),
  },
  { additionalProperties: false },
);

export type FabricConfig = Static<typeof FabricConfigSchema>;
export type CollectorConfig = Static<typeof CollectorConfigSchema>;
export type EnricherConfig = Static<typeof EnricherConfigSchema>;
export type OrchestratorConfig = Static<typeof OrchestratorConfigSchema>;
export type SupervisorConfig = Static<typeof SupervisorConfigSchema>;
export type PipelineConfig = Static<typeof PipelineConfigSchema>;
