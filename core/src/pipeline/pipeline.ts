import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import type { FabricEvent, Priority, SourceEvent } from '../plugin-api/index.js';
import type { Sink } from '../sinks/sink.js';
import type { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { PipelineStage } from './stage.js';
import { normalizeEvent, priorityOf } from './normalize.js';
import { PRIORITY_ORDER } from './priority.js';

export interface PipelineOptions {
  /** Stages in order: detection, de-duplication, correlation, enrichment. */
  stages: PipelineStage[];
  sink: Sink;
  maxInFlightBatches: number;
  maxBufferedEvents: number;
  /** "detections": publish only signals/alerts/indicators; "all": every event. */
  publish: 'detections' | 'all';
  minPriority: Priority;
  metrics: FabricMetrics;
  logger: Logger;
}

export interface Batch {
  collector: string;
  plugin: string;
  events: SourceEvent[];
}

export interface BatchResult {
  collected: number;
  rejected: number;
  published: number;
}

interface PipelineEvents {
  published: (events: readonly FabricEvent[]) => void;
  capacity: () => void;
}

const noop = (): void => undefined;

const PUBLISHED_KINDS = new Set(['signal', 'alert', 'enrichment']);

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
  private readonly hasDetection: boolean;

  constructor(private readonly opts: PipelineOptions) {
    super();
    this.setMaxListeners(0);
    this.hasDetection = opts.stages.some((s) => s.name === 'detection');
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
   * Accept a batch. Resolves when every event of it is durable in the sink (or was
   * deliberately not published), which is when its checkpoint may be committed.
   */
  async submit(batch: Batch): Promise<BatchResult> {
    const size = batch.events.length;
    this.inFlightBatches++;
    this.bufferedEvents += size;
    this.updateGauges();
    try {
      const { collector, plugin } = batch;
      const m = this.opts.metrics;
      const normalized: FabricEvent[] = [];
      let rejected = 0;
      for (const raw of batch.events) {
        const r = normalizeEvent(raw, { collector, plugin });
        if (r.ok) normalized.push(r.event);
        else {
          rejected++;
          this.opts.logger.warn({ collector, plugin, reason: r.reason }, 'plugin emitted an invalid event; dropped it');
        }
      }
      m.eventsCollected.inc({ collector }, size);
      if (rejected) m.eventsRejected.inc({ collector }, rejected);

      const processed = await this.runStages(normalized);
      const publish = this.route(processed);
      const filtered = processed.length - publish.length;
      if (filtered > 0) m.eventsFiltered.inc({ collector }, filtered);
      if (publish.length > 0) {
        await this.opts.sink.write(publish);
        m.sinkAcks.inc({ sink: this.opts.sink.type }, publish.length);
        for (const e of publish) m.eventsPublished.inc({ collector: e.fabric.collector, priority: priorityOf(e) });
        this.emit('published', publish);
      }
      for (const stage of this.opts.stages) {
        if (stage.checkpoint) await stage.checkpoint().catch((err: Error) => this.opts.logger.error({ stage: stage.name, err: err.message }, 'stage checkpoint failed'));
      }
      return { collected: size, rejected, published: publish.length };
    } finally {
      this.inFlightBatches--;
      this.bufferedEvents -= size;
      this.updateGauges();
      this.emit('capacity');
    }
  }

  /**
   * Each stage sees batches one at a time and in submission order, but different stages work on
   * different batches at once: batch N+1 is in detection while batch N waits on enrichment. The
   * batch is registered on every stage's queue now, synchronously, so the order cannot depend on
   * how long each stage takes.
   */
  private runStages(events: FabricEvent[]): Promise<FabricEvent[]> {
    let input: Promise<FabricEvent[]> = Promise.resolve(events);
    this.opts.stages.forEach((stage, i) => {
      const out = Promise.all([this.stageTails[i], input]).then(([, batch]) => this.runStage(stage, batch));
      this.stageTails[i] = out.then(noop, noop);
      input = out;
    });
    return input;
  }

  private async runStage(stage: PipelineStage, batch: FabricEvent[]): Promise<FabricEvent[]> {
    try {
      return await stage.process(batch);
    } catch (err) {
      // Fail open: a broken stage must not lose events; the batch goes on unprocessed by it.
      this.opts.metrics.stageErrors.inc({ stage: stage.name });
      this.opts.logger.error({ stage: stage.name, err: (err as Error).message, events: batch.length }, 'pipeline stage failed; batch continues without it');
      return batch;
    }
  }

  private route(events: FabricEvent[]): FabricEvent[] {
    const min = PRIORITY_ORDER[this.opts.minPriority];
    const onlyDetections = this.opts.publish === 'detections' && this.hasDetection;
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

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
