import type { EngineSnapshot } from './checkpoint.js';

export interface StateWarning {
  file: string;
  /** Where in the checkpoint, e.g. `watermark`, `collectors["auth-log"]`, `groups[3].members`. */
  field: string;
  value: unknown;
  message: string;
}

export interface ReadOptions {
  /** Wall clock the checkpoint's times are judged against (ms); default Date.now(). */
  now?: number;
  /** `max_clock_skew_seconds` in ms: detections (group members, fired windows) may be stamped this far ahead. Without it only their form is checked. */
  maxClockSkewMs?: number;
  /** Where refused parts are reported. Default: a process warning (printed on stderr), so a refusal is never silent. */
  warn?: (warning: StateWarning) => void;
}

/** Date.parse's range: beyond it a number is no time at all. */
const MAX_TIME = 8.64e15;
/** Refused members are reported per group, and at most this many groups by name. */
const MAX_MEMBER_WARNINGS = 20;

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_TIME;

function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Refuse the parts of a structurally valid checkpoint whose times cannot be right, in place. One
 * poisoned value must not silence correlation: a watermark of 1e300 would decide every future
 * window at once, a collector's newest time far ahead would make each of its detections late,
 * a fired window without end would swallow its group's detections forever. Each refused part
 * starts fresh; everything else is kept.
 */
export function sanitizeState(s: EngineSnapshot, file: string, opts: ReadOptions): StateWarning[] {
  const now = opts.now ?? Date.now();
  const out: StateWarning[] = [];
  const refuse = (field: string, value: unknown, why: string, consequence: string) =>
    out.push({ file, field, value, message: `correlation checkpoint ${file}: ${field} ${show(value)} ${why}; ${consequence}` });
  // The watermark and collectors' times never pass the wall clock (watermark.ts clamps them to it).
  const ahead = `is not a time at or before now (${new Date(now).toISOString()})`;
  if (s.watermark !== null && s.watermark !== undefined && (!isTime(s.watermark) || s.watermark > now)) {
    refuse('watermark', s.watermark, ahead, 'ignored: windows are decided from the next detections on');
    s.watermark = null;
  }
  if (typeof s.collectors !== 'object' || s.collectors === null || Array.isArray(s.collectors)) {
    if (s.collectors !== undefined) refuse('collectors', s.collectors, 'is not an object of collector times', 'ignored: every collector starts fresh');
    s.collectors = {};
  } else {
    const kept: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [name, t] of Object.entries(s.collectors)) {
      if (isTime(t) && t <= now) kept[name] = t;
      else refuse(`collectors[${JSON.stringify(name)}]`, t, ahead, 'ignored: that collector starts fresh');
    }
    s.collectors = kept;
  }
  if (s.alerts.some((a) => typeof a !== 'string')) {
    refuse(
      'alerts',
      s.alerts.find((a) => typeof a !== 'string'),
      'is not an alert id',
      'non-string entries ignored',
    );
    s.alerts = s.alerts.filter((a) => typeof a === 'string');
  }
  const horizon = opts.maxClockSkewMs === undefined ? MAX_TIME : now + opts.maxClockSkewMs;
  const inRange = (t: unknown) => isTime(t) && t <= horizon;
  const future = opts.maxClockSkewMs === undefined ? 'is not a time' : `is not a time within max_clock_skew_seconds of now (${new Date(now).toISOString()})`;
  let memberWarnings = 0;
  s.groups.forEach((g, i) => {
    const [, , firedStart, firedUntil] = g;
    if (firedStart !== null || firedUntil !== null) {
      if (!inRange(firedStart) || !isTime(firedUntil) || firedUntil < firedStart!) {
        refuse(`groups[${i}] fired window`, [firedStart, firedUntil], `${future} or ends before it starts`, 'ignored: the group may fire again');
        g[2] = null;
        g[3] = null;
        g[4] = null;
      }
    }
    const members = g[5];
    const good = members.filter((m) => inRange(m[0]));
    if (good.length !== members.length) {
      const bad = members.find((m) => !inRange(m[0]))!;
      if (++memberWarnings <= MAX_MEMBER_WARNINGS)
        refuse(`groups[${i}].members`, bad[0], `${future} (${members.length - good.length} of ${members.length} members)`, 'those members ignored');
      g[5] = good;
    }
  });
  if (memberWarnings > MAX_MEMBER_WARNINGS)
    out.push({
      file,
      field: 'groups',
      value: memberWarnings,
      message: `correlation checkpoint ${file}: members of ${memberWarnings - MAX_MEMBER_WARNINGS} more groups refused likewise`,
    });
  return out;
}
