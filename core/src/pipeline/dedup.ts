import { LRUCache } from 'lru-cache';
import type { FabricEvent } from '../plugin-api/index.js';
import type { PipelineStage } from './stage.js';

/**
 * Drops an event whose fingerprint was seen within the window (the same line read twice, by
 * one collector or two). Bounded: beyond `maxEntries` the oldest fingerprints are forgotten
 * first, which can only let a duplicate through, never drop a new event.
 */
export class DedupStage implements PipelineStage {
  readonly name = 'deduplication';
  private readonly seen: LRUCache<string, true> | undefined;

  constructor(
    windowMs: number,
    private readonly onDuplicate: (event: FabricEvent) => void,
    maxEntries = 500_000,
  ) {
    this.seen = windowMs > 0 ? new LRUCache<string, true>({ max: maxEntries, ttl: windowMs, ttlAutopurge: false, updateAgeOnGet: false }) : undefined;
  }

  async process(batch: FabricEvent[]): Promise<FabricEvent[]> {
    const seen = this.seen;
    if (!seen) return batch;
    const out: FabricEvent[] = [];
    for (const e of batch) {
      const fp = e.fabric.fingerprint;
      if (seen.has(fp)) {
        this.onDuplicate(e);
        continue;
      }
      seen.set(fp, true);
      out.push(e);
    }
    return out;
  }
}
