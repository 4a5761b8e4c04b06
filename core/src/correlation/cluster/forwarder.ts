import type { FabricEvent } from '../../plugin-api/index.js';
import type { BatchTicket, PipelineStage } from '../../pipeline/stage.js';
import { SLOT_COUNT, slotOf } from '../../cluster/config.js';
import { CorrelationKeys } from '../keys.js';
import type { CorrelationRule } from '../rule.js';

/** A collector's event time goes to every correlation partition at most this often (and with its data). */
export const WATERMARK_INTERVAL_MS = 1000;

/** Key prefix of watermark records in the correlation topic ('!' is never in a rule key's partition key here). */
export const WATERMARK_KEY_PREFIX = '!wm/';

/** A re-keyed detection: the event and the rules (keys) it counts for in its partition. */
export interface ForwardedDetection {
  d: FabricEvent;
  r: string[];
}

/** A collector's progress: it has read up to event time `t` (ms). */
export interface WatermarkRecord {
  w: { c: string; t: number };
}

/**
 * The partition (= slot) of a correlation group: by its group-by values alone, not its rule, so
 * every rule grouping by the same values (brute force and spraying by source.ip) counts a detection
 * in one partition, from one record, and a chained rule (brute force, then a success from the same
 * address) finds the upstream alert and its own detections in the same engine.
 */
export function partitionOfKey(key: string): number {
  return slotOf(key);
}

/**
 * The correlation stage of a cluster instance. It correlates nothing itself: each detection that a
 * correlation rule counts is re-keyed — written, in the batch's own transaction, to the
 * correlation topic's partition of its group — and the owner of that partition correlates it
 * (correlator.ts). After its data, each batch carries its collector's event time to every
 * partition (at most once a second per collector), as Flink's sources emit watermarks, so windows
 * close on the slowest collector of the cluster, not of one instance. The batch itself goes on
 * unchanged: detections are published by the slot that read them.
 */
export function createCorrelationForwarder(rules: readonly CorrelationRule[], o: { topic: string; now?: () => number }): PipelineStage {
  const keys = new CorrelationKeys(rules);
  const now = o.now ?? Date.now;
  /** Per collector: newest event time and when it was last sent to every partition. */
  const progress = new Map<string, { t: number; sentT: number; sentAt: number }>();
  return {
    name: 'correlation',
    async process(batch: FabricEvent[], ticket: BatchTicket): Promise<FabricEvent[]> {
      const out = ticket.outbound;
      if (!out) return batch;
      const wall = now();
      let newest = Number.NEGATIVE_INFINITY;
      for (const e of batch) {
        const t = CorrelationKeys.detectionTime(e);
        if (t === undefined) continue;
        // As the engine: never past the wall clock (a detection stamped ahead must not close windows).
        newest = Math.max(newest, Math.min(t, wall));
        const byPartition = new Map<number, { rules: string[]; key: string }>();
        for (const k of keys.of(e)) {
          const p = partitionOfKey(k.key);
          const entry = byPartition.get(p);
          if (entry) entry.rules.push(k.rule);
          else byPartition.set(p, { rules: [k.rule], key: `${k.rule}\u0000${k.key}` });
        }
        if (byPartition.size === 0) continue;
        for (const [partition, { rules: r, key }] of byPartition) {
          out.push({ topic: o.topic, partition, key, value: JSON.stringify({ d: e, r } satisfies ForwardedDetection) });
        }
      }
      const collector = ticket.collector;
      const p = progress.get(collector) ?? { t: Number.NEGATIVE_INFINITY, sentT: Number.NEGATIVE_INFINITY, sentAt: 0 };
      if (newest > p.t) p.t = newest;
      progress.set(collector, p);
      if (p.t > p.sentT && wall - p.sentAt >= WATERMARK_INTERVAL_MS) {
        const value = JSON.stringify({ w: { c: collector, t: p.t } } satisfies WatermarkRecord);
        for (let partition = 0; partition < SLOT_COUNT; partition++) out.push({ topic: o.topic, partition, key: `${WATERMARK_KEY_PREFIX}${collector}`, value });
        p.sentT = p.t;
        p.sentAt = wall;
      }
      return batch;
    },
  };
}
