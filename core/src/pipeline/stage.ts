import type { FabricEvent } from '../plugin-api/index.js';
import type { OutboundRecord } from '../sinks/sink.js';

/**
 * The identity of one submitted batch. A stage that keeps state per batch (correlation's
 * alerts waiting for the sink) releases exactly that batch's state on `acknowledge(ticket)`,
 * whatever order acknowledgements arrive in.
 */
export interface BatchTicket {
  /** Increasing per pipeline, in submission order. */
  readonly seq: number;
  readonly collector: string;
  /** Events a stage dropped on purpose, by reason; returned to the collector in the batch result. */
  readonly dropped: DropCounts;
  /**
   * Records for other topics that must be committed with this batch (cluster mode: detections
   * re-keyed for correlation). Present only when the sink commits checkpoints with the batch.
   */
  readonly outbound?: OutboundRecord[];
}

export interface DropCounts {
  /** Seen within the de-duplication window. */
  duplicate: number;
}

/**
 * One step of the pipeline (detection, de-duplication, correlation, enrichment, routing).
 * A stage may annotate, drop or add events (a correlation alert is an added event).
 *
 * Lifecycle (ARCHITECTURE.md, "Stage lifecycle"): `start` → (`process` | `acknowledge` |
 * `abandon`)* → `flush` → `stop`.
 * - `process(batch, ticket)` is called once per batch, batches in submission order, never two at once.
 * - `acknowledge(ticket)` is called after that batch's events are durable in the sink (or there
 *   was nothing to publish), at most once per ticket, possibly out of submission order, and
 *   never for a batch whose sink write failed: what such a batch produced must be produced again
 *   when its events are read again after a restart.
 * - `abandon(ticket)` is called instead, when that batch's sink write failed: its events will be
 *   read again, so what the batch recorded that would make the replay look like a repeat (the
 *   de-duplication fingerprints) must be forgotten.
 * - `flush()` persists what must survive a restart, once, after the last acknowledgement and
 *   before `stop`.
 */
export interface PipelineStage {
  readonly name: string;
  start?(): Promise<void>;
  process(batch: FabricEvent[], ticket: BatchTicket): Promise<FabricEvent[]>;
  /** The sink acknowledged the batch of `ticket`. */
  acknowledge?(ticket: BatchTicket): Promise<void>;
  /** The batch of `ticket` was not acknowledged (sink write failed); it will be read again. */
  abandon?(ticket: BatchTicket): void;
  /** Persist state that must survive restarts; called on stop. */
  flush?(): Promise<void>;
  stop?(): Promise<void>;
  /** True while the stage is saturated (e.g. its worker pool queue is full): sources wait. */
  readonly needsDrain?: boolean;
  /** Resolves when the stage can take more work again. */
  drain?(): Promise<void>;
}
