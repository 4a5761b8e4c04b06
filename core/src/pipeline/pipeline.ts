import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import type { Checkpoint, FabricEvent, Priority, SourceEvent } from '../plugin-api/index.js';
import type { Sink } from '../sinks/sink.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { BatchTicket, PipelineStage } from './stage.js';
import { normalizeEvent, priorityOf } from '../events/normalize.js';
import { PRIORITY_ORDER } from '../events/priority.js';
import { DEFAULT_SANITIZE_LIMITS, isParsedJson, RejectCodes, type SanitizeLimits } from '../events/sanitize.js';
import { DeadLetterQueue, type DeadLetterInput } from '../sinks/dead-letter.js';
import { abortable } from '../async/time.js';

export interface PipelineOptions {
  /** Stages in order: detection, de-duplication, correlation, enrichment. */
  stages: PipelineStage[];
  sink: Sink;
  maxInFlightBatches: number;
  maxBufferedEvents: number;
  /**
   * "detections": publish only alerts (rule matches, correlations, alerts a source sent) and
   * enrichment events; "all":
   * every event. The composition root passes "all" when detection is off, whatever the config says.
   */
  publish: 'detections' | 'all';
  minPriority: Priority;
  metrics: FabricMetrics;
  logger: Logger;
  /** Where refused events go; default: counted, logged and kept in memory only. */
  deadLetters?: DeadLetterQueue;
  /** Depth and size an event may have (`pipeline.max_event_depth`, `pipeline.max_event_bytes`). */
  eventLimits?: SanitizeLimits;
}

export interface Batch {
  collector: string;
  plugin: string;
  events: SourceEvent[];
  /** The position after this batch: handed to a sink that commits it with the events (cluster mode). */
  checkpoint?: Checkpoint;
}

export interface BatchResult {
  collected: number;
  /** Events refused on their own and dead-lettered (the rest of the batch went on). */
  rejected: number;
  published: number;
  /** Events dropped as duplicates of one seen within the de-duplication window. */
  deduplicated: number;
}

interface PipelineEvents {
  published: (events: readonly FabricEvent[]) => void;
  capacity: () => void;
}

const noop = (): void => undefined;

/** `signal`: an Elastic detection-engine alert a source read back; the product itself writes `alert`. */
const PUBLISHED_KINDS = new Set(['alert', 'signal', 'enrichment']);

/**
 * Everything between a poll and the sink's acknowledgement. Each stage takes one batch at a time,
 * in order (correlation and de-duplication need it), while different stages and the sink work
 * on different batches at once. Work in flight is bounded in batches and in events:
 * past either bound `waitForCapacity` blocks, which is how a slow or down sink stops the
 * sources from polling instead of growing memory.
 */
export class Pipeline extends TypedEmitter<PipelineEvents> {
  private inFlightBatches = 0;
  private bufferedEvents = 0;
  /** Per stage: settles when the last batch registered on it has left it. */
  private readonly stageTails: Array<Promise<void>>;
  private seq = 0;
  readonly deadLetters: DeadLetterQueue;

  constructor(private readonly opts: PipelineOptions) {
    super();
    this.setMaxListeners(0);
    this.deadLetters = opts.deadLetters ?? new DeadLetterQueue({ metrics: opts.metrics, logger: opts.logger });
    this.stageTails = opts.stages.map(() => Promise.resolve());
  }

  get load(): { batches: number; events: number } {
    return { batches: this.inFlightBatches, events: this.bufferedEvents };
  }

  hasCapacity(): boolean {
    return this.inFlightBatches < this.opts.maxInFlightBatches && this.bufferedEvents < this.opts.maxBufferedEvents;
  }

  /**
   * Resolves once another batch may be submitted: the in-flight bounds have room and no stage
   * (e.g. detection's worker pool) asks for a drain. Rejects if the signal aborts first.
   */
  async waitForCapacity(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const saturated = this.opts.stages.find((s) => s.needsDrain && s.drain);
      if (!saturated) break;
      await abortable(saturated.drain!(), signal);
    }
    return this.waitForBounds(signal);
  }

  private waitForBounds(signal?: AbortSignal): Promise<void> {
    if (this.hasCapacity()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onCapacity = () => {
        if (!this.hasCapacity()) return;
        cleanup();
        resolve();
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const cleanup = () => {
        this.off('capacity', onCapacity);
        signal?.removeEventListener('abort', onAbort);
      };
      this.on('capacity', onCapacity);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Accept a batch. Resolves when every event of it is durable in the sink, deliberately not
   * published, or dead-lettered — which is when its checkpoint may be committed. Rejects only
   * when the sink could not take the batch (it is closing): the caller must then not commit
   * this batch's position, nor any later one.
   *
   * One bad event never costs its neighbours: events are copied to bounded plain JSON at the
   * boundary (normalizeEvent) and refused one by one, and an event the sink cannot serialise
   * after the stages is isolated the same way.
   */
  async submit(batch: Batch): Promise<BatchResult> {
    const size = batch.events.length;
    this.inFlightBatches++;
    this.bufferedEvents += size;
    this.updateGauges();
    try {
      const { collector, plugin } = batch;
      const ticket: BatchTicket = { seq: ++this.seq, collector, dropped: { duplicate: 0 }, ...(this.opts.sink.commitsCheckpoints ? { outbound: [] } : {}) };
      const m = this.opts.metrics;
      const normalized: FabricEvent[] = [];
      const refused: DeadLetterInput[] = [];
      const parsed = isParsedJson(batch.events);
      for (const raw of batch.events) {
        const r = normalizeEvent(raw, { collector, plugin }, this.opts.eventLimits ?? DEFAULT_SANITIZE_LIMITS, parsed);
        if (r.ok) normalized.push(r.event);
        else refused.push({ collector, plugin, stage: 'normalize', code: r.code, message: r.reason, original: raw });
      }
      m.eventsCollected.inc({ collector }, size);
      if (refused.length) m.eventsRejected.inc({ collector }, refused.length);
      // Durable before this batch's checkpoint may move past the refused events.
      const deadLettered = this.deadLetters.add(refused);

      const processed = await this.runStages(normalized, ticket);
      if (ticket.dropped.duplicate > 0) m.eventsDeduplicated.inc({ collector }, ticket.dropped.duplicate);
      const publish = this.route(processed);
      const filtered = processed.length - publish.length;
      if (filtered > 0) m.eventsFiltered.inc({ collector }, filtered);
      let written: FabricEvent[] = [];
      try {
        written = await this.write(publish, batch, refused, ticket);
      } catch (err) {
        for (const stage of this.opts.stages) {
          try {
            stage.abandon?.(ticket);
          } catch (e) {
            this.opts.logger.error({ stage: stage.name, err: (e as Error).message }, 'stage abandon failed');
          }
        }
        throw err;
      } finally {
        await deadLettered;
      }
      if (written.length > 0) {
        m.sinkAcks.inc({ sink: this.opts.sink.type }, written.length);
        // One labelled inc per (collector, priority), not per event: prom-client hashes the labels on every call.
        const published = new Map<string, { collector: string; priority: Priority; n: number }>();
        for (const e of written) {
          const priority = priorityOf(e);
          const k = `${e.fabric.collector}\u0000${priority}`;
          const c = published.get(k);
          if (c) c.n++;
          else published.set(k, { collector: e.fabric.collector, priority, n: 1 });
        }
        for (const c of published.values()) m.eventsPublished.inc({ collector: c.collector, priority: c.priority }, c.n);
        this.emit('published', written);
      }
      for (const stage of this.opts.stages) {
        if (stage.acknowledge)
          await stage.acknowledge(ticket).catch((err: Error) => this.opts.logger.error({ stage: stage.name, err: err.message }, 'stage acknowledgement failed'));
      }
      return { collected: size, rejected: refused.length, published: written.length, deduplicated: ticket.dropped.duplicate };
    } finally {
      this.inFlightBatches--;
      this.bufferedEvents -= size;
      this.updateGauges();
      this.emit('capacity');
    }
  }

  /**
   * Write to the sink. A sink rejects a batch it cannot serialise; then the events that cannot
   * be serialised are dead-lettered and the rest written again. A rejection with every event
   * serialisable (the sink is closing) is the caller's: the batch is not acknowledged.
   */
  private async write(publish: FabricEvent[], batch: Batch, refused: DeadLetterInput[], ticket: BatchTicket): Promise<FabricEvent[]> {
    const sink = this.opts.sink;
    // A sink that commits checkpoints must see every batch of a collector, published or not.
    const records = ticket.outbound && ticket.outbound.length > 0 ? { records: ticket.outbound } : {};
    const origin = sink.commitsCheckpoints && 'checkpoint' in batch ? { collector: batch.collector, checkpoint: batch.checkpoint, ...records } : undefined;
    if (publish.length === 0 && !origin) return publish;
    try {
      await sink.write(publish, origin);
      return publish;
    } catch (err) {
      const good: FabricEvent[] = [];
      const bad: DeadLetterInput[] = [];
      for (const e of publish) {
        try {
          JSON.stringify(e);
          good.push(e);
        } catch (x) {
          bad.push({
            collector: batch.collector,
            plugin: batch.plugin,
            stage: 'sink',
            code: RejectCodes.NOT_SERIALISABLE,
            message: `the sink could not serialise the event after the pipeline's stages: ${(x as Error).message}`,
            original: e,
          });
        }
      }
      if (bad.length === 0) throw err;
      this.opts.metrics.eventsRejected.inc({ collector: batch.collector }, bad.length);
      refused.push(...bad);
      await this.deadLetters.add(bad);
      if (good.length > 0 || origin) await sink.write(good, origin);
      return good;
    }
  }

  /**
   * Each stage sees batches one at a time and in submission order, but different stages work on
   * different batches at once: batch N+1 is in detection while batch N waits on enrichment. The
   * batch is registered on every stage's queue now, synchronously, so the order cannot depend on
   * how long each stage takes.
   */
  private runStages(events: FabricEvent[], ticket: BatchTicket): Promise<FabricEvent[]> {
    let input: Promise<FabricEvent[]> = Promise.resolve(events);
    this.opts.stages.forEach((stage, i) => {
      const out = Promise.all([this.stageTails[i], input]).then(([, batch]) => this.runStage(stage, batch, ticket));
      this.stageTails[i] = out.then(noop, noop);
      input = out;
    });
    return input;
  }

  private async runStage(stage: PipelineStage, batch: FabricEvent[], ticket: BatchTicket): Promise<FabricEvent[]> {
    try {
      return await stage.process(batch, ticket);
    } catch (err) {
      // Fail open: a broken stage must not lose events; the batch goes on unprocessed by it.
      this.opts.metrics.stageErrors.inc({ stage: stage.name });
      this.opts.logger.error({ stage: stage.name, err: (err as Error).message, events: batch.length }, 'pipeline stage failed; batch continues without it');
      return batch;
    }
  }

  private route(events: FabricEvent[]): FabricEvent[] {
    const min = PRIORITY_ORDER[this.opts.minPriority];
    const onlyDetections = this.opts.publish === 'detections';
    const out = events.filter((e) => {
      if (onlyDetections && !PUBLISHED_KINDS.has(String(e.event.kind))) return false;
      return PRIORITY_ORDER[priorityOf(e)] >= min;
    });
    // Highest priority first, so a responder reading the topic sees criticals before noise.
    return out.length > 1 ? out.sort((a, b) => PRIORITY_ORDER[priorityOf(b)] - PRIORITY_ORDER[priorityOf(a)]) : out;
  }

  private updateGauges(): void {
    this.opts.metrics.queueDepth.set({ unit: 'batches' }, this.inFlightBatches);
    this.opts.metrics.queueDepth.set({ unit: 'events' }, this.bufferedEvents);
  }
}
