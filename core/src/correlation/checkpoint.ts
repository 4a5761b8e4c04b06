import type { FabricEvent } from '../plugin-api/events.js';

/**
 * The engine's state in checkpoint form (JSON; no Infinity, no class instances): what the engine
 * hands to the state files (state-file.ts) and takes back at start-up.
 */
export interface EngineSnapshot {
  /** Event-time watermark windows were decided against. */
  watermark: number | null;
  /** Newest @timestamp seen per collector. */
  collectors: Record<string, number>;
  rules: Record<string, string>;
  alerts: string[];
  /** Alerts of batches the sink has not acknowledged yet, with the detection that fired each. */
  unacknowledged?: Array<{ trigger: string; alert: FabricEvent }>;
  /** [rule key, group values, fired start, fired until, fired alert id, members [t, id, collector, value]] */
  groups: SnapshotGroup[];
}

/** [rule key, group values, fired start, fired until, fired alert id, members [t, id, collector, value]] */
export type SnapshotGroup = [string, unknown[], number | null, number | null, string | null, Array<[number, string, string, string | number]>];

/**
 * What changed since the previous delta, for the append-only checkpoint journal (state-file.ts):
 * its size follows the groups that changed, not the whole state.
 */
export interface EngineDelta {
  watermark: number | null;
  collectors: Record<string, number>;
  rules: Record<string, string>;
  /** Alert ids fired since the previous delta, oldest first. */
  alerts: string[];
  /** How many fired alert ids the state keeps: older ones are forgotten when the journal is compacted. */
  alerts_kept: number;
  /** The whole (bounded) list, present only when it changed. */
  unacknowledged?: Array<{ trigger: string; alert: FabricEvent }>;
  /** Groups forgotten since, as [rule key, group key]; applied before `groups`. */
  deleted: Array<[string, string]>;
  /** Groups changed since (whole groups), least recently used first. */
  groups: SnapshotGroup[];
}
