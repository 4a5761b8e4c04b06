import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { SinkHealth } from '../sink.js';
import { redact } from './client.js';
import { describeKafkaError, type ErrorFacts } from './errors.js';

/** Outages last hours; a warning per retry would bury everything else in the log. */
const FAILURE_LOG_INTERVAL_MS = 10_000;

export interface OutageOptions {
  logger: Logger;
  errors: Counter<'code'>;
  brokers: readonly string[];
  secrets: readonly string[];
  /** `retry.down_after_seconds`. */
  downAfterSeconds: number;
}

/**
 * The run of failed produce attempts since the last acknowledgement: it is what health reports
 * (degraded, then down) and what the rate-limited warnings and the "resumed" line describe.
 */
export class OutageTracker {
  private failingSince: number | undefined;
  private lastError: string | undefined;
  private lastFailureLog = 0;
  private failuresSinceOk = 0;

  constructor(private readonly options: OutageOptions) {}

  /** Counts and (at most every 10 s) logs a failed attempt; returns what went wrong for the caller to act on. */
  failed(err: unknown, attempt: number, pending: number): ErrorFacts {
    const facts = describeKafkaError(err);
    this.options.errors.inc({ code: facts.code });
    this.failuresSinceOk++;
    this.failingSince ??= Date.now();
    this.lastError = `${facts.code}: ${redact(facts.message, this.options.secrets)}`;
    const now = Date.now();
    if (this.failuresSinceOk === 1 || now - this.lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
      this.lastFailureLog = now;
      this.options.logger.warn(
        { code: facts.code, attempt, pending, brokers: this.options.brokers, down_seconds: Math.round((now - this.failingSince) / 1000) },
        `Kafka produce failed (${this.lastError}); retrying with backoff, events stay buffered`,
      );
    }
    return facts;
  }

  /** A request was acknowledged: an outage in progress is over. */
  recovered(pending: number): void {
    if (this.failingSince === undefined) return;
    this.options.logger.info({ outage_seconds: Math.round((Date.now() - this.failingSince) / 100) / 10, failed_attempts: this.failuresSinceOk, pending }, 'Kafka delivery resumed');
    this.failingSince = undefined;
    this.lastError = undefined;
    this.failuresSinceOk = 0;
  }

  health(pending: number): SinkHealth {
    if (this.failingSince === undefined) return { state: 'ok', pending };
    const downMs = Date.now() - this.failingSince;
    const reason = `no acknowledgement from Kafka for ${Math.round(downMs / 1000)}s (${this.lastError ?? 'unknown error'}); retrying`;
    return { state: downMs >= this.options.downAfterSeconds * 1000 ? 'down' : 'degraded', reason, pending };
  }
}
