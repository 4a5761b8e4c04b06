import { createHash } from 'node:crypto';
import type { FabricEvent } from '../plugin-api/events.js';
import type { AttackMapping } from '../detection/sigma/attack.js';
import type { CorrelationRule } from './rule.js';
import { DueQueue, type Due } from './due-queue.js';

/** No time yet: a group that never fired, a watermark before the first detection. */
export const NONE = Number.NEGATIVE_INFINITY;

/** One detection remembered in a group: event time, id, collector, and what the rule counts. */
export interface Member {
  t: number;
  id: string;
  c: string;
  /** value_count: the counted value; temporal types: index of the referenced rule it matched. */
  v: string | number;
  /** Position of its event in the batch being correlated (engine `slotBase` + index), -1 when not known. */
  s: number;
}

// The compiled rules and their group tables refer to each other; their types live here, with the
// groups, so that compiled-rule.ts (which builds them) and this module do not import each other.
/** A correlation rule as the engine runs it: its fields resolved to readers, its chain wired. */
export interface CompiledRule {
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
  downstream: RuleInput[];
  /** Open groups of this rule by group-by key, least recently used evicted past max_keys. */
  groups: GroupTable;
}

/** A rule fed by a reference: the correlation rule and which of its `rules` entries matched. */
export interface RuleInput {
  rule: CompiledRule;
  ref: number;
}

export interface CompiledRules {
  /** In the order given: checkpoints list groups rule by rule in this order. */
  rules: CompiledRule[];
  byKey: Map<string, CompiledRule>;
  /** Detection rule name or id → the correlation rules (and reference position) that count it. */
  inputs: Map<string, RuleInput[]>;
}

/** [rule key, group values, fired start, fired until, fired alert id, members [t, id, collector, value]] */
export type SnapshotGroup = [string, unknown[], number | null, number | null, string | null, Array<[number, string, string, string | number]>];

/** The last window a group fired: detections up to `until` belong to that alert and start nothing new. */
export interface FiredWindow {
  start: number;
  until: number;
  id: string | undefined;
}

// Memory per group matters: ~150k of them are open at 1M detections/hour over 100k addresses, most
// holding one detection (bench/correlate). So what most groups lack costs nothing: no values array
// for a one-field string key, no fired window (two boxed doubles) for a group that never fired, and
// members arrays of exactly their length up to four detections (a push onto [] reserves 17 slots).

/** One rule's detections for one group-by value: the windows still open, and the last one fired. */
export interface Group extends Due {
  rule: CompiledRule;
  key: string;
  /** Group-by values; undefined when they are `[key]` (one field, a string): see groupValues(). */
  values: unknown[] | undefined;
  /** Sorted by event time; equal times keep arrival order. */
  members: Member[];
  fired: FiredWindow | undefined;
  /** Set once the group left the LRU (evicted or forgotten): it must not be queued again. */
  gone: boolean;
  /** Neighbours in its rule's recency list (older, newer). */
  older: Group | undefined;
  newer: Group | undefined;
  /** Its index in WindowState's `changed` (changed since the last checkpoint delta), -1 when not. */
  changedAt: number;
  /** Written to a checkpoint (or restored from one): forgetting it must be checkpointed too. */
  persisted: boolean;
}

/** The group-by values of a group, in the rule's group-by order. */
export function groupValues(g: Group): unknown[] {
  return g.values ?? [g.key];
}

/**
 * A group's key in its rule's table (and in alert ids and the cluster's changelog): one string value
 * is its own key; anything else is the JSON of the values, which starts with `[`. So one string
 * that starts with `[` is written as JSON too: a forged `"[[\"203.0.113.5\"]]"` must not share a
 * group with the array `["203.0.113.5"]`.
 */
export function groupKey(values: unknown[]): string {
  if (values.length === 1 && plainKey(values[0])) return values[0];
  return JSON.stringify(values);
}

/**
 * The key of a group as a checkpoint lists it: its values cut as the engine cuts new detections'
 * (a checkpoint written before values were cut may hold them whole), so both name one group.
 */
export function storedGroupKey(values: unknown[]): string {
  return groupKey(values.map(keptValue));
}

/** A value that is its own group key (see groupKey). */
export function plainKey(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v.length <= MAX_KEPT_CHARS && v.charCodeAt(0) !== 0x5b; // not '['
}

/** Longest group-by value, counted value or detection id correlation keeps as it is. */
export const MAX_KEPT_CHARS = 256;

/**
 * What correlation keeps of a text it groups by, counts or lists: the text up to MAX_KEPT_CHARS,
 * else its start and the SHA-256 of the whole (distinct and deterministic, and itself shorter than
 * the limit). The fields come from the events, which an attacker often writes (an X-Forwarded-For
 * read as source.ip, a user name): kept whole, each of max_keys groups could hold a megabyte.
 */
export function keptText(s: string): string {
  if (s.length <= MAX_KEPT_CHARS) return s;
  return `${s.slice(0, 128)}…[${s.length} chars, sha256:${createHash('sha256').update(s).digest('hex')}]`;
}

/** A group-by value as correlation keeps it: a long string, or a structure whose JSON is long, cut by keptText. */
export function keptValue(v: unknown): unknown {
  if (typeof v === 'string') return keptText(v);
  if (v === null || typeof v !== 'object') return v;
  const json = JSON.stringify(v);
  return json.length <= MAX_KEPT_CHARS ? v : keptText(json);
}

/** First index whose time is ≥ t. */
export function lowerBound(ms: Member[], t: number): number {
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
export function upperBound(ms: Member[], t: number): number {
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
 * One rule's open groups: a Map by key plus an intrusive recency list, so a lookup that touches a
 * group costs one hash lookup and a few pointer writes, and no per-lookup allocation.
 */
export class GroupTable {
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

export interface WindowStateOptions {
  /** Groups per rule (max_keys). */
  maxKeys: number;
  /** Detections per group (max_events_per_key). */
  maxEventsPerKey: number;
  /** Closing order matters: some rule fires at window close (see DueQueue). */
  ordered: boolean;
  evicted(): void;
  droppedMembers(n: number): void;
}

/**
 * The open groups of every rule and their bookkeeping: bounded in number (per rule) and in
 * detections (per group), queued by the event time their oldest window closes, and tracked for
 * the checkpoint journal (which groups changed or were forgotten since the last delta). Deciding
 * which windows fire is the engine's; this only keeps what it decides on.
 */
export class WindowState {
  private readonly due: DueQueue<Group>;
  /** One per rule, in rule order. */
  private readonly tables: GroupTable[] = [];
  /**
   * Groups changed since the last delta, in order, each once (`group.changedAt`); a group forgotten
   * meanwhile leaves a hole. An array rather than a Set: while the sink does not acknowledge, every
   * open group is in it, and a Set entry cost ~60 bytes against 8 (bench/correlate heap snapshot).
   */
  private changed: Array<Group | undefined> = [];
  private holes = 0;
  /** Checkpointed groups forgotten since the last delta. */
  private deleted: Array<[string, string]> = [];

  constructor(private readonly opts: WindowStateOptions) {
    this.due = new DueQueue<Group>(opts.ordered);
  }

  /** A table for the next rule. */
  table(): GroupTable {
    const t = new GroupTable(this.opts.maxKeys, (group, evicted) => this.dispose(group, evicted));
    this.tables.push(t);
    return t;
  }

  get size(): number {
    let n = 0;
    for (const t of this.tables) n += t.size;
    return n;
  }

  /** The group of `key` in `rule`, created (with `values`, or `[key]`) if there is none. */
  open(rule: CompiledRule, key: string, values: unknown[] | undefined): Group {
    let g = rule.groups.get(key);
    if (!g) {
      g = newGroup(rule, key, values, [], undefined, false);
      rule.groups.add(g);
    }
    return g;
  }

  /**
   * Add a detection in time order. Returns false for a re-delivered one (same id, same role) so
   * it is not counted twice; past max_events_per_key the oldest detections are dropped.
   */
  insert(g: Group, m: Member): boolean {
    const ms = g.members;
    const pos = upperBound(ms, m.t);
    for (let k = pos - 1; k >= 0 && ms[k]!.t === m.t; k--) {
      if (ms[k]!.id === m.id && ms[k]!.v === m.v) {
        // The very detection again (re-read after a restart or a failed write): it is in this batch now.
        ms[k]!.s = m.s;
        return false;
      }
    }
    if (pos === ms.length && ms.length < 4) {
      // An array of exactly the new length: a push would reserve 16 more slots.
      g.members = ms.length === 0 ? [m] : ms.length === 1 ? [ms[0]!, m] : ms.length === 2 ? [ms[0]!, ms[1]!, m] : [ms[0]!, ms[1]!, ms[2]!, m];
    } else if (pos === ms.length) ms.push(m);
    else ms.splice(pos, 0, m);
    const all = g.members;
    if (all.length > this.opts.maxEventsPerKey) {
      const n = all.length - this.opts.maxEventsPerKey;
      if (n === 1) all.shift();
      else all.splice(0, n);
      this.opts.droppedMembers(n);
    }
    return true;
  }

  /** The group changed: the next checkpoint delta carries it. */
  touch(g: Group): void {
    if (g.changedAt < 0 && !g.gone) {
      g.changedAt = this.changed.length;
      this.changed.push(g);
    }
  }

  /** Queue the group for when its oldest window closes; one with nothing left to decide is forgotten. */
  reschedule(g: Group): void {
    // A chained rule's alert can create groups and evict this one meanwhile; an evicted group stays out.
    if (g.gone) return;
    const due = g.members.length > 0 ? g.members[0]!.t + g.rule.def.timespanMs : (g.fired?.until ?? NONE);
    if (due === NONE) {
      g.rule.groups.delete(g);
      return;
    }
    if (g.slot >= 0 && g.due === due) return;
    this.due.schedule(g, due);
  }

  /** The next group whose window closes before `watermark`, dequeued (reschedule() puts it back). */
  nextDue(watermark: number): Group | undefined {
    return this.due.next(watermark);
  }

  /**
   * Groups changed and forgotten since the last call (or every group when `full`), now counted as
   * written; `retry()` puts them back when writing them fails.
   */
  changes(full: boolean): { groups: SnapshotGroup[]; deleted: Array<[string, string]>; retry: () => void } {
    const written: Group[] = [];
    const groups: SnapshotGroup[] = [];
    const take = (g: Group) => {
      if (g.gone) return;
      g.changedAt = -1;
      g.persisted = true;
      written.push(g);
      groups.push(snapshotGroup(g));
    };
    if (full) {
      // Rule by rule, least recently used first: restoring in order rebuilds the same recency.
      for (const t of this.tables) for (const g of t.values()) take(g);
    } else {
      for (const g of this.changed) if (g !== undefined) take(g);
    }
    this.changed = [];
    this.holes = 0;
    // A full record replaces everything before it: nothing to delete.
    const deleted = full ? [] : this.deleted;
    this.deleted = [];
    const retry = () => {
      for (const g of written) this.touch(g);
      if (deleted.length > 0) this.deleted = deleted.concat(this.deleted);
    };
    return { groups, deleted, retry };
  }

  /** A checkpointed group not restored (its rule changed or is gone): the next delta forgets it too. */
  forget(ruleKey: string, key: string): void {
    this.deleted.push([ruleKey, key]);
  }

  /**
   * Restore one checkpointed group of `rule`. A fired window longer or shorter than the rule's
   * timespan is cut to it (`repaired`); `replaced` when the checkpoint listed the group before.
   */
  restore(rule: CompiledRule, [, values, firedStart, firedUntil, firedId, members]: SnapshotGroup): { repaired: boolean; replaced: boolean } {
    let until = firedUntil ?? NONE;
    let repaired = false;
    // The engine always fires until = start + timespan; anything else would swallow (or free) detections.
    if (firedStart !== null && until !== firedStart + rule.def.timespanMs) {
      until = firedStart + rule.def.timespanMs;
      repaired = true;
    }
    // Cut as new detections are (a checkpoint of an earlier version kept long values whole), so they meet.
    const kept = values.map(keptValue);
    const key = groupKey(kept); // = storedGroupKey(values)
    const g = newGroup(
      rule,
      key,
      kept.length === 1 && kept[0] === key ? undefined : kept,
      // The window searches rely on time order; a hand-edited checkpoint need not keep it.
      members.map(([t, id, c, v]) => ({ t, id: keptText(id), c, v: typeof v === 'string' ? keptText(v) : v, s: -1 })).sort((a, b) => a.t - b.t),
      firedStart === null && until === NONE ? undefined : { start: firedStart ?? NONE, until, id: firedId ?? undefined },
      true,
    );
    // A checkpoint listing the same group twice: the later entry wins, and is what gets written back.
    const replaced = rule.groups.add(g);
    if (replaced) this.touch(g);
    this.reschedule(g);
    return { repaired, replaced };
  }

  private squeezeChanged(): void {
    let w = 0;
    for (const g of this.changed) {
      if (g === undefined) continue;
      g.changedAt = w;
      this.changed[w++] = g;
    }
    this.changed.length = w;
    this.holes = 0;
  }

  /** A group left its table (evicted past max_keys, or nothing left to decide). */
  private dispose(group: Group, evicted: boolean): void {
    group.gone = true;
    this.due.remove(group);
    if (group.changedAt >= 0) {
      this.changed[group.changedAt] = undefined;
      group.changedAt = -1;
      // Holes are squeezed out once they are most of the array, so it stays within 2× the changed groups.
      if (++this.holes > 1024 && this.holes * 2 > this.changed.length) this.squeezeChanged();
    }
    if (group.persisted) this.deleted.push([group.rule.def.key, group.key]);
    if (evicted) this.opts.evicted();
  }
}

function snapshotGroup(g: Group): SnapshotGroup {
  const members = new Array<[number, string, string, string | number]>(g.members.length);
  for (let k = 0; k < g.members.length; k++) {
    const m = g.members[k]!;
    members[k] = [m.t, m.id, m.c, m.v];
  }
  const f = g.fired;
  return [g.rule.def.key, groupValues(g), f === undefined || f.start === NONE ? null : f.start, f === undefined || f.until === NONE ? null : f.until, f?.id ?? null, members];
}

/** A group not yet queued nor linked into its table's recency list. */
function newGroup(rule: CompiledRule, key: string, values: unknown[] | undefined, members: Member[], fired: FiredWindow | undefined, persisted: boolean): Group {
  return { rule, key, values, members, fired, gone: false, due: 0, slot: -1, older: undefined, newer: undefined, changedAt: -1, persisted };
}
