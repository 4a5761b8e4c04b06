import type { Checkpoint, FabricEvent } from '../plugin-api/index.js';

/** A collector lifecycle change, published on the status topic (`reactive_fabric.honeypot_status`). */
export interface CollectorStatusEvent {
  '@timestamp': string;
  collector: string;
  plugin: string;
  state: string;
  previous: string;
  /** The machine event that caused the transition (START, POLL_ERROR, …). */
  cause: string;
  reason?: string;
  error?: { code: string; message: string; retriable: boolean };
  /** Cluster mode: the instance that runs the collector (FABRIC_INSTANCE_ID, or hostname-pid). */
  instance?: string;
  schema_version: string;
}

/** The collector batch a write comes from, and the position after it. */
/** A record for another topic committed with a batch (cluster mode: re-keyed detections, the correlation changelog). */
export interface OutboundRecord {
  topic: string;
  /** The topic's partition. */
  partition: number;
  key: string;
  /** null: a tombstone (compacted topics). */
  value: string | null;
}

export interface BatchOrigin {
  collector: string;
  checkpoint: Checkpoint | undefined;
  /** Records for other topics committed with the batch (cluster mode's re-keyed detections). */
  records?: readonly OutboundRecord[];
}

export interface SinkHealth {
  state: 'ok' | 'degraded' | 'down';
  reason?: string;
  /** Events accepted but not yet acknowledged. */
  pending: number;
}

/**
 * Where published events go. `write` resolves only once every event in it is durable
 * (fsynced file, broker acknowledgement): the pipeline commits checkpoints on that promise.
 * A sink retries transient failures itself and keeps the promise pending meanwhile; it rejects
 * only when closed, so an accepted batch is never silently dropped.
 */
export interface Sink {
  readonly type: string;
  start(): Promise<void>;
  /** `origin`: the collector batch the events come from (a sink that commits checkpoints needs it). */
  write(events: readonly FabricEvent[], origin?: BatchOrigin): Promise<void>;
  /**
   * The sink commits each batch's checkpoint together with its events (cluster mode: one Kafka
   * transaction). The pipeline then writes a batch with nothing to publish too, for its position.
   */
  readonly commitsCheckpoints?: boolean;
  writeStatus(status: CollectorStatusEvent): Promise<void>;
  health(): SinkHealth;
  /** Flush in-flight writes within the deadline, then release resources. */
  close(deadlineMs: number): Promise<void>;
}

export { EVENT_SCHEMA_VERSION, RECORD_SCHEMA_VERSION } from '../events/schema-version.js';

/** What the host hands a sink when it creates one. */
export interface SinkContext {
  logger: import('pino').Logger;
  metrics: import('prom-client').Registry;
  /** Absolute state folder (`state_dir`). */
  stateDir: string;
  /** Folder of the config file: relative paths in the sink section resolve against it. */
  configDir?: string;
  env: NodeJS.ProcessEnv;
}
