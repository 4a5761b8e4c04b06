import type { FabricEvent } from '../plugin-api/index.js';
import type { DeadLetterRecord } from '../sinks/dead-letter.js';
import { eventMessage } from '../sinks/kafka/messages.js';
import type { BatchOrigin, CollectorStatusEvent, Sink, SinkHealth } from '../sinks/sink.js';
import { SlotNotOwnedError } from './errors.js';
import type { SlotWriter } from './slot-writer.js';

type KafkaSinkLike = Sink & { writeDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> };

/**
 * The sink of a cluster instance. A collector's batch goes to its slot's transactional writer
 * with the batch's checkpoint (exactly once across failovers); everything else — collector
 * status (with the instance that runs the collector), dead letters, alerts not tied to a batch —
 * goes through the ordinary Kafka sink, at least once.
 */
export class ClusterSink implements Sink {
  readonly type = 'kafka';
  readonly commitsCheckpoints = true;

  constructor(
    private readonly inner: KafkaSinkLike,
    private readonly instance: string,
    private readonly writerFor: (collector: string) => SlotWriter | undefined,
    /** False for a source another instance runs: its idle → stopped here at shutdown is not its state. */
    private readonly reportsStatusOf: (collector: string) => boolean,
  ) {}

  start(): Promise<void> {
    return this.inner.start();
  }

  write(events: readonly FabricEvent[], origin?: BatchOrigin): Promise<void> {
    if (!origin) return this.inner.write(events);
    const writer = this.writerFor(origin.collector);
    if (!writer)
      return Promise.reject(new SlotNotOwnedError(`collector "${origin.collector}" moved to another instance: its batch is not committed here and is read again by the new owner`));
    // Serialised here, before the transaction: an event that cannot be serialised makes write()
    // throw, and the pipeline dead-letters it and writes the rest (as with the plain sink).
    return writer.write(
      events.map((e) => eventMessage(e)),
      { collector: origin.collector, value: origin.checkpoint ?? null },
      origin.records,
    );
  }

  writeStatus(status: CollectorStatusEvent): Promise<void> {
    if (!this.reportsStatusOf(status.collector)) return Promise.resolve();
    return this.inner.writeStatus({ ...status, instance: this.instance });
  }

  writeDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    return this.inner.writeDeadLetters(records);
  }

  health(): SinkHealth {
    return this.inner.health();
  }

  close(deadlineMs: number): Promise<void> {
    return this.inner.close(deadlineMs);
  }
}
