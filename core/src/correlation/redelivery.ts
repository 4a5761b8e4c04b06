import type { FabricEvent } from '../plugin-api/events.js';
import { annotateEvent } from './alert.js';

/** Batches awaiting acknowledgement: far more than pipeline.max_in_flight_batches allows. */
export const MAX_PENDING_BATCHES = 64;
/** Unacknowledged alerts kept in a checkpoint: more than the pipeline ever has in flight. */
const MAX_UNACKED = 10_000;

/** An alert and the detection that fired it ('' when the watermark did: no detection brings it back). */
export interface PendingAlert {
  trigger: string;
  alert: FabricEvent;
}

/**
 * Alerts the sink has not made durable yet, and sending them again after a restart. Each
 * batch's alerts are kept, with the detection that fired each, until the pipeline acknowledges
 * that batch; the checkpoint holds them. After a restart the source re-delivers what it was not
 * told was written: when a detection that fired one of those alerts comes back, the very same
 * alert (same id) goes out again, so a crash between firing and the sink's acknowledgement does
 * not lose it.
 */
export class Redelivery {
  /** Per processed batch, oldest first: alerts emitted, until the pipeline acknowledges that batch. */
  private readonly pending: PendingAlert[][] = [];
  /** From the checkpoint: alerts never acknowledged before the restart, by the detection that fired them. */
  private readonly owed = new Map<string, FabricEvent[]>();
  /** Re-deliveries come first after a restart; past this many batches the leftovers are forgotten. */
  private batchesLeft = 0;
  /** Alerts re-sent in the batch being correlated, by id: members restored from the checkpoint have no slot. */
  private resentById: Map<string, FabricEvent> | undefined;
  /** The list a checkpoint holds (`unacknowledged()`) changed since the last delta. */
  private changed = false;

  /** A batch is being correlated: pending until acknowledged. Returns the list its alerts go to (`fired`). */
  begin(): PendingAlert[] {
    const batch: PendingAlert[] = [];
    this.pending.push(batch);
    // A host that never acknowledges (no checkpoints) must not make this grow without bound.
    if (this.pending.length > MAX_PENDING_BATCHES && this.pending.shift()!.length > 0) this.changed = true;
    if (this.owed.size > 0 && --this.batchesLeft < 0) {
      this.owed.clear();
      this.changed = true;
    }
    return batch;
  }

  /** The batch's alerts, parallel to the detection that fired each. */
  fired(batch: PendingAlert[], alerts: FabricEvent[], triggers: string[]): void {
    alerts.forEach((alert, i) => batch.push({ trigger: triggers[i] ?? '', alert }));
    if (alerts.length > 0) this.changed = true;
  }

  /** End of the batch being correlated. */
  end(): void {
    this.resentById = undefined;
  }

  /**
   * The sink acknowledged the oldest batch still pending: its alerts are durable and will not be
   * re-sent after a restart. Returns whether the checkpoint's list changed.
   */
  acknowledge(): boolean {
    const batch = this.pending.shift();
    if (batch && batch.length > 0) {
      this.changed = true;
      return true;
    }
    return false;
  }

  /** Alerts from before a restart are still owed (cheap check before `resend`). */
  get owing(): boolean {
    return this.owed.size > 0;
  }

  /**
   * Detection `e` came back and fired alerts before the restart that were never acknowledged:
   * those alerts, to be sent again (once), and `e` carries their ids as before.
   */
  resend(e: FabricEvent): FabricEvent[] | undefined {
    const alerts = this.owed.get(e.event.id);
    if (!alerts) return undefined;
    this.owed.delete(e.event.id);
    this.changed = true;
    this.resentById ??= new Map();
    for (const alert of alerts) {
      this.resentById.set(alert.event.id, alert);
      annotateEvent(e, alert.event.id);
    }
    return alerts;
  }

  /** An alert re-sent in the batch being correlated (a chained rule's member restored without a slot). */
  resent(id: string): FabricEvent | undefined {
    return this.resentById?.get(id);
  }

  /** What a checkpoint keeps: alerts of pending batches that a detection fired, then those still owed. */
  unacknowledged(): PendingAlert[] {
    const unacknowledged = this.pending
      .flat()
      .filter((u) => u.trigger !== '')
      .slice(-MAX_UNACKED);
    for (const [trigger, alerts] of this.owed) for (const alert of alerts) unacknowledged.push({ trigger, alert });
    return unacknowledged;
  }

  /** Whether the list changed since the last call; `markChanged()` undoes it when that delta is not written. */
  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  markChanged(): void {
    this.changed = true;
  }

  /** The checkpoint's unacknowledged alerts become owed, for at most MAX_PENDING_BATCHES batches. */
  restore(list: readonly PendingAlert[]): void {
    for (const u of list) {
      if (!u || typeof u.trigger !== 'string' || !u.trigger || !u.alert?.event?.id) continue;
      const alerts = this.owed.get(u.trigger) ?? [];
      alerts.push(u.alert);
      this.owed.set(u.trigger, alerts);
    }
    this.batchesLeft = MAX_PENDING_BATCHES;
  }
}
