import type { Checkpoint } from '../plugin-api/index.js';
import type { CollectorCommand } from '../host.js';

/** What an operator wants a collector to be, wherever it runs. Survives moves and restarts (compacted). */
export type TargetState = 'running' | 'paused' | 'stopped';

/**
 * A record of the config topic. Key `<kind>/<collector>`; compaction keeps the latest of each, so
 * the topic holds every collector's target state, and the last restart or checkpoint request
 * (applied only by the owner that sees it arrive, never replayed by a later owner).
 */
export type ControlRecord =
  | { kind: 'target'; collector: string; target: TargetState; by: string; at: string }
  | { kind: 'restart'; collector: string; request: string; by: string; at: string }
  | { kind: 'checkpoint'; collector: string; request: string; value: Checkpoint | null; by: string; at: string };

export const TARGET_OF: Partial<Record<CollectorCommand, TargetState>> = { start: 'running', resume: 'running', pause: 'paused', stop: 'stopped' };

export function controlKey(r: Pick<ControlRecord, 'kind' | 'collector'>): string {
  return `${r.kind}/${r.collector}`;
}

const TARGETS = new Set<string>(['running', 'paused', 'stopped']);

/** A config-topic record, or undefined when it is not one this version writes (foreign or hostile data is skipped). */
export function parseControl(key: string, value: Record<string, unknown>): ControlRecord | undefined {
  const slash = key.indexOf('/');
  if (slash < 0) return undefined;
  const kind = key.slice(0, slash);
  const collector = key.slice(slash + 1);
  const by = typeof value.by === 'string' ? value.by : '?';
  const at = typeof value.at === 'string' ? value.at : new Date(0).toISOString();
  if (value.collector !== collector) return undefined;
  if (kind === 'target' && typeof value.target === 'string' && TARGETS.has(value.target)) return { kind, collector, target: value.target as TargetState, by, at };
  if (kind === 'restart' && typeof value.request === 'string') return { kind, collector, request: value.request, by, at };
  if (kind === 'checkpoint' && typeof value.request === 'string' && 'value' in value)
    return { kind, collector, request: value.request, value: value.value as Checkpoint | null, by, at };
  return undefined;
}

/** The states a collector is in once a command took effect (what a waiting requester looks for). */
export const SETTLED_AFTER: Record<CollectorCommand, readonly string[]> = {
  start: ['running', 'degraded'],
  resume: ['running', 'degraded'],
  restart: ['running', 'degraded'],
  pause: ['paused'],
  stop: ['stopped'],
};
