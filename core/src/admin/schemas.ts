import Type from 'typebox';
import type { TSchema } from 'typebox';
import { COLLECTOR_STATES } from '../host.js';
import type { CollectorCommand, CollectorState } from '../host.js';
import { INDICATOR_TYPES } from '../plugin-api/indicators.js';
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

export const HealthSchema = Type.Object({ status: Type.Literal('ok'), uptimeSeconds: Type.Number() });

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

export const CheckpointSchema = Type.Object({ id: Type.String(), value: Type.Optional(Json), updatedAt: Type.Optional(IsoTime) });
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
