import type { HealthReport } from '../plugin.js';
import { isPluginError, toPluginError } from '../errors.js';
import { redactSecret } from './http.js';

/**
 * What the last exchange with the service said, for healthCheck(): answering costs no request.
 * Lookups and feed polls record their outcome here.
 */
export class HealthTracker {
  private last: { code: string; message: string; until?: number } | undefined;

  /** `secret`: masked in every error that passes through track() and probe(). */
  constructor(private readonly secret = '') {}

  /** Run one exchange, record its outcome, and rethrow its error with the secret masked. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.ok();
      return result;
    } catch (err) {
      const safe = redactSecret(err, this.secret);
      this.failed(safe);
      throw safe;
    }
  }

  /** A health probe: like track(), but its failure is only recorded, never thrown. */
  async probe(work: () => Promise<unknown>): Promise<void> {
    await this.track(work).catch(() => undefined);
  }

  ok(): void {
    this.last = undefined;
  }

  failed(err: unknown): void {
    const e = isPluginError(err) ? err : toPluginError(err);
    if (e.code === 'ABORTED') return;
    this.last = { code: e.code, message: e.message, ...(e.retryAfterMs === undefined ? {} : { until: Date.now() + e.retryAfterMs }) };
  }

  /** The last error code, if the last exchange failed. */
  get lastCode(): string | undefined {
    return this.last?.code;
  }

  report(): HealthReport {
    if (!this.last) return { status: 'healthy' };
    if ((this.last.code === 'RATE_LIMITED' || this.last.code === 'QUOTA_EXHAUSTED') && this.last.until !== undefined && Date.now() >= this.last.until) {
      this.last = undefined;
      return { status: 'healthy' };
    }
    return { status: 'degraded', code: this.last.code, reason: this.last.message };
  }
}
