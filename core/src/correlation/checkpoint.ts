import type { FabricEvent } from '../plugin-api/events.js';
import type { CompiledRule } from './compiled-rule.js';
import type { FiredAlerts } from './fired-alerts.js';
import type { Redelivery } from './redelivery.js';
import type { Watermark } from './watermark.js';
import { storedGroupKey, type SnapshotGroup, type WindowState } from './window-state.js';

export type { SnapshotGroup } from './window-state.js';

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

/**
 * What changed since the previous delta, for the append-only checkpoint journal (state-journal.ts):
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

/** The parts of the engine a checkpoint holds; each keeps track of its own changes. */
export interface CheckpointedState {
  rules: readonly CompiledRule[];
  byKey: ReadonlyMap<string, CompiledRule>;
  windows: WindowState;
  fired: FiredAlerts;
  watermark: Watermark;
  redelivery: Redelivery;
}

/**
 * What changed since the previous delta (or the whole state when `full`), now counted as
 * written; `retry()` puts it back when writing it fails, so the next delta carries it again.
 */
export function takeDelta(state: CheckpointedState, full: boolean): { delta: EngineDelta; retry: () => void } {
  const windows = state.windows.changes(full);
  const alerts = state.fired.takeSince(full);
  // takeChanged() first: its flag must be reset even when the record is full.
  const withUnacked = state.redelivery.takeChanged() || full;
  const delta: EngineDelta = {
    watermark: state.watermark.saved,
    collectors: state.watermark.collectorTimes(),
    rules: ruleFingerprints(state.rules),
    alerts: alerts.ids,
    alerts_kept: state.fired.kept,
    ...(withUnacked ? { unacknowledged: state.redelivery.unacknowledged() } : {}),
    deleted: windows.deleted,
    groups: windows.groups,
  };
  const retry = () => {
    windows.retry();
    alerts.retry();
    if (withUnacked) state.redelivery.markChanged();
  };
  return { delta, retry };
}

/**
 * Load a checkpoint into a fresh state. Groups of rules that changed or disappeared are dropped
 * (and forgotten with the next delta); `repaired` counts fired windows cut to their rule's
 * timespan, `replaced` says a group was listed twice (the later entry wins).
 */
export function restoreCheckpoint(state: CheckpointedState, s: EngineSnapshot, now: number): { groups: number; dropped: number; repaired: number; replaced: boolean } {
  let restored = 0;
  let dropped = 0;
  let repaired = 0;
  let replaced = false;
  state.watermark.restore(s.watermark, s.collectors, now);
  state.fired.restore(s.alerts);
  state.redelivery.restore(s.unacknowledged ?? []);
  for (const entry of s.groups) {
    const [ruleKey, values] = entry;
    const rule = state.byKey.get(ruleKey);
    if (!rule || s.rules[ruleKey] !== rule.def.fingerprint) {
      dropped++;
      state.windows.forget(ruleKey, storedGroupKey(values));
      continue;
    }
    const r = state.windows.restore(rule, entry);
    if (r.repaired) repaired++;
    if (r.replaced) replaced = true;
    restored++;
  }
  return { groups: restored, dropped, repaired, replaced };
}

/** Checkpointed groups survive only an unchanged rule: the fingerprint says which. */
function ruleFingerprints(rules: readonly CompiledRule[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rules) out[r.def.key] = r.def.fingerprint;
  return out;
}
