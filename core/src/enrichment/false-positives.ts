import { stat } from 'node:fs/promises';
import path from 'node:path';
import { HostError } from '../host.js';
import type { FalsePositive } from '../host.js';
import type { Indicator } from '../plugin-api/index.js';
import { indicatorKey, normalizeIndicator } from './indicator.js';
import { readJsonFile, writeJsonFile } from './json-file.js';
import type { EnrichmentMetrics } from './metrics.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';

/** How often a running stage looks for marks the CLI wrote straight into the file. */
const REFRESH_INTERVAL_MS = 5000;

export const FALSE_POSITIVES_FILE = path.join('enrichment', 'false-positives.json');

/**
 * Indicators an analyst marked as false positives. They are excluded from every verdict and
 * never looked up again; the list lives in a small JSON file under state_dir so it survives
 * restarts and the CLI can edit it while no instance runs.
 */
export class FalsePositiveStore {
  private readonly entries = new Map<string, FalsePositive>();
  private writing: Promise<void> = Promise.resolve();
  private knownMtimeMs: number | undefined;
  /** Bumped by every mark/unmark, so a reload that raced one does not undo it. */
  private generation = 0;
  private lastRefresh = 0;
  /** Told of every mark and unmark made here (cluster mode shares them). */
  onChange: ((key: string, entry: FalsePositive | null) => void) | undefined;

  private constructor(
    readonly file: string,
    private readonly metrics: EnrichmentMetrics | undefined,
    private readonly clock: Clock,
  ) {}

  static async open(stateDir: string, metrics?: EnrichmentMetrics, clock: Clock = systemClock): Promise<FalsePositiveStore> {
    const store = new FalsePositiveStore(path.resolve(stateDir, FALSE_POSITIVES_FILE), metrics, clock);
    await store.load();
    store.lastRefresh = clock.now();
    return store;
  }

  /**
   * Pick up marks written to the file by another process (the CLI while no admin API runs).
   * Cheap: at most one stat() per interval.
   */
  async refreshIfChanged(): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastRefresh < REFRESH_INTERVAL_MS) return;
    this.lastRefresh = now;
    await this.writing.catch(() => undefined);
    const mtime = await stat(this.file).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    if (mtime === this.knownMtimeMs) return;
    try {
      await this.load();
    } catch {
      // A half-edited file keeps the marks we had; the next interval tries again.
    }
  }

  private async load(): Promise<void> {
    const generation = this.generation;
    const mtime = await stat(this.file).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    let doc: unknown;
    try {
      doc = await readJsonFile(this.file);
    } catch (err) {
      throw new Error(`false-positive list ${this.file} cannot be read (${(err as Error).message}); fix the JSON or move the file away to start an empty list`);
    }
    const list = (doc as { entries?: unknown } | undefined)?.entries;
    if (doc !== undefined && !Array.isArray(list)) {
      throw new Error(`false-positive list ${this.file} has no "entries" array; move the file away to start an empty list`);
    }
    if (generation !== this.generation) return;
    this.entries.clear();
    for (const raw of (list ?? []) as Array<Partial<FalsePositive>>) {
      const n = normalizeIndicator(String(raw?.indicator?.type), String(raw?.indicator?.value));
      if (!n.ok) continue;
      this.entries.set(indicatorKey(n.indicator), {
        indicator: n.indicator,
        ...(typeof raw.reason === 'string' ? { reason: raw.reason } : {}),
        markedAt: typeof raw.markedAt === 'string' ? raw.markedAt : new Date(0).toISOString(),
      });
    }
    this.knownMtimeMs = mtime;
    this.updateGauge();
  }

  /** Async to match FabricHost's false-positive methods, which the orchestrator forwards here. */
  async list(): Promise<FalsePositive[]> {
    return this.snapshot();
  }

  /** Marking order, which the file keeps across restarts. */
  snapshot(): FalsePositive[] {
    return [...this.entries.values()];
  }

  /** The stored entry for an indicator (already normalized), if marked. */
  get(indicator: Indicator): FalsePositive | undefined {
    return this.entries.get(indicatorKey(indicator));
  }

  /** The same, by indicatorKey() (extraction already holds it: no key string built per event). */
  getByKey(key: string): FalsePositive | undefined {
    return this.entries.get(key);
  }

  /** Marks (or re-marks, updating the reason). Throws HostError INVALID for a malformed indicator. */
  async mark(indicator: Indicator, reason?: string): Promise<FalsePositive> {
    const normalized = this.normalize(indicator);
    const entry: FalsePositive = {
      indicator: normalized,
      ...(reason !== undefined && reason !== '' ? { reason: String(reason).slice(0, 1000) } : {}),
      markedAt: new Date().toISOString(),
    };
    this.entries.set(indicatorKey(normalized), entry);
    this.onChange?.(indicatorKey(normalized), entry);
    await this.persist();
    return entry;
  }

  async unmark(indicator: Indicator): Promise<boolean> {
    const key = indicatorKey(this.normalize(indicator));
    if (!this.entries.delete(key)) return false;
    this.onChange?.(key, null);
    await this.persist();
    return true;
  }

  /**
   * A mark (or, with null, an unmark) made through another instance (cluster mode). The value is
   * what that instance wrote, so it is checked like a line of the file; a bad one is refused.
   */
  async apply(raw: Partial<FalsePositive> | null, key: string): Promise<boolean> {
    if (raw === null) {
      if (!this.entries.delete(key)) return false;
    } else {
      const n = normalizeIndicator(String(raw?.indicator?.type), String(raw?.indicator?.value));
      if (!n.ok || indicatorKey(n.indicator) !== key) return false;
      const held = this.entries.get(key);
      // Its own mark read back from the topic: nothing new.
      if (held && held.markedAt === raw.markedAt && held.reason === raw.reason) return false;
      this.entries.set(key, {
        indicator: n.indicator,
        ...(typeof raw.reason === 'string' ? { reason: raw.reason.slice(0, 1000) } : {}),
        markedAt: typeof raw.markedAt === 'string' ? raw.markedAt.slice(0, 40) : new Date(0).toISOString(),
      });
    }
    await this.persist();
    return true;
  }

  /** Counts an exclusion (the metric analysts watch to see a false positive still recurring). */
  recordHit(): void {
    this.metrics?.falsePositiveHits.inc();
  }

  private normalize(indicator: Indicator): Indicator {
    const n = normalizeIndicator(String(indicator?.type), String(indicator?.value ?? ''));
    if (!n.ok) throw new HostError('INVALID', `invalid indicator: ${n.error}`);
    return n.indicator;
  }

  private persist(): Promise<void> {
    this.generation++;
    this.updateGauge();
    const snapshot = { version: 1, entries: this.snapshot() };
    // Serialised so that two quick marks cannot finish their renames out of order.
    this.writing = this.writing
      .catch(() => undefined)
      .then(() => writeJsonFile(this.file, snapshot))
      .then(async () => {
        this.knownMtimeMs = await stat(this.file).then(
          (s) => s.mtimeMs,
          () => undefined,
        );
      });
    return this.writing;
  }

  private updateGauge(): void {
    this.metrics?.falsePositives.set(this.entries.size);
  }
}
