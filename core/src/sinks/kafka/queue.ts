import { Notifier } from '../../async/notifier.js';
import { settleWithin } from '../../async/time.js';
import { KafkaSinkClosedError } from './errors.js';
import type { KafkaSinkMetrics } from './metrics.js';
import type { OutgoingRecord } from './request.js';

/** One accepted write: settles when every record it produced is acknowledged, or the sink closes. */
interface Ticket {
  remaining: number;
  acceptedAt: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface PendingRecord extends OutgoingRecord {
  readonly ticket: Ticket;
}

export interface DeliveryQueueOptions {
  /** `max_buffered_events`: accepted and not acknowledged, in flight included. */
  maxBuffered: number;
  metrics: Pick<KafkaSinkMetrics, 'pending' | 'ackLatency'>;
  /** Called after records join the queue, so whoever sends them can start or wake up. */
  onQueued: () => void;
}

/**
 * Everything the sink accepted and the broker has not acknowledged yet, in acceptance order.
 * A write's promise is its acknowledgement: it resolves once all its records are acknowledged,
 * and is rejected only by abandon() at close, so an accepted event is never dropped in silence.
 * The bound makes writers wait instead of letting memory grow while the broker is away.
 */
export class DeliveryQueue {
  /** Accepted records not yet taken for a request; `head` avoids shifting a large array. */
  private queue: PendingRecord[] = [];
  private head = 0;
  /** Taken and not acknowledged: still owed an answer if the sink closes now. */
  private inFlight: readonly PendingRecord[] = [];
  private buffered = 0;
  /** Wakes writers waiting for room and close() waiting for the queue to drain. */
  private readonly changed = new Notifier();
  private isClosing = false;

  constructor(private readonly options: DeliveryQueueOptions) {}

  /** Accepted and not acknowledged (what `max_buffered_events` bounds and health reports). */
  get pending(): number {
    return this.buffered;
  }

  /** Accepted and not yet taken for a request. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  get closing(): boolean {
    return this.isClosing;
  }

  /**
   * Waits for room, then queues the records `build` returns; settles when they are acknowledged.
   * `build` runs only once there is room, so a waiting writer holds no serialised records.
   */
  async accept(count: number, build: () => OutgoingRecord[]): Promise<void> {
    if (this.isClosing) throw closingError();
    if (count === 0) return;
    // A batch bigger than the whole bound is let through alone, or it would wait forever.
    while (this.buffered > 0 && this.buffered + count > this.options.maxBuffered && !this.isClosing) {
      await this.changed.wait();
    }
    if (this.isClosing) throw closingError();
    const records = build();
    return new Promise<void>((resolve, reject) => {
      const ticket: Ticket = { remaining: records.length, acceptedAt: performance.now(), settled: false, resolve, reject };
      for (const r of records) this.queue.push({ topic: r.topic, message: r.message, ticket });
      this.buffered += records.length;
      this.options.metrics.pending.set(this.buffered);
      this.options.onQueued();
    });
  }

  /** The oldest queued records, at most `max`; they count as in flight until acknowledged. */
  take(max: number): PendingRecord[] {
    const end = Math.min(this.queue.length, this.head + max);
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 8192 && this.head * 2 > this.queue.length) {
      // Compact only once the consumed prefix dominates: copying on every take would be quadratic.
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.inFlight = batch;
    return batch;
  }

  /** The broker acknowledged `batch` (the last one taken): settle the writes it completes. */
  acknowledge(batch: readonly PendingRecord[]): void {
    const now = performance.now();
    const done: Ticket[] = [];
    for (const r of batch) {
      const t = r.ticket;
      if (--t.remaining === 0 && !t.settled) {
        t.settled = true;
        this.options.metrics.ackLatency.observe((now - t.acceptedAt) / 1000);
        done.push(t);
      }
    }
    // Writers woken by an acknowledgement serialise their next events on this thread. Waking them
    // after the delivery loop has handed the next request to kafkajs lets that work overlap the
    // request's compression and round trip instead of delaying it.
    if (done.length > 0)
      setImmediate(() => {
        for (const t of done) t.resolve();
      });
    this.buffered -= batch.length;
    this.inFlight = [];
    this.options.metrics.pending.set(this.buffered);
    setImmediate(() => this.changed.notify());
  }

  /** No more writes: waiting and later ones are refused; what was accepted stays until acknowledged or abandoned. */
  close(): void {
    this.isClosing = true;
    this.changed.notify();
  }

  /** Resolves once nothing is pending, or at `deadline` (epoch ms), whichever comes first. */
  async drained(deadline: number): Promise<void> {
    // settleWithin's timer is unreferenced: a pending deadline must not keep the process alive after everything flushed.
    while (this.buffered > 0 && Date.now() < deadline) await settleWithin(this.changed.wait(), Math.max(1, deadline - Date.now()));
  }

  /** Rejects every write still pending with `reason(lost)` and empties the queue; returns `lost`, the records given up. */
  abandon(reason: (lost: number) => Error): number {
    const lost = this.buffered;
    if (lost > 0) {
      const err = reason(lost);
      for (const r of this.inFlight) settle(r.ticket, err);
      for (let i = this.head; i < this.queue.length; i++) settle(this.queue[i]!.ticket, err);
    }
    this.queue = [];
    this.head = 0;
    this.inFlight = [];
    this.buffered = 0;
    this.options.metrics.pending.set(0);
    return lost;
  }
}

function closingError(): KafkaSinkClosedError {
  return new KafkaSinkClosedError('Kafka sink is closing: no new events accepted');
}

function settle(ticket: Ticket, err: Error): void {
  if (ticket.settled) return;
  ticket.settled = true;
  ticket.reject(err);
}
