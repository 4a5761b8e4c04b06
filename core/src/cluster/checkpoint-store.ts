import type { TSchema } from 'typebox';
import type { Checkpoint } from '../plugin-api/index.js';
import type { CheckpointSummary } from '../host.js';
import { assertCheckpointValid, type CheckpointStore } from '../state/checkpoint-store.js';
import { SlotNotOwnedError } from './errors.js';
import type { SlotWriter } from './slot-writer.js';
import type { ClusterStateView } from './state-view.js';

export interface KafkaCheckpointStoreOptions {
  view: ClusterStateView;
  checkpointsTopic: string;
  slotOf(collector: string): number;
  /** The writer of the slot (or pin) `collector` belongs to, while this instance owns it. */
  writerFor(collector: string): SlotWriter | undefined;
  /** Who runs `collector` now, for the error that says where to send a change. */
  ownerOf(collector: string): string | undefined;
}

/**
 * Cluster mode's checkpoints: a compacted topic keyed by collector id, partition = slot. A batch's
 * position is committed in the batch's own transaction by the sink (`committedWithBatch`), so the
 * commit ledger writes nothing after an acknowledgement; write() and reset() are the operator's
 * changes (PUT/DELETE checkpoint), sent as checkpoint-only transactions by the slot's owner.
 */
export class KafkaCheckpointStore implements CheckpointStore {
  readonly committedWithBatch = true;

  constructor(private readonly o: KafkaCheckpointStoreOptions) {}

  async read(collectorId: string): Promise<CheckpointSummary> {
    const stored = this.o.view.checkpoint(collectorId);
    if (!stored || stored.value === null) return { value: undefined };
    return { value: stored.value, updatedAt: stored.updatedAt };
  }

  write(collectorId: string, value: Checkpoint): Promise<void> {
    return this.writer(collectorId).write([], { collector: collectorId, value: value ?? null });
  }

  reset(collectorId: string): Promise<void> {
    return this.writer(collectorId).write([], { collector: collectorId, value: null });
  }

  where(collectorId: string): string {
    return `topic ${this.o.checkpointsTopic}, partition ${this.o.slotOf(collectorId)}, key ${collectorId}`;
  }

  writeFailureFix(): string {
    return 'check the Kafka cluster (fabric status shows the sink); the batches are read again from the last committed position by whichever instance owns the collector';
  }

  assertValid(collectorId: string, schema: TSchema | undefined, value: Checkpoint | undefined): void {
    assertCheckpointValid(this.where(collectorId), collectorId, schema, value);
  }

  private writer(collectorId: string): SlotWriter {
    const w = this.o.writerFor(collectorId);
    if (w) return w;
    const owner = this.o.ownerOf(collectorId);
    throw new SlotNotOwnedError(
      `collector "${collectorId}" runs on ${owner ? `instance ${owner}` : 'no instance right now'}, not on this one: send the change to ${owner ? 'that instance' : 'its owner once it has one'} (GET /cluster lists who runs what)`,
    );
  }
}
