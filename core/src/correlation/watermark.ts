import { NONE } from './window-state.js';

/**
 * Event time per collector, and the watermark windows are decided against. Lateness is judged
 * per collector (a detection more than the allowed lateness behind the newest one of its own
 * collector is late), so a log store polled minutes behind a tailed file still correlates with
 * it. The watermark follows the slowest active collector (idle ones are left out after
 * idleCollectorMs), so the lagging collector's detections find its windows still open.
 */
export class Watermark {
  /** Newest @timestamp and last arrival (wall clock) per collector. */
  private readonly collectors = new Map<string, { maxT: number; seenAt: number }>();
  /** Only moves forward: windows decided stay decided. */
  private wm = NONE;

  constructor(
    private readonly allowedLatenessMs: number,
    private readonly idleCollectorMs: number,
  ) {}

  /** Event time up to which windows are decided: the slowest active collector's newest time − lateness. */
  get value(): number {
    return this.wm;
  }

  /** For the checkpoint: JSON has no -Infinity. */
  get saved(): number | null {
    return this.wm === NONE ? null : this.wm;
  }

  /**
   * A detection of `collector` stamped `t` arrived at wall time `now`. Returns false when it is
   * late for its collector (then nothing moves).
   */
  observe(collector: string, t: number, now: number): boolean {
    // Every detection moves its collector's event time, whether or not a correlation uses it, but
    // never past the wall clock: one detection stamped a few minutes ahead (within the skew) must
    // not make the collector's next detections late nor push the watermark over open windows.
    const frontier = t < now ? t : now;
    let source = this.collectors.get(collector);
    if (!source) this.collectors.set(collector, (source = { maxT: frontier, seenAt: now }));
    if (t < source.maxT - this.allowedLatenessMs) return false;
    if (frontier > source.maxT) source.maxT = frontier;
    source.seenAt = now;
    return true;
  }

  advance(now: number): void {
    let slowest = Number.POSITIVE_INFINITY;
    let newest = NONE;
    for (const c of this.collectors.values()) {
      if (c.maxT > newest) newest = c.maxT;
      if (now - c.seenAt <= this.idleCollectorMs && c.maxT < slowest) slowest = c.maxT;
    }
    // Every collector idle: nothing is coming that could still fill a window.
    const candidate = (slowest === Number.POSITIVE_INFINITY ? newest : slowest) - this.allowedLatenessMs;
    if (candidate > this.wm) this.wm = candidate;
  }

  /** Newest event time per collector. */
  collectorTimes(): Record<string, number> {
    const collectors: Record<string, number> = {};
    for (const [name, c] of this.collectors) collectors[name] = c.maxT;
    return collectors;
  }

  /**
   * From a checkpoint. Times past the wall clock are not restored (readStateFile refuses them
   * with a warning first; a direct caller gets here unchecked), so they cannot decide windows early.
   */
  restore(watermark: unknown, collectors: Record<string, unknown> | undefined, now: number): void {
    const sane = (t: unknown): t is number => typeof t === 'number' && Number.isFinite(t) && t <= now;
    if (sane(watermark)) this.wm = watermark;
    // Restored collectors count as just seen, so they hold the watermark until they prove idle.
    for (const [name, maxT] of Object.entries(collectors ?? {})) if (sane(maxT)) this.collectors.set(name, { maxT, seenAt: now });
  }
}
