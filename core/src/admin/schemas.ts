import Type from 'typebox';
import type { TSchema } from 'typebox';
import { COLLECTOR_STATES, LOG_LEVELS } from '../host.js';
import type { CollectorCommand, CollectorState } from '../host.js';
import { INDICATOR_TYPES } from '../plugin-api/indicators.js';
import { timerLimit } from '../plugin-api/schema.js';
import type { IndicatorType } from '../plugin-api/indicators.js';
import { AdminErrorCodes } from './errors.js';

/**
 * Request and response schemas of every route. They drive validation, the handlers' TypeScript
 * types, response serialization (which also drops any field not declared here) and /openapi.json.
 */

const IsoTime = Type.String({ format: 'date-time', description: 'ISO 8601 time' });
const Json = Type.Unknown({ description: 'Any JSON value' });

export const CollectorStateSchema = Type.Unsafe<CollectorState>({ type: 'string', enum: [...COLLECTOR_STATES], description: 'State of the collector state machine' });
export const CollectorIdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'Collector id from the config' }) });

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.Unsafe<string>({ type: 'string', enum: Object.values(AdminErrorCodes), description: 'Stable error code' }),
    error: Type.String({ description: 'HTTP reason phrase' }),
    message: Type.String({ description: 'What went wrong and how to fix it' }),
    state: Type.Optional(Type.String({ description: 'Collector state, on 409' })),
    details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Error', title: 'Error' },
);
const ErrorRef = Type.Unsafe<{ statusCode: number; code: string; error: string; message: string }>(Type.Ref('Error'));

/** The error responses a route can produce, by status. 401 is on every authenticated route. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of statuses) out[s] = ErrorRef;
  return out;
}

export const HealthSchema = Type.Object({
  status: Type.Literal('ok'),
  uptimeSeconds: Type.Number(),
  collectors: Type.Object(
    { healthy: Type.Integer(), degraded: Type.Integer(), unhealthy: Type.Integer(), unknown: Type.Integer() },
    { description: 'Collectors by health (degraded: the last poll failed, or the state machine says degraded; unhealthy: failed)' },
  ),
});

export const ReadinessSchema = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Optional(
    Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) }), {
      description: 'Per-check results; only with the bearer token (they name files and backends).',
    }),
  ),
});

const Health = Type.Unsafe<'healthy' | 'degraded' | 'unhealthy' | 'unknown'>({ type: 'string', enum: ['healthy', 'degraded', 'unhealthy', 'unknown'] });
const Kind = Type.Unsafe<'source' | 'enricher'>({ type: 'string', enum: ['source', 'enricher'] });

const summaryFields = {
  id: Type.String(),
  plugin: Type.String({ description: 'Plugin package name' }),
  pluginVersion: Type.String(),
  kind: Kind,
  state: CollectorStateSchema,
  since: Type.String({ format: 'date-time', description: 'When the collector entered its current state' }),
  health: Health,
  lastErrorCode: Type.Optional(
    Type.String({ description: 'Why health is not healthy: the code of the last failed poll (or of the error that degraded or failed the collector); docs/errors.md' }),
  ),
};

export const CollectorSummarySchema = Type.Object(summaryFields, { $id: 'CollectorSummary', title: 'CollectorSummary' });
const CollectorSummaryRef = Type.Unsafe<import('../host.js').CollectorSummary>(Type.Ref('CollectorSummary'));

export const CollectorListSchema = Type.Object({ collectors: Type.Array(CollectorSummaryRef) });
export const CollectorListQuery = Type.Object({
  state: Type.Optional(CollectorStateSchema),
  kind: Type.Optional(Kind),
});

const DescriptionSchema = Type.Object(
  { backend: Type.String(), target: Type.Optional(Type.String()) },
  {
    additionalProperties: Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.String())]),
    description: 'What the collector talks to (plugin-provided; never contains secrets)',
  },
);

export const CollectorDetailSchema = Type.Object({
  ...summaryFields,
  description: DescriptionSchema,
  metrics: Type.Object({
    eventsCollected: Type.Integer(),
    eventsPublished: Type.Integer(),
    eventsDeduplicated: Type.Integer(),
    polls: Type.Integer(),
    pollErrors: Type.Integer(),
    restarts: Type.Integer(),
    lastPollAt: Type.Optional(IsoTime),
    lastSuccessAt: Type.Optional(IsoTime),
    inFlight: Type.Integer({ description: 'Events polled but not yet acknowledged by the sink' }),
    eventsDeadLettered: Type.Optional(Type.Integer({ description: 'Events refused one by one and dead-lettered (GET /dead-letters)' })),
  }),
  lastError: Type.Optional(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      retriable: Type.Boolean(),
      count: Type.Integer({ description: 'Occurrences in a row' }),
      since: IsoTime,
    }),
  ),
  checkpoint: Type.Object({ value: Type.Optional(Json), updatedAt: Type.Optional(IsoTime) }),
  restartCount: Type.Integer(),
  resources: Type.Optional(
    Type.Object(
      {
        isolation: Type.Union([Type.Literal('worker'), Type.Literal('inline')], { description: 'worker: the plugin instance runs in its own thread; inline: in the host thread' }),
        threadId: Type.Optional(Type.Integer()),
        heapUsedBytes: Type.Optional(Type.Integer({ description: "The worker's V8 heap in use (last heartbeat)" })),
        heapLimitBytes: Type.Optional(Type.Integer({ description: "The worker's heap limit (max_heap_mb)" })),
        eventLoopUtilization: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "Share of the last heartbeat interval the worker's event loop was busy" })),
        busyMs: Type.Optional(Type.Number({ description: "Time the worker's event loop has been busy since it started: its CPU time, roughly" })),
      },
      { description: 'How the plugin instance runs, and what its worker uses' },
    ),
  ),
});

export const MachineSchema = Type.Object({
  id: Type.String(),
  initial: Type.String(),
  current: Type.String(),
  states: Type.Array(
    Type.Object({
      name: Type.String(),
      final: Type.Optional(Type.Boolean()),
      transitions: Type.Array(Type.Object({ event: Type.String(), target: Type.String(), guarded: Type.Optional(Type.Boolean()) })),
    }),
  ),
});

export const TransitionSchema = Type.Object({
  at: IsoTime,
  from: Type.String(),
  to: Type.String(),
  event: Type.String(),
  reason: Type.Optional(Type.String()),
});
export const TransitionsSchema = Type.Object({ id: Type.String(), transitions: Type.Array(TransitionSchema) });
export const TransitionsQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });

export const COMMANDS: readonly CollectorCommand[] = ['start', 'stop', 'pause', 'resume', 'restart'];
export const CommandResultSchema = Type.Object({
  id: Type.String(),
  command: Type.Unsafe<CollectorCommand>({ type: 'string', enum: [...COMMANDS] }),
  state: CollectorStateSchema,
  instance: Type.Optional(Type.String({ description: 'Cluster mode: the instance that runs the collector and applied the command (202: sent through the cluster)' })),
});
export const CommandQuery = Type.Object({
  wait: Type.Optional(
    Type.Number({ minimum: 0, maximum: 60, default: 0, description: 'Seconds to wait for the collector to leave starting/stopping/restarting before answering' }),
  ),
});
export const BulkRestartQuery = Type.Object({
  onlyFailed: Type.Optional(Type.Boolean({ default: false, description: 'Restart only collectors in state "failed"' })),
});
export const BulkRestartSchema = Type.Object({
  results: Type.Array(Type.Object({ id: Type.String(), ok: Type.Boolean(), state: CollectorStateSchema, reason: Type.Optional(Type.String()) })),
});

export const CheckpointSchema = Type.Object({
  id: Type.String(),
  value: Type.Optional(Json),
  updatedAt: Type.Optional(IsoTime),
  instance: Type.Optional(Type.String({ description: 'Cluster mode: the instance that runs the collector and committed the change' })),
});
export const CheckpointBody = Type.Object(
  { value: Type.Unknown({ description: 'The new checkpoint: the opaque JSON value the source plugin stores (see GET first)' }) },
  { additionalProperties: false, required: ['value'] },
);

export const PluginSchema = Type.Object({
  name: Type.String(),
  version: Type.String(),
  kind: Type.Unsafe<'source' | 'enricher' | 'unknown'>({ type: 'string', enum: ['source', 'enricher', 'unknown'] }),
  apiRange: Type.String({ description: 'Plugin API versions the plugin declares it works with' }),
  compatible: Type.Boolean({ description: "Whether the range includes this host's plugin API version" }),
  description: Type.Optional(Type.String()),
  configSchema: Type.Optional(Type.Unknown({ description: "JSON Schema of the collector's config block" })),
  problem: Type.Optional(Type.String({ description: 'Why the plugin cannot be used' })),
});
export const PluginListSchema = Type.Object({ plugins: Type.Array(PluginSchema) });
export const PluginNameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 214, description: 'npm package name (URL-encode the slash of a scoped name)' }) });
export const ValidateBody = Type.Record(Type.String(), Type.Unknown(), { description: 'A candidate `config:` block for a collector of this plugin' });
export const ValidateResultSchema = Type.Object({
  plugin: Type.String(),
  valid: Type.Boolean(),
  errorCount: Type.Integer(),
  errors: Type.Array(Type.Object({ path: Type.String({ description: 'JSON pointer into the candidate config' }), message: Type.String(), value: Type.Optional(Json) })),
});

export const StatsSchema = Type.Record(Type.String(), Type.Unknown());

const IndicatorTypeSchema = Type.Unsafe<IndicatorType>({ type: 'string', enum: [...INDICATOR_TYPES] });
export const IndicatorSchema = Type.Object({ type: IndicatorTypeSchema, value: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false });
export const FalsePositiveSchema = Type.Object({ indicator: IndicatorSchema, reason: Type.Optional(Type.String()), markedAt: IsoTime });
export const FalsePositiveListSchema = Type.Object({ falsePositives: Type.Array(FalsePositiveSchema) });
export const FalsePositiveBody = Type.Object({ indicator: IndicatorSchema, reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });
export const FalsePositiveParams = Type.Object({ type: IndicatorTypeSchema, value: Type.String({ minLength: 1, maxLength: 2048 }) });

export const SharedSchemas: TSchema[] = [ErrorSchema, CollectorSummarySchema];

const CollectorConfigFields = {
  plugin: Type.String({ minLength: 1, maxLength: 214, description: 'npm package name of the plugin' }),
  enabled: Type.Optional(Type.Boolean({ description: 'false keeps the entry but runs no collector (default true)' })),
  interval_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, ...timerLimit('seconds'), description: 'Overrides orchestrator.collection_interval_seconds' })),
  isolation: Type.Optional(Type.Union([Type.Literal('worker'), Type.Literal('inline')], { description: 'Overrides orchestrator.isolation' })),
  max_heap_mb: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536, description: 'Overrides orchestrator.max_heap_mb' })),
  config: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: 'The plugin\'s config block, checked against the plugin\'s schema (GET /plugins/{name} shows it). A secret sent back as "[redacted]" keeps the stored value.',
    }),
  ),
};
const ConfigId = Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$', description: 'Unique id: letters, digits, _ . -' });
export const CollectorConfigBody = Type.Object(
  { id: Type.Optional(ConfigId), ...CollectorConfigFields },
  { additionalProperties: false, description: "A collector's entry of the config (`collectors:`), without or with its id" },
);
export const NewCollectorBody = Type.Object({ id: ConfigId, ...CollectorConfigFields }, { additionalProperties: false, description: 'A new collector: its config entry' });
export const CollectorConfigSchema = Type.Object({
  id: Type.String(),
  plugin: Type.String(),
  enabled: Type.Boolean(),
  interval_seconds: Type.Optional(Type.Number()),
  isolation: Type.Optional(Type.Union([Type.Literal('worker'), Type.Literal('inline')])),
  max_heap_mb: Type.Optional(Type.Integer()),
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'With the plugin defaults applied; secret fields read "[redacted]"' }),
});
const Ids = Type.Array(Type.String());
export const ReloadReportSchema = Type.Object({
  added: Ids,
  removed: Ids,
  restarted: Type.Array(Type.String(), { description: 'Collectors whose config changed: restarted with it' }),
  unchanged: Ids,
  restartRequired: Type.Array(Type.String(), { description: 'Changed config sections a running instance cannot take over; they apply at the next start' }),
  logLevel: Type.Optional(Type.String({ description: 'The new log level, when it changed' })),
});

const LogLevelSchema = Type.Unsafe<import('../host.js').LogLevel>({ type: 'string', enum: [...LOG_LEVELS] });
export const LoggersBody = Type.Object({ level: LogLevelSchema }, { additionalProperties: false });
export const LoggersSchema = Type.Object({ level: LogLevelSchema, previous: Type.Optional(LogLevelSchema) });

export const VersionSchema = Type.Object({
  version: Type.String({ description: 'Version of @reactive-fabric/core' }),
  node: Type.String({ description: 'Node.js version running the instance' }),
  pluginApi: Type.String({ description: 'Plugin API version plugins declare a range against' }),
  plugins: Type.Array(Type.Object({ name: Type.String(), version: Type.String(), collectors: Type.Array(Type.String()) }), {
    description: 'Plugin packages the running collectors and enrichers use',
  }),
});

export const EnricherIdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'Enricher id from the config' }) });
export const EnricherSchema = Type.Object({
  id: Type.String(),
  plugin: Type.String(),
  pluginVersion: Type.String(),
  state: CollectorStateSchema,
  health: Health,
  lastErrorCode: Type.Optional(Type.String()),
  sourceHealth: Type.Optional(
    Type.Object(
      { status: Type.String(), code: Type.Optional(Type.String()), reason: Type.Optional(Type.String()) },
      { description: "The enrichment stage's view of the source: answers, rate limiting, auth failures" },
    ),
  ),
  quota: Type.Optional(
    Type.Object({
      usedToday: Type.Integer({ description: 'Requests sent since 00:00 UTC' }),
      remainingToday: Type.Optional(Type.Integer({ description: 'Left of the daily quota (absent without a daily limit)' })),
      perMinute: Type.Number(),
      perDay: Type.Optional(Type.Number()),
      availableThisMinute: Type.Integer(),
    }),
  ),
  queue: Type.Optional(Type.Integer({ description: 'Indicators waiting for this source' })),
  cache: Type.Optional(
    Type.Object({
      entries: Type.Integer({ description: "This source's answers held in the verdict cache" }),
      hits: Type.Integer(),
      misses: Type.Integer(),
      hitRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'hits / (hits + misses) since start' })),
    }),
  ),
});
export const EnricherListSchema = Type.Object({ enrichers: Type.Array(EnricherSchema) });
export const CacheClearedSchema = Type.Object({ id: Type.String(), removed: Type.Integer({ description: 'Cached answers forgotten' }) });

const ClusterCollectorSchema = Type.Object({
  id: Type.String(),
  slot: Type.Integer({ minimum: 0, description: 'hash(id) mod 64: the slot (and partition of the internal topics) the collector lives in' }),
  pinned: Type.Optional(Type.String({ description: 'The instance it is pinned to (cluster.pinned)' })),
  owner: Type.Optional(Type.String({ description: 'The instance that runs it now' })),
  state: Type.Optional(Type.String({ description: 'Its latest published state (status topic)' })),
  stateFrom: Type.Optional(Type.String({ description: 'The instance that published that state' })),
  at: Type.Optional(IsoTime),
  problem: Type.Optional(
    Type.Union([Type.Literal('down'), Type.Literal('unassigned')], { description: 'down: pinned to an instance that is not a member; unassigned: no member owns its slot' }),
  ),
});

export const ClusterSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'false on a single instance (no cluster section): the other fields are then empty' }),
    group: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String({ description: 'The instance that answered' })),
    generation: Type.Integer({ minimum: 0, description: "The group's generation: one more at every rebalance" }),
    members: Type.Array(
      Type.Object({
        instance: Type.String(),
        memberId: Type.String(),
        slots: Type.Array(Type.Integer({ minimum: 0 })),
        collectors: Type.Array(Type.String()),
      }),
    ),
    collectors: Type.Array(ClusterCollectorSchema),
    ownedSlots: Type.Array(Type.Integer({ minimum: 0 }), { description: 'Slots the answering instance runs' }),
  },
  { $id: 'Cluster', title: 'Cluster' },
);
