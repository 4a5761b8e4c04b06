import type { Static, TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { ErrorCodes, PluginError } from './errors.js';
import type { JsonValue, SourceEvent } from './events.js';
import type { Indicator, IndicatorType, Verdict } from './indicators.js';

/** The plugin API version this build of core implements. Plugins declare a semver range against it. */
export const PLUGIN_API_VERSION = '1.1.0';

export type PluginKind = 'source' | 'enricher';

/** Opaque, JSON-serialisable position of a source (file offset, timestamp + tiebreaker, page token…). */
export type Checkpoint = JsonValue;

/** Minimal structured logger handed to plugins (a pino child logger in the host). */
export interface PluginLogger {
  debug(obj: Record<string, unknown> | string, msg?: string): void;
  info(obj: Record<string, unknown> | string, msg?: string): void;
  warn(obj: Record<string, unknown> | string, msg?: string): void;
  error(obj: Record<string, unknown> | string, msg?: string): void;
}

export interface PluginContext {
  /** The collector id from the config (unique per host). */
  collectorId: string;
  logger: PluginLogger;
  /** A private folder for this collector's files (created on demand by the host). */
  stateDir: string;
  /** Host-wide abort: fires when the host shuts down. */
  signal: AbortSignal;
  /** Folder of the config file; resolve relative paths of your config against it. */
  configDir?: string;
}

/** What a collector is, for operators: shown by the admin API and in logs. Never secrets. */
export interface CollectorDescription {
  /** e.g. "elasticsearch", "splunk", "file". */
  backend: string;
  /** Host or path the collector talks to, e.g. "https://es.internal:9200" (without credentials). */
  target?: string;
  [key: string]: string | number | boolean | string[] | undefined;
}

export interface HealthReport {
  status: 'healthy' | 'degraded' | 'unhealthy';
  /** Why, for operators. */
  reason?: string;
  code?: string;
}

export interface PollRequest {
  /** The last committed checkpoint, or undefined on the very first poll. */
  checkpoint: Checkpoint | undefined;
  /** Aborted when the poll times out or the collector stops. Pass it to fetch(). */
  signal: AbortSignal;
  /** The most events the host wants from this poll (from `event_batch_size`). */
  maxEvents: number;
}

export interface PollResult {
  events: SourceEvent[];
  /** The position after these events; committed only once the sink confirmed them. */
  checkpoint: Checkpoint;
  /** True when more data is ready now: the host polls again without waiting for the interval. */
  hasMore?: boolean;
}

interface Lifecycle {
  /** Called once before the first poll/lookup. Throwing here counts as a failed start. */
  start?(): Promise<void>;
  /** Release connections and timers. Must be idempotent. */
  stop?(): Promise<void>;
  /** Cheap liveness/credential probe; the supervisor calls it every `health_check_interval_seconds`. */
  healthCheck?(signal: AbortSignal): Promise<HealthReport>;
  /** Who/what this instance talks to. Must not contain secrets. */
  describe?(): CollectorDescription;
}

export interface SourceInstance extends Lifecycle {
  poll(request: PollRequest): Promise<PollResult>;
}

export interface LookupOptions {
  signal: AbortSignal;
}

export interface EnricherLimits {
  /** Default requests per minute (the user can lower it in config). */
  requestsPerMinute?: number;
  /** Default requests per day, e.g. VirusTotal public API 500. */
  requestsPerDay?: number;
  /** Most indicators one lookup() call may carry (1 when the API has no bulk endpoint). */
  maxBatchSize?: number;
}

export interface EnricherInstance extends Lifecycle {
  /** Indicator types this instance will look up (after its config, e.g. check_hashes: false). */
  readonly supports: readonly IndicatorType[];
  /** The API's limits, which the host's rate limiter enforces. */
  readonly limits?: EnricherLimits;
  /**
   * A stable key of everything that changes answers (API key, endpoint, options), hashed by the
   * host so that a changed key or config never serves stale cached verdicts.
   */
  cacheKey?(): string;
  /** Look up indicators; one verdict per indicator, `unknown` for never-seen ones. */
  lookup(indicators: Indicator[], options: LookupOptions): Promise<Verdict[]>;
  /** Optional feed: when present, the plugin can also run as a source collector (e.g. OTX pulses). */
  poll?(request: PollRequest): Promise<PollResult>;
}

export type InstanceOf<K extends PluginKind> = K extends 'source' ? SourceInstance : EnricherInstance;

export interface PluginDefinition<S extends TSchema = TSchema, K extends PluginKind = PluginKind> {
  /** npm package name, e.g. "@acme/reactive-fabric-plugin-foo". */
  name: string;
  /** The plugin's own version (usually its package.json version). */
  version: string;
  kind: K;
  /** Semver range of the plugin API this plugin works with, e.g. "^1.0.0". */
  apiVersion: string;
  description?: string;
  /** JSON Schema (TypeBox) of the collector's `config` block. Defaults are applied by the host. */
  configSchema: S;
  /**
   * JSON Schema (TypeBox) of the checkpoints this plugin's poll() returns (plugin API 1.x, optional).
   * When present the host refuses a stored checkpoint that does not match it — at collector start
   * (BAD_CONFIG, the collector does not poll) and on `PUT /collectors/:id/checkpoint` (400) — so a
   * hand-edited or corrupted position can never make the plugin silently re-read or skip data.
   * `undefined` (no checkpoint yet) is never checked. Accept every shape an older version of the
   * plugin wrote, or users cannot upgrade without a reset.
   */
  checkpointSchema?: TSchema;
  /**
   * Where a source's data can be read (plugin API 1.1, optional; default `anywhere`). `host`: only on
   * the machine it runs on (local files). In cluster mode a `host` collector that is not pinned to an
   * instance (`cluster.pinned`) would move to instances that do not have its data: `fabric validate`
   * and start say so.
   */
  locality?: 'host' | 'anywhere';
  /** Build an instance for one collector. Do not do I/O here; do it in start(). */
  create(config: Static<S>, context: PluginContext): InstanceOf<K> | Promise<InstanceOf<K>>;
}

/** Declare a plugin. The identity function exists to give authors full type inference. */
export function definePlugin<S extends TSchema, K extends PluginKind>(definition: PluginDefinition<S, K>): PluginDefinition<S, K> {
  return definition;
}

/** One place where a checkpoint does not match a `checkpointSchema`. */
export interface CheckpointFieldError {
  /** JSON pointer into the checkpoint ("/" for the whole value). */
  path: string;
  message: string;
  /** The offending value, when there is one. */
  value?: unknown;
}

/** Most problems reported for one checkpoint: a hostile value can have thousands; one is enough to act. */
const MAX_CHECKPOINT_ERRORS = 5;

/**
 * Where `checkpoint` does not match `schema` (at most a few places). Empty when it matches, when
 * there is no schema, or when there is no checkpoint yet (`undefined`). The host runs this on
 * stored checkpoints; plugin tests can run it on what poll() returns.
 */
export function checkpointSchemaErrors(schema: TSchema | undefined, checkpoint: Checkpoint | undefined): CheckpointFieldError[] {
  if (!schema || checkpoint === undefined) return [];
  let errors: ReturnType<typeof Value.Errors>;
  try {
    errors = Value.Errors(schema, checkpoint);
  } catch (err) {
    throw new PluginError(ErrorCodes.CONTRACT_VIOLATION, `the plugin's checkpointSchema is not a usable JSON Schema (${(err as Error).message}); fix the plugin`, {
      retriable: false,
    });
  }
  const byPath = new Map<string, CheckpointFieldError>();
  let seen = 0;
  for (const e of errors) {
    if (++seen > 200) break; // a hostile value can have millions of errors; a few say enough
    // "must match a schema in anyOf" only repeats what the branches said.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const params = e.params as Record<string, unknown>;
    const found: CheckpointFieldError[] =
      e.keyword === 'required' && Array.isArray(params.requiredProperties)
        ? (params.requiredProperties as string[]).map((key) => ({ path: `${e.instancePath}/${key}`, message: `required field "${key}" is missing` }))
        : [{ path: e.instancePath || '/', message: e.message, value: valueAt(checkpoint, e.instancePath) }];
    for (const f of found) {
      const prev = byPath.get(f.path);
      // Union branches report the same place several times: "type must be null or type must be object".
      if (prev) {
        if (!prev.message.split(' or ').includes(f.message)) prev.message = `${prev.message} or ${f.message}`;
      } else byPath.set(f.path, f);
    }
  }
  let out = [...byPath.values()];
  // A deeper problem is the useful one: "/files/x/offset: must be integer", not "/: must be null".
  if (out.some((f) => f.path !== '/')) out = out.filter((f) => f.path !== '/');
  return out.slice(0, MAX_CHECKPOINT_ERRORS);
}

function valueAt(value: unknown, pointer: string): unknown {
  let cur = value;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return cur;
}
