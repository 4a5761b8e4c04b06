import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Checkpoint } from '../plugin-api/index.js';
import { sleep } from '../async/time.js';
import { type CheckpointSummary, type CollectorCommand, type CollectorState, HostError, type RoutedResult, type SourceControl } from '../host.js';
import type { KafkaCheckpointStore } from './checkpoint-store.js';
import { type ControlRecord, controlKey, SETTLED_AFTER, TARGET_OF, type TargetState } from './control.js';
import type { ClusterStateView } from './state-view.js';

/** What operator requests need from the instance's node. */
export interface OperatorRequestsHost {
  instance: string;
  configTopic: string;
  view: ClusterStateView;
  checkpoints: KafkaCheckpointStore;
  /** How long a collector gets to commit what it read before a checkpoint change replaces it. */
  shutdownTimeoutMs: number;
  log: Logger;
  sources(): SourceControl;
  /** Does this instance run the collector now (its slot or pin is held here)? */
  runsHere(id: string): boolean;
  ownerOf(id: string): string | undefined;
  /** Wait until the state view holds what the collector's writer committed (after a checkpoint change). */
  readBack(id: string): Promise<void>;
  /** Start the collector as its target state says (from its committed checkpoint). */
  startAsTargeted(id: string): Promise<void>;
  /** Run `task` after the assignments and requests queued before it (one at a time, in order). */
  enqueue(task: () => Promise<void>): Promise<void>;
}

/**
 * Operators' requests in a cluster: pause/resume/stop/start/restart and checkpoint changes sent
 * to any instance become records in the config topic (compacted, one partition), which every
 * instance reads in order; the collector's owner applies them, so no request needs the owner to be
 * reachable directly and none triggers a rebalance. Target states hold for whoever owns the
 * collector next; restarts and checkpoint changes only when they arrive while this instance runs.
 */
export class OperatorRequests {
  /** Operators' target state per collector (config topic); absent = running. */
  private readonly targets = new Map<string, TargetState>();
  /** Config-topic records from this offset on arrived while this instance runs: requests in them are acted on. */
  private liveFrom = Number.POSITIVE_INFINITY;
  private producer: Producer | undefined;

  constructor(private readonly o: OperatorRequestsHost) {}

  /** Requests at or after `liveFrom` (the config topic's end when this instance started) are acted on. */
  async open(kafka: Kafka, liveFrom: number): Promise<void> {
    this.liveFrom = liveFrom;
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
  }

  targetOf(id: string): TargetState {
    return this.targets.get(id) ?? 'running';
  }

  /** A config-topic record: remember targets; the owner applies it (requests only when they arrive live). */
  onRecord(record: ControlRecord, offset: number): void {
    if (record.kind === 'target') this.targets.set(record.collector, record.target);
    if (!this.o.runsHere(record.collector)) return;
    if (record.kind !== 'target' && offset < this.liveFrom) return;
    void this.o
      .enqueue(() => this.apply(record))
      .catch((err: Error) => this.o.log.error({ collector: record.collector, kind: record.kind, err: err.message }, 'applying an operator request failed'));
  }

  private async apply(r: ControlRecord): Promise<void> {
    const src = this.o.sources();
    if (!this.o.runsHere(r.collector)) return;
    this.o.log.info({ collector: r.collector, request: r.kind, ...(r.kind === 'target' ? { target: r.target } : {}), by: r.by }, 'operator request applied');
    if (r.kind === 'target') {
      const state = src.stateOf(r.collector);
      const active = state === 'running' || state === 'degraded' || state === 'paused';
      if (r.target === 'stopped') await src.commandSource(r.collector, 'stop');
      else if (r.target === 'paused') {
        if (active) await src.commandSource(r.collector, 'pause');
        else await src.startSource(r.collector, await this.o.checkpoints.read(r.collector), { paused: true });
      } else if (state === 'paused') await src.commandSource(r.collector, 'resume');
      else if (!active) await src.commandSource(r.collector, 'start');
      return;
    }
    if (r.kind === 'restart') {
      await src.commandSource(r.collector, 'restart');
      return;
    }
    // A checkpoint change: stop, write it in the slot's transaction, then back to the target state.
    await src.stopSource(r.collector, this.o.shutdownTimeoutMs);
    if (r.value === null) await this.o.checkpoints.reset(r.collector);
    else await this.o.checkpoints.write(r.collector, r.value);
    await this.o.readBack(r.collector);
    src.positionSource(r.collector, await this.o.checkpoints.read(r.collector));
    if (this.targetOf(r.collector) !== 'stopped') await this.o.startAsTargeted(r.collector);
  }

  private async publish(record: ControlRecord): Promise<void> {
    if (!this.producer) throw new HostError('CONFLICT', 'this instance has not joined its cluster yet; try again in a moment');
    const { kind: _kind, ...value } = record;
    await this.producer.send({ topic: this.o.configTopic, acks: -1, messages: [{ key: controlKey(record), value: JSON.stringify(value) }] });
  }

  async command(id: string, command: CollectorCommand, waitMs: number): Promise<RoutedResult> {
    const at = new Date().toISOString();
    const target = TARGET_OF[command];
    await this.publish(
      target ? { kind: 'target', collector: id, target, by: this.o.instance, at } : { kind: 'restart', collector: id, request: randomUUID(), by: this.o.instance, at },
    );
    const settled = SETTLED_AFTER[command];
    const until = Date.now() + waitMs;
    for (;;) {
      const owner = this.o.ownerOf(id);
      const st = owner ? this.o.view.status(id, owner) : undefined;
      const fresh = command !== 'restart' || (st !== undefined && st['@timestamp'] >= at);
      const state = (owner === this.o.instance ? this.o.sources().stateOf(id) : (st?.state as CollectorState | undefined)) ?? 'stopped';
      if (owner && settled.includes(state) && fresh && (owner === this.o.instance || st?.instance === owner)) return { ok: true, state, instance: owner };
      if (Date.now() >= until) return { ok: true, state, ...(owner ? { instance: owner } : {}) };
      await sleep(50);
    }
  }

  async setCheckpoint(id: string, value: Checkpoint | null, waitMs: number): Promise<CheckpointSummary & { instance?: string }> {
    const at = new Date().toISOString();
    await this.publish({ kind: 'checkpoint', collector: id, request: randomUUID(), value, by: this.o.instance, at });
    const want = JSON.stringify(value);
    const until = Date.now() + Math.max(waitMs, 1000);
    for (;;) {
      const stored = this.o.view.checkpoint(id);
      const owner = this.o.ownerOf(id);
      const done = value === null ? stored === undefined || stored.value === null : stored !== undefined && stored.updatedAt >= at && JSON.stringify(stored.value) === want;
      if (done && (value !== null || (await this.checkpointResetSeen(id, at))))
        return { value: stored?.value ?? undefined, ...(stored?.updatedAt ? { updatedAt: stored.updatedAt } : {}), ...(owner ? { instance: owner } : {}) };
      if (Date.now() >= until)
        throw new HostError(
          'CONFLICT',
          `the checkpoint change for collector "${id}" is recorded, but ${owner ? `its owner ${owner}` : 'no instance (none owns it now)'} has not committed it within ${Math.round(waitMs / 1000)} s; it applies when the collector next has an owner that sees it — GET /cluster shows the owner, GET /collectors/${id}/checkpoint the position`,
        );
      await sleep(50);
    }
  }

  /** A reset leaves no record to compare: the owner's status after the request says it acted. */
  private async checkpointResetSeen(id: string, at: string): Promise<boolean> {
    const st = this.o.view.status(id);
    return st !== undefined && st['@timestamp'] >= at;
  }
}
