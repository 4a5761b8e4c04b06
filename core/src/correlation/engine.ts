// Over 400 lines: the per-batch loop (sort, observe, add, fire, close) reads and writes the window
// state at every step; windows, redelivery, watermarks and checkpoints already live in their own modules.
import type { FabricEvent } from '../plugin-api/events.js';
import type { CorrelationConfig } from './config.js';
import { isDetection } from '../events/ecs.js';
import { alertId, annotateEvent, windowAlert } from './alert.js';
import { restoreCheckpoint, takeDelta, type CheckpointedState, type EngineDelta, type EngineSnapshot } from './checkpoint.js';
import { compileRules, targetsOf, type CompiledRule, type RuleInput } from './compiled-rule.js';
import { FiredAlerts } from './fired-alerts.js';
import { Redelivery } from './redelivery.js';
import { isMonotone, type CorrelationRule } from './rule.js';
import { Watermark } from './watermark.js';
import { WindowSearch } from './window-search.js';
import { groupKey, keptText, keptValue, lowerBound, NONE, plainKey, upperBound, WindowState, type Group, type Member } from './window-state.js';

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

/** The engine's limits as the `correlation:` section sets them (one place for the stage and the cluster's correlator). */
export function engineLimits(c: CorrelationConfig): Omit<EngineOptions, 'now' | 'hooks'> {
  return {
    allowedLatenessMs: c.allowed_lateness_seconds * 1000,
    idleCollectorMs: c.idle_collector_seconds * 1000,
    maxClockSkewMs: c.max_clock_skew_seconds * 1000,
    maxKeys: c.max_keys,
    maxEventsPerKey: c.max_events_per_key,
    maxMembersInAlert: c.max_members_in_alert,
  };
}

function missing(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
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
 * Lateness is judged per collector and windows close on the slowest active collector's
 * watermark (watermark.ts), so a log store polled minutes behind a tailed file still correlates
 * with it.
 *
 * The engine runs each batch and decides what fires; what it decides on lives in its parts:
 * open groups (window-state.ts), satisfied windows (window-search.ts), event time
 * (watermark.ts), fired ids (fired-alerts.ts), alerts awaiting the sink (redelivery.ts), and
 * their checkpoint form (checkpoint.ts).
 */
export class CorrelationEngine {
  /** Detection rule name or id → the correlation rules (and reference position) that count it. */
  private readonly inputs: Map<string, RuleInput[]>;
  private readonly windows: WindowState;
  private readonly search = new WindowSearch();
  private readonly fired: FiredAlerts;
  private readonly wm: Watermark;
  private readonly hooks: EngineHooks;
  private readonly now: () => number;
  /**
   * Events of the batch being correlated (detections in time order, then alerts it fired), so a
   * fired window annotates its members through their `s` slot without a lookup by id.
   */
  private batchEvents: FabricEvent[] = [];
  /** Slot of batchEvents[0]: grows by each batch's length, so slots of earlier batches never match. */
  private slotBase = 0;
  /** Reused per batch: detection times and their order. */
  private times = new Float64Array(1024);
  private order = new Uint32Array(1024);
  private out: FabricEvent[] = [];
  /** Detection being correlated: the trigger of any alert it fires (directly or through a chain). */
  private trigger: string | undefined;
  /** Parallel to `out`: the detection that fired each alert. */
  private triggers: string[] = [];
  private readonly redelivery = new Redelivery();
  /** process()'s `only`, while it runs. */
  private only: ReadonlyMap<FabricEvent, ReadonlySet<string>> | undefined;
  /** The parts above that a checkpoint holds. */
  private readonly state: CheckpointedState;
  private dirty = false;
  private fullNext = false;

  constructor(
    rules: readonly CorrelationRule[],
    private readonly opts: EngineOptions,
  ) {
    this.now = opts.now ?? Date.now;
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
    this.windows = new WindowState({
      maxKeys: opts.maxKeys,
      maxEventsPerKey: opts.maxEventsPerKey,
      // Only rules decided at window close (lt/lte/eq) fire while closing: then closing order matters.
      ordered: rules.some((r) => !isMonotone(r.condition)),
      evicted: () => this.hooks.evicted(),
      droppedMembers: (n) => this.hooks.droppedMembers(n),
    });
    // One table per rule: keys are the group-by values themselves, with no per-detection string building.
    const compiled = compileRules(rules, () => this.windows.table());
    this.inputs = compiled.inputs;
    this.fired = new FiredAlerts(opts.maxKeys);
    this.wm = new Watermark(opts.allowedLatenessMs, opts.idleCollectorMs);
    this.state = { rules: compiled.rules, byKey: compiled.byKey, windows: this.windows, fired: this.fired, watermark: this.wm, redelivery: this.redelivery };
  }

  get groupCount(): number {
    return this.windows.size;
  }
  /** Event time up to which windows are decided: the slowest active collector's newest time − lateness. */
  get watermark(): number {
    return this.wm.value;
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
  process(batch: readonly FabricEvent[], only?: ReadonlyMap<FabricEvent, ReadonlySet<string>>): FabricEvent[] {
    // Pending before correlating: a batch that throws half-way still awaits its acknowledgement.
    const pending = this.redelivery.begin();
    this.triggers = [];
    // Cluster mode: a detection re-keyed to this engine counts only for the rules (keys) it was sent for.
    this.only = only;
    try {
      const out = this.correlate(batch);
      this.redelivery.fired(pending, out, this.triggers);
      return out;
    } finally {
      this.only = undefined;
    }
  }

  /**
   * `collector` has read up to event time `t` (cluster mode: a watermark record its slot wrote
   * after its data). Moves that collector's event time as a detection would; the next process()
   * decides the windows it closes.
   */
  observeTime(collector: string, t: number): void {
    if (!Number.isFinite(t)) return;
    const now = this.now();
    if (t > now + this.opts.maxClockSkewMs) return;
    this.wm.observe(collector, t, now);
    this.dirty = true;
  }

  /**
   * The sink acknowledged the oldest batch still pending (the pipeline checkpoints once per batch,
   * after its write): its alerts are durable and will not be re-sent after a restart.
   */
  acknowledge(): void {
    if (this.redelivery.acknowledge()) this.dirty = true;
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
      if (!isDetection(e)) continue;
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
    this.wm.advance(now);
    // Windows decided by the watermark have no single detection to re-deliver them.
    this.trigger = undefined;
    this.closeDue();
    this.slotBase += this.batchEvents.length;
    this.batchEvents = [];
    this.redelivery.end();
    const out = this.out;
    this.out = [];
    return out;
  }

  private observe(e: FabricEvent, t: number, horizon: number, now: number, slot: number): void {
    if (this.redelivery.owing) this.resend(e);
    if (t > horizon) {
      this.hooks.skipped('future_timestamp');
      return;
    }
    let targets = targetsOf(this.inputs, e.fabric.matches as Array<{ id?: unknown; name?: unknown } | null>);
    if (this.only && targets) {
      const allowed = this.only.get(e);
      targets = targets.filter((x) => allowed?.has(x.rule.def.key) ?? false);
      if (targets.length === 0) targets = undefined;
    }
    // Every detection moves its collector's event time, whether or not a correlation uses it.
    const collector = typeof e.fabric?.collector === 'string' ? e.fabric.collector : '';
    if (!this.wm.observe(collector, t, now)) {
      if (targets) this.hooks.late();
      return;
    }
    if (!targets) return;
    this.trigger = e.event.id;
    const id = keptText(e.event.id);
    for (const target of targets) this.add(target.rule, target.ref, e, t, id, collector, slot);
  }

  private add(rule: CompiledRule, ref: number, e: FabricEvent, t: number, id: string, collector: string, slot: number): void {
    const fields = rule.groupFields[ref]!;
    let key: string;
    let values: unknown[] | undefined;
    const first = fields.length === 1 ? fields[0]!(e) : undefined;
    if (plainKey(first)) {
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
        values[i] = keptValue(fv);
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
      v = keptText(typeof raw === 'string' ? raw : JSON.stringify(raw));
    }
    const g = this.windows.open(rule, key, values);
    this.dirty = true;
    const f = g.fired;
    if (f !== undefined && t <= f.until) {
      // Part of an incident already raised: link it rather than start an overlapping one.
      if (t >= f.start && f.id) annotateEvent(e, f.id);
      return;
    }
    const member: Member = { t, id, c: collector, v, s: slot };
    if (!this.windows.insert(g, member)) {
      this.hooks.duplicate();
      return;
    }
    this.touch(g);
    if (rule.monotone) this.fireEarly(g, member);
    this.windows.reschedule(g);
  }

  /** The group changed: the next checkpoint delta carries it. */
  private touch(g: Group): void {
    this.dirty = true;
    this.windows.touch(g);
  }

  /** A detection that satisfies a window fires it at once; out-of-order ones may satisfy more. */
  private fireEarly(g: Group, m: Member): void {
    const w = this.search.through(g, m);
    if (w) {
      this.fire(g, w.start, w.end, w.measure, w.count);
      this.fireRemaining(g);
    }
  }

  /** Detections that arrived out of order past a fired window may already satisfy a later one. */
  private fireRemaining(g: Group): void {
    for (let i = 0; i < g.members.length; i++) {
      const w = this.search.at(g, i);
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
    const id = alertId(rule.def.key, g.key, start);
    const repeat = this.fired.record(id);
    // Built before the group moves past the window: the alert lists the window's detections.
    const fired = repeat ? undefined : windowAlert(g, i, end, { id, measure, count, now: this.now() }, this.opts.maxMembersInAlert);
    g.fired = { start, until, id };
    const cut = upperBound(ms, until);
    for (let k = i; k < cut; k++) this.annotate(ms[k]!, id);
    g.members = ms.slice(cut);
    this.touch(g);
    if (!fired) {
      this.hooks.duplicate();
      return;
    }
    this.hooks.alert(rule.def, rule.emit);
    if (rule.emit) this.emit(fired.alert, this.trigger ?? '');
    const slot = this.slotBase + this.batchEvents.length;
    this.batchEvents.push(fired.alert);
    for (const d of rule.downstream) this.add(d.rule, d.ref, fired.alert, fired.lastSeen, id, 'correlation', slot);
  }

  /** After a restart: the very same alerts the detection fired before, if their batch was never acknowledged. */
  private resend(e: FabricEvent): void {
    const alerts = this.redelivery.resend(e);
    if (!alerts) return;
    for (const alert of alerts) this.emit(alert, e.event.id);
    this.hooks.resent(alerts.length);
  }

  private emit(alert: FabricEvent, trigger: string): void {
    this.out.push(alert);
    this.triggers.push(trigger);
  }

  /** A member of a fired window gets its id, if its event is in the batch being correlated. */
  private annotate(m: Member, correlationId: string): void {
    const k = m.s - this.slotBase;
    const ev = k >= 0 && k < this.batchEvents.length ? this.batchEvents[k] : this.redelivery.resent(m.id);
    if (ev) annotateEvent(ev, correlationId);
  }

  /** Decide windows the watermark has passed, and forget groups with nothing left to decide. */
  private closeDue(): void {
    const wm = this.watermark;
    for (let g = this.windows.nextDue(wm); g; g = this.windows.nextDue(wm)) this.close(g, wm);
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
        const w = this.search.at(g, 0);
        if (w) this.fire(g, 0, w.end, w.measure, w.count);
        else g.members.shift();
      }
    }
    this.dirty = true;
    if (g.members.length === 0 && (g.fired?.until ?? NONE) < wm) {
      if (!g.gone) g.rule.groups.delete(g);
    } else {
      this.touch(g);
      this.windows.reschedule(g);
    }
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
    this.dirty = false;
    const { delta, retry } = takeDelta(this.state, full);
    return {
      delta,
      full,
      retry: () => {
        this.dirty = true;
        if (full) this.fullNext = true;
        retry();
      },
    };
  }

  /**
   * Load a checkpoint. Groups of rules that changed or disappeared are dropped (returned count).
   * readStateFile refuses impossible times with a warning first; times past the wall clock that
   * still get here (a direct caller) are not restored, so they cannot decide windows early.
   * A fired window longer or shorter than its rule's timespan is cut to it (`repaired`).
   */
  restore(s: EngineSnapshot): { groups: number; dropped: number; repaired: number } {
    const r = restoreCheckpoint(this.state, s, this.now());
    if (r.replaced) this.dirty = true;
    return { groups: r.groups, dropped: r.dropped, repaired: r.repaired };
  }
}
