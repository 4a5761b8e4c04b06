import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Checkpoint } from '../plugin-api/index.js';
import { sleep, withTimeout } from '../async/time.js';
import {
  type CheckpointSummary,
  type ClusterCollectorView,
  type ClusterRole,
  type ClusterStatus,
  type CollectorCommand,
  type CollectorState,
  HostError,
  type RoutedResult,
  type SourceControl,
} from '../host.js';
import { type ControlRecord, controlKey, SETTLED_AFTER, TARGET_OF, type TargetState } from './control.js';
import { KafkaCheckpointStore } from './checkpoint-store.js';
import { type ClusterConfig, type ClusterNames, clusterNames, SLOT_COUNT, slotOf } from './config.js';
import { ClusterSetupError, type SlotFencedError } from './errors.js';
import { Membership, type MembershipView } from './membership.js';
import type { ClusterMetrics } from './metrics.js';
import { SlotWriter } from './slot-writer.js';
import { ClusterStateView } from './state-view.js';
import { ensureClusterTopics } from './topics.js';

export interface ClusterNodeOptions {
  config: ClusterConfig;
  kafka: Kafka;
  instance: string;
  eventsTopic: string;
  statusTopic: string;
  metrics: ClusterMetrics;
  logger: Logger;
  /** Graceful hand-over: how long a released slot's collectors get to commit what they read. */
  shutdownTimeoutMs: number;
}

/** A slot (or a pinned collector) this instance holds: its writer fenced the earlier holder. */
interface Holding {
  /** None for a slot without collectors: nothing to fence, nothing to write. */
  writer: SlotWriter | undefined;
  collectors: string[];
}

/**
 * One instance's membership in a cluster. Kafka's group coordinator hands out the slots (see
 * membership.ts); this applies each assignment: slots lost are stopped first (their collectors
 * stop polling and commit), slots gained are taken (fence the old owner with the slot's
 * transactional id, read the slot's committed checkpoints, start its collectors). Slots that stay
 * are not touched, so a rebalance stops only what moves. Pinned collectors run on their instance only.
 */
export class ClusterNode implements ClusterRole {
  readonly names: ClusterNames;
  readonly view: ClusterStateView;
  readonly checkpoints: KafkaCheckpointStore;
  private readonly membership: Membership;
  private readonly slots = new Map<number, Holding>();
  /** Slots being handed over: their writers commit what is in flight but retry nothing. */
  private readonly releasing = new Set<number>();
  private readonly pins = new Map<string, Holding>();
  private admin: Admin | undefined;
  private sources: SourceControl | undefined;
  private latest: MembershipView | undefined;
  /** Assignments are applied one after another, in the order they arrive. */
  private work: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  /** Operators' target state per collector (config topic); absent = running. */
  private readonly targets = new Map<string, TargetState>();
  /** Config-topic records from this offset on arrived while this instance runs: requests in them are acted on. */
  private liveFrom = Number.POSITIVE_INFINITY;
  private producer: Producer | undefined;

  get instance(): string {
    return this.o.instance;
  }

  constructor(private readonly o: ClusterNodeOptions) {
    this.names = clusterNames(o.config);
    this.log = o.logger.child({ cluster: o.config.group });
    this.view = new ClusterStateView({
      kafka: o.kafka,
      instance: o.instance,
      group: o.config.group,
      checkpointsTopic: this.names.checkpointsTopic,
      statusTopic: o.statusTopic,
      configTopic: this.names.configTopic,
      onControl: (record, offset) => this.onControl(record, offset),
      logger: this.log,
    });
    this.checkpoints = new KafkaCheckpointStore({
      view: this.view,
      checkpointsTopic: this.names.checkpointsTopic,
      slotOf: (c) => slotOf(c),
      writerFor: (c) => this.writerFor(c),
      ownerOf: (c) => this.ownerOf(c),
    });
    this.membership = new Membership({
      kafka: o.kafka,
      groupId: this.names.consumerGroup,
      topic: this.names.slotsTopic,
      slots: SLOT_COUNT,
      instance: o.instance,
      sessionTimeoutMs: o.config.session_timeout_seconds * 1000,
      heartbeatIntervalMs: o.config.heartbeat_interval_seconds * 1000,
      logger: this.log,
    });
  }

  /** The writer a collector's batches go to, while this instance runs it. */
  writerFor(collector: string): SlotWriter | undefined {
    const pin = this.pins.get(collector);
    if (pin) return pin.writer;
    if (this.o.config.pinned[collector] !== undefined) return undefined;
    const w = this.slots.get(slotOf(collector))?.writer;
    return w && !w.isFenced ? w : undefined;
  }

  async start(sources: SourceControl): Promise<void> {
    this.sources = sources;
    this.admin = this.o.kafka.admin();
    await this.admin.connect();
    await ensureClusterTopics(this.admin, this.names, this.o.config.replication_factor);
    // Requests already in the config topic were for earlier owners; target states in it hold for all.
    const configEnd = await this.highOf(this.names.configTopic, 0);
    this.liveFrom = configEnd;
    this.producer = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    await this.view.start();
    await this.view.caughtUp(this.names.configTopic, 0, configEnd);
    const mine = Object.entries(this.o.config.pinned).filter(([id, inst]) => inst === this.o.instance && sources.sourceIds().includes(id));
    for (const [id] of mine) await this.takePin(id);
    this.membership.on('assigned', (view) => {
      this.latest = view;
      this.o.metrics.members.set(view.members.length);
      this.o.metrics.rebalances.inc();
      this.work = this.work.then(() => this.apply(view)).catch((err: Error) => this.log.error({ err: err.message }, 'applying the cluster assignment failed'));
    });
    this.membership.on('lost', (reason) => this.log.warn({ reason }, 'lost the cluster membership: stopping this instance’s slots'));
    await this.membership.start();
    this.log.info({ group: this.names.consumerGroup, pinned: mine.map(([id]) => id) }, 'joined the cluster');
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.work;
    // Hand over cleanly: commit what was read, then leave the group so the others take the slots at once.
    const all = [...[...this.slots.keys()].map((s) => this.releaseSlot(s, deadlineMs)), ...[...this.pins.keys()].map((c) => this.releasePin(c, deadlineMs))];
    await Promise.all(all);
    await this.membership.stop();
    await this.view.stop();
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }

  status(): ClusterStatus {
    const members = this.latest?.members ?? [];
    const ownerOfSlot = new Map<number, string>();
    for (const m of members) for (const s of m.slots) ownerOfSlot.set(s, m.instance);
    const live = new Set(members.map((m) => m.instance));
    const collectors: ClusterCollectorView[] = (this.sources?.sourceIds() ?? []).map((id) => {
      const slot = slotOf(id);
      const pinned = this.o.config.pinned[id];
      const owner = pinned !== undefined ? (live.has(pinned) || pinned === this.o.instance ? pinned : undefined) : ownerOfSlot.get(slot);
      const st = owner ? this.view.status(id, owner) : this.view.status(id);
      return {
        id,
        slot,
        ...(pinned !== undefined ? { pinned } : {}),
        ...(owner ? { owner } : {}),
        ...(st ? { state: st.state, at: st['@timestamp'], ...(st.instance ? { stateFrom: st.instance } : {}) } : {}),
        ...(owner ? {} : { problem: pinned !== undefined ? ('down' as const) : ('unassigned' as const) }),
      };
    });
    return {
      group: this.o.config.group,
      instance: this.o.instance,
      generation: this.latest?.generation ?? 0,
      members: members.map((m) => ({
        instance: m.instance,
        memberId: m.memberId,
        slots: m.slots,
        collectors: collectors.filter((c) => c.owner === m.instance).map((c) => c.id),
      })),
      collectors,
      ownedSlots: [...this.slots.keys()].sort((a, b) => a - b),
    };
  }

  ownerOf(collector: string): string | undefined {
    const pinned = this.o.config.pinned[collector];
    if (pinned !== undefined) return pinned;
    const slot = slotOf(collector);
    return this.latest?.members.find((m) => m.slots.includes(slot))?.instance;
  }

  /** Enrichers report everywhere; a source only from the instance that holds it. */
  reportsStatusOf(id: string): boolean {
    return !(this.sources?.sourceIds().includes(id) ?? false) || this.runsHere(id);
  }

  /** Does this instance run `id` now (its slot or pin is held here)? */
  private runsHere(id: string): boolean {
    if (this.pins.has(id)) return true;
    if (this.o.config.pinned[id] !== undefined) return false;
    return this.slots.get(slotOf(id))?.collectors.includes(id) ?? false;
  }

  /** A config-topic record: remember targets; the owner applies it (requests only when they arrive live). */
  private onControl(record: ControlRecord, offset: number): void {
    if (record.kind === 'target') this.targets.set(record.collector, record.target);
    if (!this.runsHere(record.collector)) return;
    if (record.kind !== 'target' && offset < this.liveFrom) return;
    this.work = this.work
      .then(() => this.applyControl(record))
      .catch((err: Error) => this.log.error({ collector: record.collector, kind: record.kind, err: err.message }, 'applying an operator request failed'));
  }

  private async applyControl(r: ControlRecord): Promise<void> {
    const src = this.sources!;
    if (!this.runsHere(r.collector)) return;
    this.log.info({ collector: r.collector, request: r.kind, ...(r.kind === 'target' ? { target: r.target } : {}), by: r.by }, 'operator request applied');
    if (r.kind === 'target') {
      const state = src.stateOf(r.collector);
      const active = state === 'running' || state === 'degraded' || state === 'paused';
      if (r.target === 'stopped') await src.commandSource(r.collector, 'stop');
      else if (r.target === 'paused') {
        if (active) await src.commandSource(r.collector, 'pause');
        else await src.startSource(r.collector, await this.checkpoints.read(r.collector), { paused: true });
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
    if (r.value === null) await this.checkpoints.reset(r.collector);
    else await this.checkpoints.write(r.collector, r.value);
    const writer = this.writerFor(r.collector);
    if (writer) await this.readToEnd(writer);
    src.positionSource(r.collector, await this.checkpoints.read(r.collector));
    if ((this.targets.get(r.collector) ?? 'running') !== 'stopped') await this.startAsTargeted(r.collector);
  }

  private async publish(record: ControlRecord): Promise<void> {
    if (!this.producer) throw new HostError('CONFLICT', 'this instance has not joined its cluster yet; try again in a moment');
    const { kind: _kind, ...value } = record;
    await this.producer.send({ topic: this.names.configTopic, acks: -1, messages: [{ key: controlKey(record), value: JSON.stringify(value) }] });
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
      const owner = this.ownerOf(id);
      const st = owner ? this.view.status(id, owner) : undefined;
      const fresh = command !== 'restart' || (st !== undefined && st['@timestamp'] >= at);
      const state = (owner === this.o.instance ? this.sources?.stateOf(id) : (st?.state as CollectorState | undefined)) ?? 'stopped';
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
      const stored = this.view.checkpoint(id);
      const owner = this.ownerOf(id);
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
    const st = this.view.status(id);
    return st !== undefined && st['@timestamp'] >= at;
  }

  private collectorsOf(slot: number): string[] {
    return (this.sources?.sourceIds() ?? []).filter((id) => this.o.config.pinned[id] === undefined && slotOf(id) === slot);
  }

  private async apply(view: MembershipView): Promise<void> {
    if (this.stopped) return;
    const started = performance.now();
    const wanted = new Set(view.slots);
    const lost = [...this.slots.keys()].filter((s) => !wanted.has(s));
    const gained = view.slots.filter((s) => !this.slots.has(s));
    await Promise.all(lost.map((s) => this.releaseSlot(s, this.o.shutdownTimeoutMs)));
    // Taking a slot costs an InitProducerId round trip and a read to the partition's end: a few at a time.
    for (let i = 0; i < gained.length; i += 8) await Promise.all(gained.slice(i, i + 8).map((s) => this.takeSlotPersistently(s)));
    this.o.metrics.ownedSlots.set(this.slots.size);
    this.o.metrics.ownedCollectors.set([...this.slots.values(), ...this.pins.values()].reduce((n, h) => n + h.collectors.length, 0));
    this.o.metrics.rebalanceSeconds.observe((performance.now() - started) / 1000);
    if (lost.length || gained.length)
      this.log.info({ generation: view.generation, lost, gained, owned: this.slots.size, ms: Math.round(performance.now() - started) }, 'cluster assignment applied');
  }

  private newWriter(transactionalId: string, partition: number, owned: () => boolean, onFenced: (err: SlotFencedError) => void): SlotWriter {
    return new SlotWriter({
      kafka: this.o.kafka,
      transactionalId,
      partition,
      eventsTopic: this.o.eventsTopic,
      checkpointsTopic: this.names.checkpointsTopic,
      instance: this.o.instance,
      metrics: this.o.metrics,
      logger: this.log,
      view: this.view,
      owned: () => !this.stopped && owned(),
      onFenced,
    });
  }

  /** Wait until the view holds everything committed to `writer`'s checkpoint partition so far. */
  private async readToEnd(writer: SlotWriter): Promise<void> {
    const token = await withTimeout(
      writer.barrier(),
      30_000,
      () => new ClusterSetupError('the barrier transaction did not commit within 30 s: the broker is not answering; the slot is taken again'),
    );
    await this.view.barrier(token);
  }

  /**
   * The partition's high watermark. Retried briefly: right after the topics were created, the
   * client's metadata can still name no leader (NOT_LEADER_OR_FOLLOWER) for a few hundred ms.
   */
  private async highOf(topic: string, partition: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const offsets = await this.admin!.fetchTopicOffsets(topic);
        return Number(offsets.find((p) => p.partition === partition)?.high ?? 0);
      } catch (err) {
        if (attempt >= 50 || this.stopped) throw err;
        await sleep(200);
      }
    }
  }

  /**
   * Take a slot, retrying while it is still ours to take: the old owner's transaction may still be
   * closing (CONCURRENT_TRANSACTIONS past kafkajs' retries) or the broker may be briefly away. One
   * slot that cannot be taken yet must not leave the others of the assignment untaken.
   */
  private async takeSlotPersistently(slot: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopped || !this.latest?.slots.includes(slot)) return;
      try {
        await this.takeSlot(slot);
        return;
      } catch (err) {
        const h = this.slots.get(slot);
        this.slots.delete(slot);
        await h?.writer?.close(0).catch(() => undefined);
        this.log.warn({ slot, attempt, err: (err as Error).message }, 'could not take slot yet; retrying');
        await sleep(Math.min(200 * 2 ** attempt, 5_000));
      }
    }
  }

  private async takeSlot(slot: number): Promise<void> {
    const collectors = this.collectorsOf(slot);
    // Most of the 64 slots hold no collector: owning them costs nothing (no producer, no fencing).
    if (collectors.length === 0) {
      this.slots.set(slot, { writer: undefined, collectors });
      return;
    }
    const writer = this.newWriter(
      this.names.slotTransactionalId(slot),
      slot,
      () => (this.latest?.slots.includes(slot) ?? false) && !this.releasing.has(slot),
      () => void this.onFenced(slot),
    );
    // Fence first, then read: once the old owner cannot commit, the slot's checkpoints are final.
    await writer.open();
    const holding: Holding = { writer, collectors };
    this.slots.set(slot, holding);
    await this.readToEnd(writer);
    for (const id of collectors) await this.startAsTargeted(id);
  }

  /** Start a collector this instance took, as the operators left it: running, paused, or not at all. */
  private async startAsTargeted(id: string): Promise<void> {
    const target = this.targets.get(id) ?? 'running';
    const checkpoint = await this.checkpoints.read(id);
    if (target === 'stopped') {
      this.sources!.positionSource(id, checkpoint);
      return;
    }
    await this.sources!.startSource(id, checkpoint, { paused: target === 'paused' });
  }

  private async takePin(collector: string): Promise<void> {
    const slot = slotOf(collector);
    const writer = this.newWriter(
      this.names.pinnedTransactionalId(collector),
      slot,
      () => this.pins.has(collector),
      () => void this.releasePin(collector, 0),
    );
    await writer.open();
    this.pins.set(collector, { writer, collectors: [collector] });
    await this.readToEnd(writer);
    await this.startAsTargeted(collector);
  }

  private async releaseSlot(slot: number, deadlineMs: number): Promise<void> {
    const h = this.slots.get(slot);
    if (!h) return;
    this.releasing.add(slot);
    await Promise.all(h.collectors.map((id) => this.sources!.stopSource(id, deadlineMs)));
    this.slots.delete(slot);
    this.releasing.delete(slot);
    await h.writer?.close(deadlineMs);
  }

  private async releasePin(collector: string, deadlineMs: number): Promise<void> {
    const h = this.pins.get(collector);
    if (!h) return;
    await this.sources!.stopSource(collector, deadlineMs);
    this.pins.delete(collector);
    await h.writer?.close(deadlineMs);
  }

  /** Someone else holds the slot now: stop its collectors (their writes fail anyway) and do not fight for it. */
  private async onFenced(slot: number): Promise<void> {
    this.work = this.work.then(() => this.releaseSlot(slot, 0)).catch(() => undefined);
    await this.work;
  }
}
