import type { TypedEmitter } from 'tiny-typed-emitter';
import type { Registry } from 'prom-client';
import type { Checkpoint, CollectorDescription, FabricEvent, Indicator, PluginKind } from './plugin-api/index.js';
import { FabricError } from './errors/fabric-error.js';

/**
 * What a running Reactive Fabric instance exposes to its control surfaces (admin API, CLI).
 * The orchestrator implements it; the admin API depends only on this.
 */
export type CollectorState = 'idle' | 'starting' | 'running' | 'degraded' | 'restarting' | 'paused' | 'stopping' | 'stopped' | 'failed';
export const COLLECTOR_STATES: readonly CollectorState[] = ['idle', 'starting', 'running', 'degraded', 'restarting', 'paused', 'stopping', 'stopped', 'failed'];

export type CollectorCommand = 'start' | 'stop' | 'pause' | 'resume' | 'restart';

export interface LastError {
  code: string;
  message: string;
  retriable: boolean;
  /** How many times in a row this error occurred. */
  count: number;
  /** ISO time of the first occurrence in the current run of errors. */
  since: string;
}

export interface CollectorSummary {
  id: string;
  plugin: string;
  pluginVersion: string;
  kind: PluginKind;
  state: CollectorState;
  /** ISO time the collector entered its current state. */
  since: string;
  health: 'healthy' | 'degraded' | 'unhealthy' | 'unknown';
  /**
   * Why health is not healthy: the code of the failure that made it so (the last failed poll, or
   * the error that made the machine degrade or fail). Absent when healthy.
   */
  lastErrorCode?: string;
}

export interface CollectorMetricsSnapshot {
  eventsCollected: number;
  eventsPublished: number;
  eventsDeduplicated: number;
  polls: number;
  pollErrors: number;
  restarts: number;
  lastPollAt?: string;
  lastSuccessAt?: string;
  /** Events polled but not yet acknowledged by the sink. */
  inFlight: number;
  /** Events of this collector refused one by one and dead-lettered (GET /dead-letters). */
  eventsDeadLettered?: number;
}

export interface CheckpointSummary {
  value: Checkpoint | undefined;
  updatedAt?: string;
}

export interface CollectorDetail extends CollectorSummary {
  description: CollectorDescription;
  metrics: CollectorMetricsSnapshot;
  lastError?: LastError;
  checkpoint: CheckpointSummary;
  restartCount: number;
  /** Isolation mode and the worker's resource use. */
  resources?: { isolation: 'worker' | 'inline'; threadId?: number; heapUsedBytes?: number; heapLimitBytes?: number; eventLoopUtilization?: number; busyMs?: number };
}

export interface TransitionRecord {
  at: string;
  from: string;
  to: string;
  event: string;
  reason?: string;
}

export interface MachineGraph {
  id: string;
  initial: string;
  current: string;
  states: Array<{ name: string; final?: boolean; transitions: Array<{ event: string; target: string; guarded?: boolean }> }>;
}

export type CommandResult = { ok: true; state: CollectorState } | { ok: false; state: CollectorState; reason: string };

export interface InstalledPlugin {
  name: string;
  version: string;
  kind: PluginKind | 'unknown';
  /** Range the plugin declares. */
  apiRange: string;
  /** Whether it matches this host's PLUGIN_API_VERSION. */
  compatible: boolean;
  description?: string;
  configSchema?: unknown;
  /** Why it cannot be used, when it cannot. */
  problem?: string;
}

export interface FieldError {
  /** JSON pointer into the candidate config, e.g. "/tls/verify". */
  path: string;
  message: string;
  value?: unknown;
}

export interface HostEvents {
  transition: (record: TransitionRecord & { collector: string }) => void;
  status: (summary: CollectorSummary) => void;
  /** Events the sink acknowledged (the dashboard's detection feed); emitted only while someone listens. */
  published: (events: readonly FabricEvent[]) => void;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/** A collector's entry of the effective config (file + overlay), as `GET /collectors/:id/config` shows it. */
export interface CollectorConfigView {
  id: string;
  plugin: string;
  enabled: boolean;
  interval_seconds?: number;
  isolation?: 'worker' | 'inline';
  max_heap_mb?: number;
  /** The plugin's config block with its defaults applied; secret fields read "[redacted]". */
  config: Record<string, unknown>;
}

/** What a reload (`POST /reload`, SIGHUP) changed. */
export interface ReloadReport {
  added: string[];
  removed: string[];
  /** Collectors whose config changed: restarted with the new one. */
  restarted: string[];
  unchanged: string[];
  /** Changed sections a running instance cannot take over (sink, pipeline, enrichers…): they apply at the next start. */
  restartRequired: string[];
  logLevel?: string;
}

/**
 * Runtime changes to the collectors' config (Kafka Connect's connector config routes). Every
 * change is validated as `fabric validate` validates a file, applied by restarting only the
 * collector it concerns, and persisted to the overlay (`config/overlay.ts`).
 */
export interface ConfigControl {
  /** Throws HostError NOT_FOUND. */
  collectorConfig(id: string): CollectorConfigView;
  /** Throws ConfigRefusedError (nothing changed), HostError NOT_FOUND / CONFLICT. */
  updateCollectorConfig(id: string, entry: Record<string, unknown>): Promise<CollectorConfigView>;
  createCollector(entry: Record<string, unknown>): Promise<CollectorConfigView>;
  deleteCollector(id: string): Promise<void>;
  /** Re-read the config file and the overlay; throws ConfigRefusedError and keeps the running config when they are invalid. */
  reload(): Promise<ReloadReport>;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

/** One enricher as `GET /enrichers` shows it: its collector's state and health, quota, cache. */
export interface EnricherView {
  id: string;
  plugin: string;
  pluginVersion: string;
  state: CollectorState;
  health: CollectorSummary['health'];
  lastErrorCode?: string;
  /** The enrichment source's own view (answers, 429s, auth failures). */
  sourceHealth?: { status: string; code?: string; reason?: string };
  quota?: { usedToday: number; remainingToday?: number; perMinute: number; perDay?: number; availableThisMinute: number };
  queue?: number;
  cache?: { entries: number; hits: number; misses: number; hitRate?: number };
}

/** One instance of a cluster, as the group's latest assignment describes it. */
export interface ClusterMemberView {
  instance: string;
  memberId: string;
  slots: number[];
  /** Collectors of its slots, and those pinned to it. */
  collectors: string[];
}

/** A collector as the whole cluster sees it (any instance answers the same). */
export interface ClusterCollectorView {
  id: string;
  slot: number;
  /** The instance it is pinned to (`cluster.pinned`), if any. */
  pinned?: string;
  /** The instance that runs it: the owner of its slot (or its pin) when that instance is a member. */
  owner?: string;
  /** Its latest published state and the instance that published it. */
  state?: string;
  stateFrom?: string;
  at?: string;
  /** `down`: pinned to an instance that is not a member now; `unassigned`: nobody owns its slot yet. */
  problem?: 'down' | 'unassigned';
}

/** GET /cluster: the members, who runs what, the group's generation. */
export interface ClusterStatus {
  group: string;
  instance: string;
  generation: number;
  members: ClusterMemberView[];
  collectors: ClusterCollectorView[];
  /** This instance's own slots, as it runs them (fenced, restored, started). */
  ownedSlots: number[];
}

/** What cluster mode needs of the instance it runs in: its source collectors, started and stopped on demand. */
export interface SourceControl {
  /** Enabled source collectors of the config (every instance has the same). */
  sourceIds(): string[];
  /** Start a stopped collector from `checkpoint` (`paused`: up, but not polling). */
  startSource(id: string, checkpoint: CheckpointSummary, opts?: { paused?: boolean }): Promise<void>;
  /** No more polls; in-flight batches committed or refused, within the deadline. */
  stopSource(id: string, deadlineMs: number): Promise<void>;
  /** An operator's command, applied here (this instance runs the collector). */
  commandSource(id: string, command: CollectorCommand): Promise<CommandResult>;
  stateOf(id: string): CollectorState | undefined;
  /** Where a stopped collector reads from next (after its checkpoint was changed). */
  positionSource(id: string, checkpoint: CheckpointSummary): void;
}

/** A command or checkpoint change as the cluster carried it: which instance runs the collector, and its state there. */
export interface RoutedResult {
  ok: boolean;
  /** Its state on that instance, as far as this one knows when answering. */
  state: CollectorState;
  /** The instance that runs the collector (and applied the request). */
  instance?: string;
  reason?: string;
}

/** Cluster mode as the orchestrator drives it: the cluster, not the orchestrator, starts the sources. */
export interface ClusterRole {
  /** This instance's id. */
  readonly instance: string;
  /** The instance that runs source `id` now (its slot's owner, or its pin), if any. */
  ownerOf(id: string): string | undefined;
  start(sources: SourceControl): Promise<void>;
  /**
   * A command for a source, sent through the cluster's config topic to whichever instance runs it
   * (this one included); waits up to `waitMs` for the owner to report the result.
   */
  command(id: string, command: CollectorCommand, waitMs: number): Promise<RoutedResult>;
  /** Set (`null`: reset) a source's checkpoint through its owner; resolves once committed, or rejects after `waitMs`. */
  setCheckpoint(id: string, value: Checkpoint | null, waitMs: number): Promise<CheckpointSummary & { instance?: string }>;
  /** Hand the slots over (collectors stop and commit), then leave the group. */
  stop(deadlineMs: number): Promise<void>;
  status(): ClusterStatus;
}

export interface FabricHost {
  readonly events: TypedEmitter<HostEvents>;
  /** Cluster mode: the cluster's members and collectors; absent on a single instance. */
  cluster?(): ClusterStatus | undefined;
  readonly metrics: Registry;
  listCollectors(): CollectorSummary[];
  getCollector(id: string): CollectorDetail | undefined;
  /**
   * Resolves with the collector's state once `until` holds for it, or with its state when
   * `timeoutMs` passes first. Throws HostError NOT_FOUND.
   */
  waitForCollector(id: string, until: (state: CollectorState) => boolean, timeoutMs: number): Promise<CollectorState>;
  machine(id: string): MachineGraph | undefined;
  transitions(id: string, limit?: number): TransitionRecord[] | undefined;
  command(id: string, command: CollectorCommand): Promise<CommandResult>;
  /**
   * Cluster mode: send a source's command through the cluster to the instance that runs it and wait
   * up to `waitMs` for its result; undefined when the command is this instance's to apply itself.
   */
  routeCommand?(id: string, command: CollectorCommand, waitMs: number): Promise<RoutedResult | undefined>;
  /** Throws HostError NOT_FOUND / CONFLICT. */
  getCheckpoint(id: string): Promise<CheckpointSummary>;
  setCheckpoint(id: string, value: Checkpoint): Promise<CheckpointSummary>;
  resetCheckpoint(id: string): Promise<void>;
  plugins(): Promise<InstalledPlugin[]>;
  validatePluginConfig(pluginName: string, config: unknown): Promise<FieldError[]>;
  readiness(): Promise<ReadinessReport>;
  /** JSON form of the metrics (the same numbers /metrics exposes). */
  stats(): Promise<Record<string, unknown>>;
  /** Indicators an analyst marked as false positives: excluded from verdicts. */
  listFalsePositives(): Promise<FalsePositive[]>;
  markFalsePositive(indicator: Indicator, reason?: string): Promise<FalsePositive>;
  /** Returns false when the indicator was not marked. */
  unmarkFalsePositive(indicator: Indicator): Promise<boolean>;
  /** Most recent dead-lettered events (newest first), optionally of one collector. */
  deadLetters?(limit: number, collector?: string): DeadLetterView;
  /** The supervisor's restart budget (more than `intensity` restarts within `periodSeconds` → failed). */
  restartBudget?(): { intensity: number; periodSeconds: number };
  /** Each enrichment source's effective request limits (what the host's rate limiter enforces). */
  enrichmentLimits?(): Array<{ id: string; perMinute: number; perDay?: number }>;
  /** Runtime config changes; absent when the instance was not composed from a config file it can re-read. */
  readonly configControl?: ConfigControl | undefined;
  /** The running log level, and changing it (the admin API's `PUT /admin/loggers`). */
  logLevel?(): LogLevel;
  setLogLevel?(level: LogLevel): void;
  enrichers?(): EnricherView[];
  /** Forget one enricher's cached answers; returns how many. Throws HostError NOT_FOUND. */
  clearEnricherCache?(id: string): number;
}

/** A config change refused by validation; nothing was applied. `problems` name every field. */
export class ConfigRefusedError extends FabricError {
  declare readonly code: 'CONFIG_REFUSED';
  constructor(
    message: string,
    readonly problems: Array<{ path: string; message: string }>,
  ) {
    super('CONFIG_REFUSED', message);
  }
}

/**
 * One event the pipeline refused, as written to the dead-letter file or topic. Like Kafka
 * Connect's DLQ: the rest of its batch goes on, and this record says what was refused, why,
 * and from where, so it can be inspected, fixed at the source, and replayed by hand.
 */
export interface DeadLetterRecord {
  '@timestamp': string;
  collector: string;
  plugin: string;
  /** Where it was refused: `normalize` (the boundary) or `sink` (could not be serialised). */
  stage: 'normalize' | 'sink';
  /** A code of the dead-letter reasons in docs/errors.md (area `event`). */
  reason: { code: string; message: string };
  /** The event as received, serialised without throwing (cycles, BigInts, getters marked) and cut to `max_original_bytes`. */
  original: string;
  /** Length of the full serialised original before any cut (UTF-16 code units). */
  original_length: number;
  original_truncated: boolean;
  schema_version: string;
}

/** What `GET /dead-letters` shows: where records are written, totals, the newest records. */
export interface DeadLetterView {
  target?: string;
  total: number;
  writeFailures: number;
  records: DeadLetterRecord[];
}

export interface FalsePositive {
  indicator: Indicator;
  reason?: string;
  markedAt: string;
}

/** A host operation refused; the admin API maps each code to its own (`fromHostError`). */
export class HostError extends FabricError {
  declare readonly code: 'NOT_FOUND' | 'CONFLICT' | 'INVALID' | 'EXISTS';
  constructor(code: 'NOT_FOUND' | 'CONFLICT' | 'INVALID' | 'EXISTS', message: string) {
    super(code, message);
  }
}
