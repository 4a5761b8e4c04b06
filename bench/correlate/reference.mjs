// A reference for the correlation benchmark: how fast the two counting built-ins could run in
// JavaScript at all. The same detections, the same rules (rf_brute_force: >= 5 failures in 5m;
// rf_password_spraying: >= 5 distinct user names in 10m; per source.ip), sliding windows, a fired
// window consuming its detections, per-collector lateness and windows closed by the watermark, so
// it raises the same alerts as the stage on the benchmark's stream. Groups live in flat typed
// storage, the layout issue 15 suggested for the stage: one hash lookup per detection finds the
// group's slot, shared by both rules (both group by source.ip); per rule, a slot's times sit in a
// Float64Array and its ids and values in flat arrays, and due times in buckets of a second.
//
// The two rules' timespans and thresholds are read from the rules the stage loaded.
//
// What it leaves out, so it is a ceiling and not a product: no chained rules, no alert objects,
// no LRU bound or eviction, no checkpoint bookkeeping, no re-delivery, no cluster keys, no value
// cutting, and at most SLOT_MEMBERS detections per group (the oldest dropped past it, counted in
// `dropped`: a run where it is not 0 is not comparable with the stage).

const SLOT_MEMBERS = 32;

class FlatCountingRule {
  /** @param {{ maxKeys: number, timespanMs: number, gte: number, distinct: boolean }} o */
  constructor({ maxKeys, timespanMs, gte, distinct }) {
    this.T = timespanMs;
    this.gte = gte;
    this.times = new Float64Array(maxKeys * SLOT_MEMBERS);
    this.ids = new Array(maxKeys * SLOT_MEMBERS);
    this.vals = distinct ? new Array(maxKeys * SLOT_MEMBERS) : undefined;
    this.len = new Uint8Array(maxKeys);
    this.firedUntil = new Float64Array(maxKeys);
    this.dueAt = new Float64Array(maxKeys);
    /** 1 while the slot holds detections or a fired window the watermark has not passed. */
    this.live = new Uint8Array(maxKeys);
    /** Due second -> slots due then (stale entries skipped when their due moved). */
    this.buckets = new Map();
    this.alerts = 0;
    this.dropped = 0;
  }

  /** A slot (re)assigned to a new group. */
  init(s) {
    this.len[s] = 0;
    this.firedUntil[s] = Number.NEGATIVE_INFINITY;
    this.dueAt[s] = -1;
  }

  /** Move members [from, n) of slot s to its start. */
  shift(s, from, n) {
    const base = s * SLOT_MEMBERS;
    this.times.copyWithin(base, base + from, base + n);
    this.ids.copyWithin(base, base + from, base + n);
    this.vals?.copyWithin(base, base + from, base + n);
  }

  add(s, t, id, v) {
    // Inside the window that fired: part of that alert, nothing to keep.
    if (t <= this.firedUntil[s]) return;
    this.live[s] = 1;
    const base = s * SLOT_MEMBERS;
    const times = this.times;
    let n = this.len[s];
    let pos = n;
    while (pos > 0 && times[base + pos - 1] > t) pos--;
    for (let k = pos - 1; k >= 0 && times[base + k] === t; k--) if (this.ids[base + k] === id) return;
    if (n === SLOT_MEMBERS) {
      this.shift(s, 1, n);
      n--;
      pos--;
      this.dropped++;
    }
    times.copyWithin(base + pos + 1, base + pos, base + n);
    this.ids.copyWithin(base + pos + 1, base + pos, base + n);
    this.vals?.copyWithin(base + pos + 1, base + pos, base + n);
    times[base + pos] = t;
    this.ids[base + pos] = id;
    if (this.vals) this.vals[base + pos] = v;
    this.len[s] = ++n;
    // Only windows containing t can have become satisfied: those anchored within a timespan before it.
    for (let i = 0; i < n && times[base + i] <= t; i++) {
      if (times[base + i] < t - this.T) continue;
      const limit = times[base + i] + this.T;
      let j = i;
      let c = 0;
      for (; j < n && times[base + j] <= limit; j++) {
        if (this.vals) {
          let seen = false;
          for (let q = i; q < j; q++) {
            if (this.vals[base + q] === this.vals[base + j]) {
              seen = true;
              break;
            }
          }
          if (!seen) c++;
        } else c++;
      }
      if (c >= this.gte) {
        this.alerts++;
        this.firedUntil[s] = limit;
        this.shift(s, j, n);
        this.len[s] = n - j;
        break;
      }
    }
    this.schedule(s);
  }

  schedule(s) {
    const due = this.len[s] > 0 ? this.times[s * SLOT_MEMBERS] + this.T : this.firedUntil[s];
    const b = Math.floor(due / 1000);
    const same = this.dueAt[s] >= 0 && Math.floor(this.dueAt[s] / 1000) === b;
    this.dueAt[s] = due;
    if (same) return;
    const list = this.buckets.get(b);
    if (list) list.push(s);
    else this.buckets.set(b, [s]);
  }

  /** Drop detections whose windows the watermark passed; `idle(s)` when a slot has nothing left. */
  close(wm, idle) {
    const last = Math.floor(wm / 1000);
    for (const [b, list] of this.buckets) {
      if (b >= last) continue;
      this.buckets.delete(b);
      for (const s of list) {
        if (this.dueAt[s] < 0 || Math.floor(this.dueAt[s] / 1000) !== b) continue;
        const base = s * SLOT_MEMBERS;
        const n = this.len[s];
        let cut = 0;
        while (cut < n && this.times[base + cut] + this.T < wm) cut++;
        if (cut > 0) {
          this.shift(s, cut, n);
          this.len[s] = n - cut;
        }
        this.dueAt[s] = -1;
        if (this.len[s] === 0 && this.firedUntil[s] < wm) {
          this.live[s] = 0;
          idle(s);
        } else this.schedule(s);
      }
    }
  }
}

/**
 * The timespan and threshold of a built-in the stage loaded (so the reference follows the rule
 * files), refused when it is not the shape this loop is written for.
 */
function counting(defs, name, type) {
  const def = defs.find((r) => r.name === name);
  const shape =
    def?.type === type &&
    Object.keys(def.condition).join() === 'gte' &&
    def.groupBy.join() === 'source.ip' &&
    def.rules.join() === 'rf_failed_authentication' &&
    (type === 'event_count' || def.field === 'user.name');
  if (!shape) throw new Error(`reference: the built-in ${name} is not the ${type} rule this loop is written for (bench/correlate/reference.mjs)`);
  return { timespanMs: def.timespanMs, gte: def.condition.gte };
}

/**
 * A batch function for the benchmark's measure(): detections in, rule state updated. `alerts()`
 * reports what fired, by rule name, and `dropped()` the detections the slot cap dropped.
 */
export function flatReference({ maxKeys, allowedLatenessMs, rules: defs }) {
  const bruteForce = new FlatCountingRule({ maxKeys, ...counting(defs, 'rf_brute_force', 'event_count'), distinct: false });
  const spraying = new FlatCountingRule({ maxKeys, ...counting(defs, 'rf_password_spraying', 'value_count'), distinct: true });
  const rules = [bruteForce, spraying];
  const newest = new Map();
  /** Group key -> slot, and back; a slot is freed once no rule holds anything in it. */
  const index = new Map();
  const keys = new Array(maxKeys);
  const free = [];
  for (let i = maxKeys - 1; i >= 0; i--) free.push(i);
  const idle = (s) => {
    if (keys[s] === undefined || bruteForce.live[s] === 1 || spraying.live[s] === 1) return;
    index.delete(keys[s]);
    keys[s] = undefined;
    free.push(s);
  };
  return {
    process(batch) {
      for (const e of batch) {
        if (e.fabric?.alert_type !== 'detection') continue;
        const matches = e.fabric.matches;
        if (!Array.isArray(matches) || matches.length === 0) continue;
        const t = Date.parse(e['@timestamp']);
        if (Number.isNaN(t)) continue;
        const c = e.fabric.collector;
        const prev = newest.get(c);
        if (prev === undefined || t > prev) newest.set(c, t);
        else if (t < prev - allowedLatenessMs) continue;
        if (matches[0].name !== 'rf_failed_authentication') continue;
        const key = e.source.ip;
        let s = index.get(key);
        if (s === undefined) {
          s = free.pop();
          if (s === undefined) throw new Error('reference: more open groups than max_keys; raise --max-keys');
          index.set(key, s);
          keys[s] = key;
          for (const r of rules) r.init(s);
        }
        bruteForce.add(s, t, e.event.id, 0);
        spraying.add(s, t, e.event.id, e.user.name);
      }
      let wm = Number.POSITIVE_INFINITY;
      for (const v of newest.values()) if (v < wm) wm = v;
      wm -= allowedLatenessMs;
      for (const r of rules) r.close(wm, idle);
    },
    alerts: () => ({ rf_brute_force: bruteForce.alerts, rf_password_spraying: spraying.alerts }),
    dropped: () => bruteForce.dropped + spraying.dropped,
    groups: () => index.size,
  };
}
