import type { FabricEvent } from '../plugin-api/index.js';
import type { BatchTicket, PipelineStage } from './stage.js';

/**
 * Drops an event whose fingerprint was seen within the window (the same line read twice, by
 * one collector or two). Every entry lives exactly `windowMs`, so the Map's insertion order is
 * also its expiry order and purging only ever looks at the front. Bounded: beyond `maxEntries`
 * the oldest fingerprints are forgotten first, which can only let a duplicate through, never
 * drop a new event. Fingerprints of a batch whose sink write failed are forgotten (`abandon`),
 * so its events, read again, are not taken for duplicates of themselves.
 */
export class DedupStage implements PipelineStage {
  readonly name = 'deduplication';
  private readonly seen = new Map<string, number>();
  /** Fingerprints first recorded by each batch not yet acknowledged. */
  private readonly pending = new Map<number, string[]>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 500_000,
  ) {}

  async process(batch: FabricEvent[], ticket?: BatchTicket): Promise<FabricEvent[]> {
    if (this.windowMs <= 0) return batch;
    const now = Date.now();
    this.purge(now);
    const out: FabricEvent[] = [];
    const recorded: string[] = [];
    if (ticket) this.pending.set(ticket.seq, recorded);
    for (const e of batch) {
      const fp = e.fabric.fingerprint;
      const expires = this.seen.get(fp);
      if (expires !== undefined && expires > now) {
        if (ticket) ticket.dropped.duplicate++;
        continue;
      }
      this.seen.delete(fp);
      this.seen.set(fp, now + this.windowMs);
      recorded.push(fp);
      out.push(e);
    }
    return out;
  }

  async acknowledge(ticket: BatchTicket): Promise<void> {
    this.pending.delete(ticket.seq);
  }

  abandon(ticket: BatchTicket): void {
    for (const fp of this.pending.get(ticket.seq) ?? []) this.seen.delete(fp);
    this.pending.delete(ticket.seq);
  }

  private purge(now: number): void {
    for (const [fp, expires] of this.seen) {
      if (expires > now && this.seen.size <= this.maxEntries) break;
      this.seen.delete(fp);
    }
  }
}
