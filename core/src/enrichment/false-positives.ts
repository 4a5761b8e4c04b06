import path from 'node:path';
import { HostError } from '../host.js';
import type { FalsePositive } from '../host.js';
import type { Indicator } from '../plugin-api/index.js';
import { indicatorKey, normalizeIndicator } from './indicator.js';
import { readJsonFile, writeJsonFile } from './json-file.js';
import type { EnrichmentMetrics } from './metrics.js';

export const FALSE_POSITIVES_FILE = path.join('enrichment', 'false-positives.json');

/**
 * Indicators an analyst marked as false positives. They are excluded from every verdict and
 * never looked up again; the list lives in a small JSON file under state_dir so it survives
 * restarts and the CLI can edit it while no instance runs.
 */
export class FalsePositiveStore {
  private readonly entries = new Map<string, FalsePositive>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly metrics: EnrichmentMetrics | undefined,
  ) {}

  static async open(stateDir: string, metrics?: EnrichmentMetrics): Promise<FalsePositiveStore> {
    const store = new FalsePositiveStore(path.resolve(stateDir, FALSE_POSITIVES_FILE), metrics);
    let doc: unknown;
    try {
      doc = await readJsonFile(store.file);
    } catch (err) {
      throw new Error(`false-positive list ${store.file} cannot be read (${(err as Error).message}); fix the JSON or move the file away to start an empty list`);
    }
    const list = (doc as { entries?: unknown } | undefined)?.entries;
    if (doc !== undefined && !Array.isArray(list)) {
      throw new Error(`false-positive list ${store.file} has no "entries" array; move the file away to start an empty list`);
    }
    for (const raw of (list ?? []) as Array<Partial<FalsePositive>>) {
      const n = normalizeIndicator(String(raw?.indicator?.type), String(raw?.indicator?.value));
      if (!n.ok) continue;
      store.entries.set(indicatorKey(n.indicator), {
        indicator: n.indicator,
        ...(typeof raw.reason === 'string' ? { reason: raw.reason } : {}),
        markedAt: typeof raw.markedAt === 'string' ? raw.markedAt : new Date(0).toISOString(),
      });
    }
    store.updateGauge();
    return store;
  }

  list(): FalsePositive[] {
    // Marking order, which the file keeps across restarts.
    return [...this.entries.values()];
  }

  /** The stored entry for an indicator (already normalized), if marked. */
  get(indicator: Indicator): FalsePositive | undefined {
    return this.entries.get(indicatorKey(indicator));
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
    await this.persist();
    return entry;
  }

  async unmark(indicator: Indicator): Promise<boolean> {
    const key = indicatorKey(this.normalize(indicator));
    if (!this.entries.delete(key)) return false;
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
    this.updateGauge();
    const snapshot = { version: 1, entries: this.list() };
    // Serialised so that two quick marks cannot finish their renames out of order.
    this.writing = this.writing.catch(() => undefined).then(() => writeJsonFile(this.file, snapshot));
    return this.writing;
  }

  private updateGauge(): void {
    this.metrics?.falsePositives.set(this.entries.size);
  }
}
