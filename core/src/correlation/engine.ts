import { LRUCache } from 'lru-cache';
import { getField, type FabricEvent } from '../plugin-api/events.js';
import { alertId, buildAlert } from './alert.js';
import { attackFromTags, type AttackMapping } from './attack.js';
import { DueQueue, type Due } from './due-queue.js';
import { conditionHolds, isMonotone, type CorrelationRule } from './rule.js';

/** One detection remembered in a group: event time, id, collector, and what the rule counts. */
interface Member {
  t: number;
  id: string;
  c: string;
  /** value_count: the counted value; temporal types: index of the referenced rule it matched. */
  v: string | number;
  /** Position of its event in the batch being correlated (engine `slotBase` + index), -1 when not known. */
  s: number;
}

interface CompiledRule {
  def: CorrelationRule;
  monotone: boolean;
  /** Whether alerts are published (false when only correlation rules with generate: false use them). */
  emit: boolean;
  /** Per referenced rule: the field read for each group-by entry (aliases resolved). */
  groupFields: Array<Array<(e: FabricEvent) => unknown>>;
  /** value_count, per referenced rule: the counted field. */
  valueFields?: Array<(e: FabricEvent) => unknown>;
  aliasFields: Record<string, string[]>;
  attack: AttackMapping;
  /** Correlation rules fed with this rule's alerts. */
  downstream: Array<{ rule: CompiledRule; ref: number }>;
  /** Open groups of this rule by group-by key, least recently used evicted past max_keys. */
  groups: GroupTable;
}

interface Group extends Due {
  rule: CompiledRule;
  key: string;
  values: unknown[];
  /** Sorted by event time; equal times keep arrival order. */
  members: Member[];
  /** Last fired window: detections up to firedUntil belong to that alert and start nothing new. */
  firedStart: number;
  firedUntil: number;
  firedId: string | undefined;
  /** Set once the group left the LRU (evicted or forgotten): it must not be queued again. */
  gone: boolean;
  /** Neighbours in its rule's recency list (older, newer). */
  older: Group | undefined;
  newer: Group | undefined;
  /** Changed since the last checkpoint delta (it is in the engine's `changedGroups`). */
  dirty: boolean;
  /** Written to a checkpoint (or restored from one): forgetting it must be checkpointed too. */
  persisted: boolean;
}

/**
 * One rule's open groups: a Map by key plus an intrusive recency list, so a lookup that touches a
 * group costs one hash lookup and a few pointer writes, and no per-lookup allocation.
 */
class GroupTable {
  private readonly map = new Map<string, Group>();
  /** Least recently used. */
  private oldest: Group | undefined;
  private newest: Group | undefined;

  constructor(
    private readonly max: number,
    private readonly dispose: (g: Group, evicted: boolean) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The group of `key`, now the most recently used. */
  get(key: string): Group | undefined {
    const g = this.map.get(key);
    if (g !== undefined && g !== this.newest) {
      this.unlink(g);
      this.append(g);
    }
    return g;
  }

  /** Add a group (replacing one of the same key: returns true); past `max` the least recently used is evicted. */
  add(g: Group): boolean {
    const old = this.map.get(g.key);
    if (old) this.delete(old);
    else if (this.map.size >= this.max && this.oldest) {
      const lru = this.oldest;
      this.unlink(lru);
      this.map.delete(lru.key);
      this.dispose(lru, true);
    }
    this.map.set(g.key, g);
    this.append(g);
    return old !== undefined;
  }

  delete(g: Group): void {
    if (this.map.get(g.key) !== g) return;
    this.unlink(g);
    this.map.delete(g.key);
    this.dispose(g, false);
  }

  /** Least recently used first. */
  *values(): IterableIterator<Group> {
    for (let g = this.oldest; g; g = g.newer) yield g;
  }

  private unlink(g: Group): void {
    if (g.older) g.older.newer = g.newer;
    else this.oldest = g.newer;
    if (g.newer) g.newer.older = g.older;
    else this.newest = g.older;
    g.older = g.newer = undefined;
  }

  private append(g: Group): void {
    g.older = this.newest;
    g.newer = undefined;
    if (this.newest) this.newest.newer = g;
    else this.oldest = g;
    this.newest = g;
  }
}

export interface EngineOptions {
  allowedLatenessMs: number;
  /** A collector silent this long (wall clock) no longer holds the watermark back. */
  idleCollectorMs: number;
  maxClockSkewMs: number;
  maxKeys: number;
  maxEventsPerKey: number;
  maxMembersInAlert: number;
  now?: () => number;
  hooks?: Partial<EngineHooks>;
}

export interface EngineHooks {
  alert(rule: CorrelationRule, emitted: boolean): void;
  late(): void;
  skipped(reason: 'invalid_timestamp' | 'future_timestamp' | 'missing_group_by' | 'missing_field'): void;
  evicted(): void;
  droppedMembers(n: number): void;
  duplicate(): void;
  resent(n: number): void;
}

/** Checkpoint form of the engine state (JSON; no Infinity, no class instances). */
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

const NONE = Number.NEGATIVE_INFINITY;
/** Unacknowledged alerts kept in a checkpoint: more than the pipeline ever has in flight. */
const MAX_UNACKED = 10_000;
/** Batches awaiting acknowledgement: far more than pipeline.max_in_flight_batches allows. */
const MAX_PENDING_BATCHES = 64;

function missing(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
}

export function groupKey(values: unknown[]): string {
  if (values.length === 1 && typeof values[0] === 'string') return values[0];
  return JSON.stringify(values);
}

/**
 * Reader of a dotted ECS field. Two-level paths (source.ip, user.name: the usual group-by fields)
 * read the nested objects directly; anything else, or an event that holds the field in another
 * shape (a literal dotted key), goes through getField, so the result is always getField's.
 */
function fieldReader(path: string): (e: FabricEvent) => unknown {
  const dot = path.indexOf('.');
  if (dot <= 0 || dot === path.length - 1 || path.indexOf('.', dot + 1) !== -1) return (e) => getField(e as unknown as Record<string, unknown>, path);
  const a = path.slice(0, dot);
  const b = path.slice(dot + 1);
  const has = Object.prototype.hasOwnProperty;
  return (e) => {
    const rec = e as unknown as Record<string, unknown>;
    if (!has.call(rec, path) && has.call(rec, a)) {
      const inner = rec[a];
      if (inner !== null && typeof inner === 'object') return has.call(inner, b) ? (inner as Record<string, unknown>)[b] : undefined;
    }
    return getField(rec, path);
  };
}

/** First index whose time is ≥ t. */
function lowerBound(ms: Member[], t: number): number {
  let lo = 0;
  let hi = ms.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose time is > t. */
function upperBound(ms: Member[], t: number): number {
  let lo = 0;
  let hi = ms.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms[mid]!.t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Streaming evaluation of Sigma correlation rules in event time.
 *
 * Windows slide: any set of detections whose times span at most `timespan` (inclusive) is a
 * candidate, anchored at its earliest detection. Conditions that only grow (gt/gte, temporal)
 * fire as soon as the detection that satisfies them arrives; others (lt/lte/eq) are decided when
 * the watermark passes the window's end. A fired window consumes its detections: the next alert
 * for that group needs detections after its end, so a long attack yields one alert per timespan
 * instead of one per detection.
 *
 * Lateness is judged per collector (a detection more than the allowed lateness behind the newest
 * one of its own collector is late), so a log store polled minutes behind a tailed file still
 * correlates with it. Windows close on the slowest active collector's watermark (idle ones are
 * left out after idleCollectorMs), so the lagging collector's detections find them still open.
 */
export class CorrelationEngine {
  private readonly rules: CompiledRule[];
  private readonly byKey = new Map<string, CompiledRule>();
  /** Detection rule name or id → the correlation rules (and reference position) that count it. */
  private readonly inputs = new Map<string, Array<{ rule: CompiledRule; ref: number }>>();
  private readonly due: DueQueue<Group>;
  /** Recently fired alert ids, so an evicted-and-recreated group cannot fire the same window twice. */
  private readonly fired: LRUCache<string, true>;
  private readonly hooks: EngineHooks;
  private readonly now: () => number;
  /** Newest @timestamp and last arrival (wall clock) per collector. */
  private readonly collectors = new Map<string, { maxT: number; seenAt: number }>();
  /** Only moves forward: windows decided stay decided. */
  private wm = NONE;
  /**
   * Events of the batch being correlated (detections in time order, then alerts it fired), so a
   * fired window annotates its members through their `s` slot without a lookup by id.
   */
  private batchEvents: FabricEvent[] = [];
  /** Slot of batchEvents[0]: grows by each batch's length, so slots of earlier batches never match. */
  private slotBase = 0;
  /** Alerts re-sent after a restart, by id: members restored from the checkpoint have no slot. */
  private resentById: Map<string, FabricEvent> | undefined;
  /** Reused per batch: detection times and their order. */
  private times = new Float64Array(1024);
  private order = new Uint32Array(1024);
  private out: FabricEvent[] = [];
  /** Detection being correlated: the trigger of any alert it fires (directly or through a chain). */
  private trigger: string | undefined;
  /** Parallel to `out`: the detection that fired each alert. */
  private triggers: string[] = [];
  /** Per processed batch, oldest first: alerts emitted, until the pipeline acknowledges that batch. */
  private readonly unacked: Array<Array<{ trigger: string; alert: FabricEvent }>> = [];
  /** From the checkpoint: alerts never acknowledged before the restart, by the detection that fired them. */
  private readonly redeliver = new Map<string, FabricEvent[]>();
  /** Re-deliveries come first after a restart; past this many batches the leftovers are forgotten. */
  private redeliverBatchesLeft = 0;
  private dirty = false;
  /** Groups changed since the last delta (each once: `group.dirty`). */
  private changedGroups = new Set<Group>();
  /** Checkpointed groups forgotten since the last delta. */
  private deletedGroups: Array<[string, string]> = [];
  /** Alert ids fired since the last delta. */
  private firedSince: string[] = [];
  private unackedChanged = false;
  private readonly firedKept: number;
  private fullNext = false;

  constructor(
    rules: readonly CorrelationRule[],
    private readonly opts: EngineOptions,
  ) {
    this.now = opts.now ?? Date.now;
    // Only rules decided at window close (lt/lte/eq) fire while closing: then closing order matters.
    this.due = new DueQueue<Group>(rules.some((r) => !isMonotone(r.condition)));
    this.hooks = {
      alert: () => {},
      late: () => {},
      skipped: () => {},
      evicted: () => {},
      droppedMembers: () => {},
      duplicate: () => {},
      resent: () => {},
      ...opts.hooks,
    };
    this.rules = rules.map((def) =>
      compile(
        def,
        // One table per rule: keys are the group-by values themselves, with no per-detection string building.
        new GroupTable(opts.maxKeys, (group, evicted) => {
          group.gone = true;
          this.due.remove(group);
          if (group.dirty) {
            group.dirty = false;
            this.changedGroups.delete(group);
          }
          if (group.persisted) this.deletedGroups.push([group.rule.def.key, group.key]);
          if (evicted) this.hooks.evicted();
        }),
      ),
    );
    const byRef = new Map<string, CompiledRule>();
    for (const r of this.rules) {
      this.byKey.set(r.def.key, r);
      if (r.def.id) byRef.set(r.def.id, r);
      if (r.def.name) byRef.set(r.def.name, r);
    }
    for (const r of this.rules) {
      r.def.rules.forEach((ref, i) => {
        const upstream = byRef.get(ref);
        if (upstream) upstream.downstream.push({ rule: r, ref: i });
        else {
          const list = this.inputs.get(ref) ?? [];
          list.push({ rule: r, ref: i });
          this.inputs.set(ref, list);
        }
      });
    }
    for (const r of this.rules) r.emit = r.downstream.length === 0 || r.downstream.some((d) => d.rule.def.generate);
    this.firedKept = Math.max(1000, opts.maxKeys);
    this.fired = new LRUCache<string, true>({ max: this.firedKept });
  }

  get groupCount(): number {
    let n = 0;
    for (const r of this.rules) n += r.groups.size;
    return n;
  }
  /** Event time up to which windows are decided: the slowest active collector's newest time − lateness. */
  get watermark(): number {
    return this.wm;
  }

  private advanceWatermark(now: number): void {
    let slowest = Number.POSITIVE_INFINITY;
    let newest = NONE;
    for (const c of this.collectors.values()) {
      if (c.maxT > newest) newest = c.maxT;
      if (now - c.seenAt <= this.opts.idleCollectorMs && c.maxT < slowest) slowest = c.maxT;
    }
    // Every collector idle: nothing is coming that could still fill a window.
    const candidate = (slowest === Number.POSITIVE_INFINITY ? newest : slowest) - this.opts.allowedLatenessMs;
    if (candidate > this.wm) this.wm = candidate;
  }
  get changed(): boolean {
    return this.dirty;
  }
  markClean(): void {
    this.dirty = false;
  }

  /**
   * Correlate one batch. Detections are taken in @timestamp order (not arrival order); members
   * of a fired window present in the batch get `fabric.correlation.ids`. Returns new alerts.
   */
  process(batch: readonly FabricEvent[]): FabricEvent[] {
    const fired: Array<{ trigger: string; alert: FabricEvent }> = [];
    this.unacked.push(fired);
    // A host that never acknowledges (no checkpoints) must not make this grow without bound.
    if (this.unacked.length > MAX_PENDING_BATCHES && this.unacked.shift()!.length > 0) this.unackedChanged = true;
    if (this.redeliver.size > 0 && --this.redeliverBatchesLeft < 0) {
      this.redeliver.clear();
      this.unackedChanged = true;
    }
    this.triggers = [];
    const out = this.correlate(batch);
    out.forEach((alert, i) => fired.push({ trigger: this.triggers[i] ?? '', alert }));
    if (out.length > 0) this.unackedChanged = true;
    return out;
  }

  /**
   * The sink acknowledged the oldest batch still pending (the pipeline checkpoints once per batch,
   * after its write): its alerts are durable and will not be re-sent after a restart.
   */
  acknowledge(): void {
    const batch = this.unacked.shift();
    if (batch && batch.length > 0) {
      this.dirty = true;
      this.unackedChanged = true;
    }
  }

  private correlate(batch: readonly FabricEvent[]): FabricEvent[] {
    if (this.times.length < batch.length) {
      this.times = new Float64Array(batch.length);
      this.order = new Uint32Array(batch.length);
    }
    const times = this.times;
    const order = this.order;
    let n = 0;
    let inOrder = true;
    let previous = NONE;
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      if (e.event?.kind !== 'signal') continue;
      const matches = (e.fabric as { matches?: unknown } | undefined)?.matches;
      if (!Array.isArray(matches) || matches.length === 0) continue;
      const t = Date.parse(e['@timestamp']);
      if (Number.isNaN(t)) {
        this.hooks.skipped('invalid_timestamp');
        continue;
      }
      times[i] = t;
      order[n++] = i;
      if (t < previous) inOrder = false;
      previous = t;
    }
    this.out = [];
    this.trigger = undefined;
    const now = this.now();
    if (n > 0) {
      // Stable: equal times keep arrival order.
      if (!inOrder) order.subarray(0, n).sort((a, b) => times[a]! - times[b]! || a - b);
      const events = new Array<FabricEvent>(n);
      for (let k = 0; k < n; k++) events[k] = batch[order[k]!]!;
      this.batchEvents = events;
      const horizon = now + this.opts.maxClockSkewMs;
      for (let k = 0; k < n; k++) {
        const i = order[k]!;
        this.observe(batch[i]!, times[i]!, horizon, now, this.slotBase + k);
      }
    }
    // With no detection, wall time alone can retire an idle collector and let windows close.
    this.advanceWatermark(now);
    // Windows decided by the watermark have no single detection to re-deliver them.
    this.trigger = undefined;
    this.closeDue();
    this.slotBase += this.batchEvents.length;
    this.batchEvents = [];
    this.resentById = undefined;
    const out = this.out;
    this.out = [];
    return out;
  }

  private observe(e: FabricEvent, t: number, horizon: number, now: number, slot: number): void {
    if (this.redeliver.size > 0) this.resend(e);
    if (t > horizon) {
      this.hooks.skipped('future_timestamp');
      return;
    }
    const matches = e.fabric.matches as Array<{ id?: unknown; name?: unknown } | null>;
    let targets: Array<{ rule: CompiledRule; ref: number }> | undefined;
    for (const m of matches) {
      if (!m) continue;
      for (let r = 0; r < 2; r++) {
        const ref = r === 0 ? m.name : m.id;
        if (typeof ref !== 'string') continue;
        const list = this.inputs.get(ref);
        if (!list) continue;
        // Shared lists are never mutated: a second match builds a new array.
        if (!targets) targets = list;
        else for (const target of list) if (!targets.some((x) => x.rule === target.rule && x.ref === target.ref)) targets = [...targets, target];
      }
    }
    // Every detection moves its collector's event time, whether or not a correlation uses it, but
    // never past the wall clock: one detection stamped a few minutes ahead (within the skew) must
    // not make the collector's next detections late nor push the watermark over open windows.
    const frontier = t < now ? t : now;
    const collector = typeof e.fabric?.collector === 'string' ? e.fabric.collector : '';
    let source = this.collectors.get(collector);
    if (!source) this.collectors.set(collector, (source = { maxT: frontier, seenAt: now }));
    if (t < source.maxT - this.opts.allowedLatenessMs) {
      if (targets) this.hooks.late();
      return;
    }
    if (frontier > source.maxT) source.maxT = frontier;
    source.seenAt = now;
    if (!targets) return;
    this.trigger = e.event.id;
    for (const target of targets) this.add(target.rule, target.ref, e, t, e.event.id, collector, slot);
  }

  private add(rule: CompiledRule, ref: number, e: FabricEvent, t: number, id: string, collector: string, slot: number): void {
    const fields = rule.groupFields[ref]!;
    let key: string;
    let values: unknown[] | undefined;
    const first = fields.length === 1 ? fields[0]!(e) : undefined;
    if (typeof first === 'string' && first !== '') {
      // The common case (one field, a string): the value is the key, nothing else to build.
      key = first;
    } else {
      values = new Array<unknown>(fields.length);
      for (let i = 0; i < fields.length; i++) {
        const fv = fields[i]!(e);
        if (missing(fv)) {
          this.hooks.skipped('missing_group_by');
          return;
        }
        values[i] = fv;
      }
      key = groupKey(values);
    }
    let v: string | number = ref;
    if (rule.valueFields) {
      const raw = rule.valueFields[ref]!(e);
      if (missing(raw)) {
        this.hooks.skipped('missing_field');
        return;
      }
      v = typeof raw === 'string' ? raw : JSON.stringify(raw);
    }
    let g = rule.groups.get(key);
    if (!g) {
      g = {
        rule,
        key,
        values: values ?? [key],
        members: [],
        firedStart: NONE,
        firedUntil: NONE,
        firedId: undefined,
        gone: false,
        due: 0,
        slot: -1,
        older: undefined,
        newer: undefined,
        dirty: false,
        persisted: false,
      };
      rule.groups.add(g);
    }
    this.dirty = true;
    if (t <= g.firedUntil) {
      // Part of an incident already raised: link it rather than start an overlapping one.
      if (t >= g.firedStart && g.firedId) annotateEvent(e, g.firedId);
      return;
    }
    const member: Member = { t, id, c: collector, v, s: slot };
    if (!this.insert(g, member)) {
      this.hooks.duplicate();
      return;
    }
    this.touch(g);
    if (rule.monotone) this.fireEarly(g, member);
    this.reschedule(g);
  }

  /**
   * Distinct values (value_count) or rules (temporal) are counted for every candidate window: one
   * map of value → the count it was last seen in, instead of a new set (or a clear) per count.
   */
  private readonly seenIn = new Map<string | number, number>();
  private seenStamp = 0;
  /** First index past the window of the last distinctFrom. */
  private windowEnd = 0;

  /** Distinct `v` among members from i while their time is ≤ limit; sets windowEnd. */
  private distinctFrom(ms: Member[], i: number, limit: number): number {
    if (this.seenIn.size > 4096) this.seenIn.clear();
    const stamp = ++this.seenStamp;
    let n = 0;
    let j = i;
    for (; j < ms.length && ms[j]!.t <= limit; j++) {
      const v = ms[j]!.v;
      if (this.seenIn.get(v) !== stamp) {
        this.seenIn.set(v, stamp);
        n++;
      }
    }
    this.windowEnd = j;
    return n;
  }

  /** The group changed: the next checkpoint delta carries it. */
  private touch(g: Group): void {
    this.dirty = true;
    if (!g.dirty && !g.gone) {
      g.dirty = true;
      this.changedGroups.add(g);
    }
  }

  /** Returns false for a re-delivered detection (same id, same role) so it is not counted twice. */
  private insert(g: Group, m: Member): boolean {
    const ms = g.members;
    const pos = upperBound(ms, m.t);
    for (let k = pos - 1; k >= 0 && ms[k]!.t === m.t; k--) {
      if (ms[k]!.id === m.id && ms[k]!.v === m.v) {
        // The very detection again (re-read after a restart or a failed write): it is in this batch now.
        ms[k]!.s = m.s;
        return false;
      }
    }
    if (pos === ms.length) ms.push(m);
    else ms.splice(pos, 0, m);
    if (ms.length > this.opts.maxEventsPerKey) {
      const n = ms.length - this.opts.maxEventsPerKey;
      if (n === 1) ms.shift();
      else ms.splice(0, n);
      this.hooks.droppedMembers(n);
    }
    return true;
  }

  /** Satisfied window anchored at member i: its exclusive end index and measure, or undefined. */
  private windowAt(g: Group, i: number): { end: number; measure: number; count: number } | undefined {
    const ms = g.members;
    const rule = g.rule;
    const a = ms[i]!;
    const limit = a.t + rule.def.timespanMs;
    switch (rule.def.type) {
      case 'event_count': {
        const j = upperBound(ms, limit);
        const n = j - i;
        return conditionHolds(rule.def.condition, n) ? { end: j, measure: n, count: n } : undefined;
      }
      case 'value_count': {
        const n = this.distinctFrom(ms, i, limit);
        const j = this.windowEnd;
        return conditionHolds(rule.def.condition, n) ? { end: j, measure: n, count: j - i } : undefined;
      }
      case 'temporal': {
        const n = this.distinctFrom(ms, i, limit);
        const j = this.windowEnd;
        return conditionHolds(rule.def.condition, n) ? { end: j, measure: n, count: j - i } : undefined;
      }
      case 'temporal_ordered': {
        if (a.v !== 0) return undefined;
        const steps = rule.def.rules.length;
        let want = 1;
        let lastId = a.id;
        for (let j = i + 1; j < ms.length && ms[j]!.t <= limit; j++) {
          const m = ms[j]!;
          if (m.v === want && m.id !== lastId) {
            want++;
            lastId = m.id;
            if (want === steps) return { end: j + 1, measure: steps, count: j + 1 - i };
          }
        }
        return undefined;
      }
    }
  }

  /** After a detection at time t arrived: only windows containing it can have become satisfied. */
  /**
   * After detection m arrived. Before it no window was satisfied (a satisfied one fires at once),
   * so only windows containing m can be: those anchored within one timespan before it. The checks
   * stay short when one group is flooded (the same values over and over), so a flood cannot stall
   * the stage.
   */
  private fireEarly(g: Group, m: Member): void {
    const w = g.rule.def.type === 'temporal_ordered' ? this.sequenceThrough(g, m) : this.windowThrough(g, m);
    if (w) {
      this.fire(g, w.start, w.end, w.measure, w.count);
      this.fireRemaining(g);
    }
  }

  /** Earliest-anchored satisfied window containing detection m (event_count, value_count, temporal). */
  private windowThrough(g: Group, m: Member): { start: number; end: number; measure: number; count: number } | undefined {
    const ms = g.members;
    const def = g.rule.def;
    const T = def.timespanMs;
    const t = m.t;
    let first = lowerBound(ms, t - T);
    if (def.type === 'event_count') {
      // No window held N before m, so fewer than N detections lie within a timespan of it: short loop.
      for (let i = first; i < ms.length && ms[i]!.t <= t; i++) {
        const j = upperBound(ms, ms[i]!.t + T);
        if (conditionHolds(def.condition, j - i)) return { start: i, end: j, measure: j - i, count: j - i };
      }
      return undefined;
    }
    // Distinct values (value_count) or rules (temporal): m adds one only to windows that lacked its
    // value, i.e. anchored after the previous detection with that value and ending before the next.
    let p = upperBound(ms, t) - 1;
    while (p >= 0 && ms[p] !== m) p--;
    if (p < 0) return undefined;
    for (let k = p - 1; k >= first; k--) {
      if (ms[k]!.v === m.v) {
        first = k + 1;
        break;
      }
    }
    let nextSame = Number.POSITIVE_INFINITY;
    for (let k = p + 1; k < ms.length && ms[k]!.t <= t + T; k++) {
      if (ms[k]!.v === m.v) {
        nextSame = ms[k]!.t;
        break;
      }
    }
    for (let i = first; i < ms.length && ms[i]!.t <= t && ms[i]!.t + T < nextSame; i++) {
      const limit = ms[i]!.t + T;
      const n = this.distinctFrom(ms, i, limit);
      const j = this.windowEnd;
      if (conditionHolds(def.condition, n)) return { start: i, end: j, measure: n, count: j - i };
    }
    return undefined;
  }

  /**
   * temporal_ordered: a full sequence through m, if one fits the timespan. The rules before m's are
   * taken as late as possible and those after it as early as possible, which gives the shortest
   * sequence through m.
   */
  private sequenceThrough(g: Group, m: Member): { start: number; end: number; measure: number; count: number } | undefined {
    const ms = g.members;
    const T = g.rule.def.timespanMs;
    const steps = g.rule.def.rules.length;
    let p = upperBound(ms, m.t) - 1;
    while (p >= 0 && ms[p] !== m) p--;
    if (p < 0) return undefined;
    const role = m.v as number;
    let start = p;
    let prevId = m.id;
    for (let want = role - 1; want >= 0; want--) {
      let k = start - 1;
      while (k >= 0 && ms[k]!.t >= m.t - T && !(ms[k]!.v === want && ms[k]!.id !== prevId)) k--;
      if (k < 0 || ms[k]!.t < m.t - T) return undefined;
      start = k;
      prevId = ms[k]!.id;
    }
    let end = p;
    prevId = m.id;
    for (let want = role + 1; want < steps; want++) {
      let k = end + 1;
      while (k < ms.length && ms[k]!.t <= m.t + T && !(ms[k]!.v === want && ms[k]!.id !== prevId)) k++;
      if (k >= ms.length || ms[k]!.t > m.t + T) return undefined;
      end = k;
      prevId = ms[k]!.id;
    }
    if (ms[end]!.t - ms[start]!.t > T) return undefined;
    return { start, end: end + 1, measure: steps, count: end + 1 - start };
  }

  /** Detections that arrived out of order past a fired window may already satisfy a later one. */
  private fireRemaining(g: Group): void {
    for (let i = 0; i < g.members.length; i++) {
      const w = this.windowAt(g, i);
      if (w) {
        this.fire(g, i, w.end, w.measure, w.count);
        i = -1;
      }
    }
  }

  private fire(g: Group, i: number, end: number, measure: number, count: number): void {
    const rule = g.rule;
    const ms = g.members;
    const start = ms[i]!.t;
    const until = start + rule.def.timespanMs;
    let last = start;
    const ids: string[] = [];
    const collectors: string[] = [];
    const distinct = rule.def.type === 'value_count' ? new Set<string>() : undefined;
    for (let k = i; k < end; k++) {
      const m = ms[k]!;
      if (m.t > last) last = m.t;
      ids.push(m.id);
      if (!collectors.includes(m.c) && m.c) collectors.push(m.c);
      distinct?.add(String(m.v));
    }
    const id = alertId(rule.def.key, g.key, start);
    const repeat = this.fired.has(id);
    this.fired.set(id, true);
    if (!repeat) {
      this.firedSince.push(id);
      // Never checkpointed (no acknowledgements): only the newest firedKept matter.
      if (this.firedSince.length > 2 * this.firedKept) this.firedSince.splice(0, this.firedSince.length - this.firedKept);
    }
    g.firedStart = start;
    g.firedUntil = until;
    g.firedId = id;
    const cut = upperBound(ms, until);
    for (let k = i; k < cut; k++) this.annotate(ms[k]!, id);
    g.members = ms.slice(cut);
    this.touch(g);
    if (repeat) {
      this.hooks.duplicate();
      return;
    }
    const alert = buildAlert(
      {
        id,
        rule: rule.def,
        attack: rule.attack,
        groupBy: rule.def.groupBy.map((f, k) => [f, g.values[k]] as [string, unknown]),
        aliasFields: rule.aliasFields,
        windowStart: start,
        windowEnd: until,
        firstSeen: start,
        lastSeen: last,
        count,
        memberIds: ids,
        collectors,
        measure,
        ...(distinct ? { distinctValues: [...distinct] } : {}),
        now: this.now(),
      },
      this.opts.maxMembersInAlert,
    );
    this.hooks.alert(rule.def, rule.emit);
    if (rule.emit) this.emit(alert, this.trigger ?? '');
    const slot = this.slotBase + this.batchEvents.length;
    this.batchEvents.push(alert);
    // A chained rule sees the alert at the time its condition became true in event time.
    for (const d of rule.downstream) this.add(d.rule, d.ref, alert, last, id, 'correlation', slot);
  }

  /**
   * The detection that fired an alert whose batch was never acknowledged came back (the source
   * re-delivers what was not acknowledged): send the very same alert again, same id, so a crash
   * between firing and the sink's acknowledgement does not lose it.
   */
  private resend(e: FabricEvent): void {
    const alerts = this.redeliver.get(e.event.id);
    if (!alerts) return;
    this.redeliver.delete(e.event.id);
    this.unackedChanged = true;
    this.resentById ??= new Map();
    for (const alert of alerts) {
      this.emit(alert, e.event.id);
      this.resentById.set(alert.event.id, alert);
      annotateEvent(e, alert.event.id);
    }
    this.hooks.resent(alerts.length);
  }

  private emit(alert: FabricEvent, trigger: string): void {
    this.out.push(alert);
    this.triggers.push(trigger);
  }

  /** A member of a fired window gets its id, if its event is in the batch being correlated. */
  private annotate(m: Member, correlationId: string): void {
    const k = m.s - this.slotBase;
    const ev = k >= 0 && k < this.batchEvents.length ? this.batchEvents[k] : this.resentById?.get(m.id);
    if (ev) annotateEvent(ev, correlationId);
  }

  private reschedule(g: Group): void {
    // A chained rule's alert can create groups and evict this one meanwhile; an evicted group stays out.
    if (g.gone) return;
    const due = g.members.length > 0 ? g.members[0]!.t + g.rule.def.timespanMs : g.firedUntil;
    if (due === NONE) {
      g.rule.groups.delete(g);
      return;
    }
    if (g.slot >= 0 && g.due === due) return;
    this.due.schedule(g, due);
  }

  /** Decide windows the watermark has passed, and forget groups with nothing left to decide. */
  private closeDue(): void {
    const wm = this.watermark;
    for (let g = this.due.next(wm); g; g = this.due.next(wm)) this.close(g, wm);
  }

  private close(g: Group, wm: number): void {
    const T = g.rule.def.timespanMs;
    if (g.rule.monotone) {
      // Windows of these can only have fired early; closed ones that did not never will.
      const cut = lowerBound(g.members, wm - T);
      if (cut > 0) {
        if (cut === g.members.length) g.members = [];
        else g.members.splice(0, cut);
      }
    } else {
      while (g.members.length > 0 && g.members[0]!.t + T < wm) {
        const w = this.windowAt(g, 0);
        if (w) this.fire(g, 0, w.end, w.measure, w.count);
        else g.members.shift();
      }
    }
    this.dirty = true;
    if (g.members.length === 0 && g.firedUntil < wm) {
      if (!g.gone) g.rule.groups.delete(g);
    } else {
      this.touch(g);
      this.reschedule(g);
    }
  }

  /** The whole state (every group). Checkpoints append deltas instead (`delta`). */
  snapshot(): EngineSnapshot {
    const groups: SnapshotGroup[] = [];
    // Least recently used first, so restoring in order rebuilds the same recency.
    for (const r of this.rules) for (const g of r.groups.values()) groups.push(snapshotGroup(g));
    return { watermark: this.wm === NONE ? null : this.wm, collectors: this.collectorTimes(), rules: this.ruleFingerprints(), alerts: [...this.fired.rkeys()], unacknowledged: this.unacknowledged(), groups };
  }

  /** The next delta is the whole state (after a restore that refused or dropped parts of the checkpoint). */
  requireFull(): void {
    this.fullNext = true;
    this.dirty = true;
  }

  /**
   * What changed since the previous delta (or the whole state when `full`), marking it written.
   * If writing it fails, `retry()` puts it back so the next delta carries it again.
   */
  delta(full = false): { delta: EngineDelta; full: boolean; retry: () => void } {
    full ||= this.fullNext;
    this.fullNext = false;
    const written: Group[] = [];
    const groups: SnapshotGroup[] = [];
    const take = (g: Group) => {
      if (g.gone) return;
      g.dirty = false;
      g.persisted = true;
      written.push(g);
      groups.push(snapshotGroup(g));
    };
    if (full) {
      for (const r of this.rules) for (const g of r.groups.values()) take(g);
    } else {
      for (const g of this.changedGroups) take(g);
    }
    this.changedGroups = new Set();
    const deleted = full ? [] : this.deletedGroups;
    this.deletedGroups = [];
    const alerts = full ? [...this.fired.rkeys()] : this.firedSince;
    this.firedSince = [];
    const withUnacked = full || this.unackedChanged;
    this.unackedChanged = false;
    this.dirty = false;
    const delta: EngineDelta = {
      watermark: this.wm === NONE ? null : this.wm,
      collectors: this.collectorTimes(),
      rules: this.ruleFingerprints(),
      alerts,
      alerts_kept: this.firedKept,
      ...(withUnacked ? { unacknowledged: this.unacknowledged() } : {}),
      deleted,
      groups,
    };
    const retry = () => {
      this.dirty = true;
      if (full) this.fullNext = true;
      for (const g of written) this.touch(g);
      if (deleted.length > 0) this.deletedGroups = deleted.concat(this.deletedGroups);
      if (!full && alerts.length > 0) this.firedSince = alerts.concat(this.firedSince);
      if (withUnacked) this.unackedChanged = true;
    };
    return { delta, full, retry };
  }

  private collectorTimes(): Record<string, number> {
    const collectors: Record<string, number> = {};
    for (const [name, c] of this.collectors) collectors[name] = c.maxT;
    return collectors;
  }

  private ruleFingerprints(): Record<string, string> {
    const rules: Record<string, string> = {};
    for (const r of this.rules) rules[r.def.key] = r.def.fingerprint;
    return rules;
  }

  private unacknowledged(): Array<{ trigger: string; alert: FabricEvent }> {
    const unacknowledged = this.unacked
      .flat()
      .filter((u) => u.trigger !== '')
      .slice(-MAX_UNACKED);
    for (const [trigger, alerts] of this.redeliver) for (const alert of alerts) unacknowledged.push({ trigger, alert });
    return unacknowledged;
  }

  /**
   * Load a checkpoint. Groups of rules that changed or disappeared are dropped (returned count).
   * readStateFile refuses impossible times with a warning first; times past the wall clock that
   * still get here (a direct caller) are not restored, so they cannot decide windows early.
   * A fired window longer or shorter than its rule's timespan is cut to it (`repaired`).
   */
  restore(s: EngineSnapshot): { groups: number; dropped: number; repaired: number } {
    let restored = 0;
    let dropped = 0;
    let repaired = 0;
    const now = this.now();
    const sane = (t: unknown): t is number => typeof t === 'number' && Number.isFinite(t) && t <= now;
    if (sane(s.watermark)) this.wm = s.watermark;
    // Restored collectors count as just seen, so they hold the watermark until they prove idle.
    for (const [name, maxT] of Object.entries(s.collectors ?? {})) if (sane(maxT)) this.collectors.set(name, { maxT, seenAt: now });
    for (const id of s.alerts) this.fired.set(id, true);
    for (const u of s.unacknowledged ?? []) {
      if (!u || typeof u.trigger !== 'string' || !u.trigger || !u.alert?.event?.id) continue;
      const list = this.redeliver.get(u.trigger) ?? [];
      list.push(u.alert);
      this.redeliver.set(u.trigger, list);
    }
    this.redeliverBatchesLeft = MAX_PENDING_BATCHES;
    for (const [ruleKey, values, firedStart, firedUntil, firedId, members] of s.groups) {
      const rule = this.byKey.get(ruleKey);
      if (!rule || s.rules[ruleKey] !== rule.def.fingerprint) {
        dropped++;
        // Forgotten in the checkpoint too, with the next delta.
        this.deletedGroups.push([ruleKey, groupKey(values)]);
        continue;
      }
      const key = groupKey(values);
      let until = firedUntil ?? NONE;
      // fire() always sets until = start + timespan; anything else would swallow (or free) detections.
      if (firedStart !== null && until !== firedStart + rule.def.timespanMs) {
        until = firedStart + rule.def.timespanMs;
        repaired++;
      }
      const g: Group = {
        rule,
        key,
        values,
        // The window searches rely on time order; a hand-edited checkpoint need not keep it.
        members: members.map(([t, id, c, v]) => ({ t, id, c, v, s: -1 })).sort((a, b) => a.t - b.t),
        firedStart: firedStart ?? NONE,
        firedUntil: until,
        firedId: firedId ?? undefined,
        gone: false,
        due: 0,
        slot: -1,
        older: undefined,
        newer: undefined,
        dirty: false,
        persisted: true,
      };
      // A checkpoint listing the same group twice: the later entry wins, and is what gets written back.
      if (rule.groups.add(g)) this.touch(g);
      this.reschedule(g);
      restored++;
    }
    return { groups: restored, dropped, repaired };
  }
}

function snapshotGroup(g: Group): SnapshotGroup {
  const members = new Array<[number, string, string, string | number]>(g.members.length);
  for (let k = 0; k < g.members.length; k++) {
    const m = g.members[k]!;
    members[k] = [m.t, m.id, m.c, m.v];
  }
  return [g.rule.def.key, g.values, g.firedStart === NONE ? null : g.firedStart, g.firedUntil === NONE ? null : g.firedUntil, g.firedId ?? null, members];
}

function annotateEvent(ev: FabricEvent, correlationId: string): void {
  const fabric = ev.fabric as Record<string, unknown>;
  const existing = fabric.correlation;
  // The usual case (a detection linked to one alert) in one allocation with its final shape.
  if (existing === undefined) {
    fabric.correlation = { ids: [correlationId] };
    return;
  }
  const corr = (existing && typeof existing === 'object' ? existing : (fabric.correlation = {})) as { ids?: string[] };
  corr.ids ??= [];
  if (!corr.ids.includes(correlationId)) corr.ids.push(correlationId);
}

function compile(def: CorrelationRule, groups: GroupTable): CompiledRule {
  const resolve = (field: string, ref: string) => def.aliases[field]?.[ref] ?? field;
  const aliasFields: Record<string, string[]> = {};
  for (const [alias, m] of Object.entries(def.aliases)) aliasFields[alias] = Object.values(m);
  return {
    def,
    monotone: isMonotone(def.condition),
    emit: true,
    groupFields: def.rules.map((ref) => def.groupBy.map((f) => fieldReader(resolve(f, ref)))),
    ...(def.type === 'value_count' && def.field ? { valueFields: def.rules.map((ref) => fieldReader(resolve(def.field!, ref))) } : {}),
    aliasFields,
    attack: attackFromTags(def.tags),
    downstream: [],
    groups,
  };
}
