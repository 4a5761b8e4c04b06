import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { redact } from './client.js';
import type { KafkaSinkConfig } from './config.js';
import type { ErrorFacts } from './errors.js';
import type { KafkaSinkMetrics } from './metrics.js';
import type { OutageTracker } from './outage.js';
import type { DeliveryQueue, PendingRecord } from './queue.js';
import { produceRequest, type ProduceRequest } from './request.js';
import { Notifier } from '../../async/notifier.js';

/** What the loop needs from the producer session (a fake in unit tests). */
export interface ProduceService {
  send(request: ProduceRequest): Promise<void>;
  afterFailure(facts: ErrorFacts, attempt: number): void;
}

export interface DeliveryLoopOptions {
  queue: DeliveryQueue;
  service: ProduceService;
  outage: OutageTracker;
  metrics: Pick<KafkaSinkMetrics, 'acked' | 'retries'>;
  config: Pick<KafkaSinkConfig, 'batch' | 'retry' | 'compression'>;
  logger: Logger;
  secrets: readonly string[];
}

/**
 * Takes batches from the queue and sends each until the broker acknowledges it, one request at a
 * time, retrying with capped exponential backoff for as long as it takes. Only stop() ends a
 * delivery early; the sink then rejects what was not acknowledged.
 */
export class DeliveryLoop {
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly stopSignal = new AbortController();
  /** Wakes the loop when records are queued or it is stopped. */
  private readonly work = new Notifier();

  constructor(private readonly options: DeliveryLoopOptions) {}

  get started(): boolean {
    return this.loop !== undefined;
  }

  ensureRunning(): void {
    if (this.loop) return;
    this.loop = this.run().catch((err: unknown) => {
      // run() handles delivery errors itself; reaching here is a bug, but must not crash the host.
      this.options.logger.error({ err: redact(String(err), this.options.secrets) }, 'Kafka sink delivery loop stopped unexpectedly');
    });
  }

  /** Records were queued: start, or wake a loop waiting for work. */
  notify(): void {
    this.ensureRunning();
    this.work.notify();
  }

  /** A failed attempt (or a failed start): count it, and let the session decide what to reset. */
  failed(err: unknown, attempt: number): void {
    const facts = this.options.outage.failed(err, attempt, this.options.queue.pending);
    this.options.service.afterFailure(facts, attempt);
  }

  /** Ends the loop at its next step, a backoff included; resolves when it has returned. */
  stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    this.work.notify();
    return this.loop ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const { queue } = this.options;
    const { max_events, linger_ms } = this.options.config.batch;
    while (!this.stopped) {
      if (queue.queued === 0) {
        await this.work.wait();
        continue;
      }
      // Fuller requests cost less per event; at close there is nothing more to wait for.
      if (linger_ms > 0 && queue.queued < max_events && !queue.closing) await sleep(linger_ms);
      if (this.stopped) return;
      await this.deliver(queue.take(max_events));
    }
  }

  /** Send one request's worth of records until the broker acknowledges it or the loop stops. */
  private async deliver(batch: PendingRecord[]): Promise<void> {
    const request = produceRequest(batch, this.options.config);
    let attempt = 0;
    while (!this.stopped) {
      try {
        await this.options.service.send(request);
        // Stopped meanwhile: the sink has already rejected these writes, so they must not resolve too.
        if (this.stopped) return;
        this.acknowledged(batch, request);
        return;
      } catch (err) {
        if (this.stopped) return;
        attempt++;
        this.failed(err, attempt);
        await this.backoff(attempt);
        if (this.stopped) return;
        this.options.metrics.retries.inc();
      }
    }
  }

  private acknowledged(batch: PendingRecord[], request: ProduceRequest): void {
    for (const tm of request.topicMessages) this.options.metrics.acked.inc({ topic: tm.topic }, tm.messages.length);
    this.options.queue.acknowledge(batch);
    this.options.outage.recovered(this.options.queue.pending);
  }

  private async backoff(attempt: number): Promise<void> {
    try {
      await sleep(backoffDelay(attempt, this.options.config.retry), undefined, { signal: this.stopSignal.signal });
    } catch {
      // aborted by stop()
    }
  }
}

/** Capped exponential backoff with jitter in the upper half, so many sinks do not retry in step. */
export function backoffDelay(attempt: number, retry: Pick<KafkaSinkConfig['retry'], 'initial_backoff_ms' | 'max_backoff_ms'>, random: () => number = Math.random): number {
  const { initial_backoff_ms, max_backoff_ms } = retry;
  const ceiling = Math.min(max_backoff_ms, initial_backoff_ms * 2 ** Math.min(attempt - 1, 20));
  return ceiling / 2 + random() * (ceiling / 2);
}
