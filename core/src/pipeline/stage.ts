import type { FabricEvent } from '../plugin-api/index.js';

/**
 * One step of the pipeline (detection, de-duplication, correlation, enrichment, routing).
 * A stage may annotate, drop or add events (a correlation alert is an added event).
 * Stages run in a fixed order and see each collector's batches in poll order.
 */
export interface PipelineStage {
  readonly name: string;
  start?(): Promise<void>;
  process(batch: FabricEvent[]): Promise<FabricEvent[]>;
  /** Persist state that must survive restarts (called after the sink acknowledged a batch). */
  checkpoint?(): Promise<void>;
  stop?(): Promise<void>;
  /** True while the stage is saturated (e.g. its worker pool queue is full): sources wait. */
  readonly needsDrain?: boolean;
  /** Resolves when the stage can take more work again. */
  drain?(): Promise<void>;
}
