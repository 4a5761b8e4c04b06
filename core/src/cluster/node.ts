import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { ClusterCollectorView, ClusterRole, ClusterStatus, SourceControl } from '../host.js';
import { KafkaCheckpointStore } from './checkpoint-store.js';
import { type ClusterConfig, type ClusterNames, clusterNames, SLOT_COUNT, slotOf } from './config.js';
import type { SlotFencedError } from './errors.js';
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
  writer: SlotWriter;
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
  private readonly pins = new Map<string, Holding>();
  private admin: Admin | undefined;
  private sources: SourceControl | undefined;
  private latest: MembershipView | undefined;
  /** Assignments are applied one after another, in the order they arrive. */
  private work: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;

  get instance(): string {
    return this.o.instance;
  }

  constructor(private readonly o: ClusterNodeOptions) {
    this.names = clusterNames(o.config);
    this.log = o.logger.child({ cluster: o.config.group, instance: o.instance });
    this.view = new ClusterStateView({
      kafka: o.kafka,
      instance: o.instance,
      group: o.config.group,
      checkpointsTopic: this.names.checkpointsTopic,
      statusTopic: o.statusTopic,
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
    const h = this.slots.get(slotOf(collector));
    return h && !h.writer.isFenced ? h.writer : undefined;
  }

  async start(sources: SourceControl): Promise<void> {
    this.sources = sources;
    this.admin = this.o.kafka.admin();
    await this.admin.connect();
    await ensureClusterTopics(this.admin, this.names, this.o.config.replication_factor);
    await this.view.start();
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
      const st = this.view.status(id);
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
    for (let i = 0; i < gained.length; i += 8) await Promise.all(gained.slice(i, i + 8).map((s) => this.takeSlot(s)));
    this.o.metrics.ownedSlots.set(this.slots.size);
    this.o.metrics.ownedCollectors.set([...this.slots.values(), ...this.pins.values()].reduce((n, h) => n + h.collectors.length, 0));
    this.o.metrics.rebalanceSeconds.observe((performance.now() - started) / 1000);
    if (lost.length || gained.length)
      this.log.info({ generation: view.generation, lost, gained, owned: this.slots.size, ms: Math.round(performance.now() - started) }, 'cluster assignment applied');
  }

  private newWriter(transactionalId: string, partition: number, onFenced: (err: SlotFencedError) => void): SlotWriter {
    return new SlotWriter({
      kafka: this.o.kafka,
      transactionalId,
      partition,
      eventsTopic: this.o.eventsTopic,
      checkpointsTopic: this.names.checkpointsTopic,
      instance: this.o.instance,
      metrics: this.o.metrics,
      logger: this.log,
      readCommitted: async (collector) => {
        await this.readToEnd(partition);
        return this.view.checkpoint(collector);
      },
      onFenced,
    });
  }

  /** Wait until the view has read `partition` of the checkpoints topic as far as it goes now. */
  private async readToEnd(partition: number): Promise<void> {
    const offsets = await this.admin!.fetchTopicOffsets(this.names.checkpointsTopic);
    const high = Number(offsets.find((p) => p.partition === partition)?.high ?? 0);
    await this.view.caughtUp(this.names.checkpointsTopic, partition, high);
  }

  private async takeSlot(slot: number): Promise<void> {
    const collectors = this.collectorsOf(slot);
    const writer = this.newWriter(this.names.slotTransactionalId(slot), slot, () => void this.onFenced(slot));
    // Fence first, then read: once the old owner cannot commit, the slot's checkpoints are final.
    await writer.open();
    const holding: Holding = { writer, collectors };
    this.slots.set(slot, holding);
    if (collectors.length === 0) return;
    await this.readToEnd(slot);
    for (const id of collectors) await this.sources!.startSource(id, await this.checkpoints.read(id));
  }

  private async takePin(collector: string): Promise<void> {
    const slot = slotOf(collector);
    const writer = this.newWriter(this.names.pinnedTransactionalId(collector), slot, () => void this.releasePin(collector, 0));
    await writer.open();
    this.pins.set(collector, { writer, collectors: [collector] });
    await this.readToEnd(slot);
    await this.sources!.startSource(collector, await this.checkpoints.read(collector));
  }

  private async releaseSlot(slot: number, deadlineMs: number): Promise<void> {
    const h = this.slots.get(slot);
    if (!h) return;
    await Promise.all(h.collectors.map((id) => this.sources!.stopSource(id, deadlineMs)));
    this.slots.delete(slot);
    await h.writer.close(deadlineMs);
  }

  private async releasePin(collector: string, deadlineMs: number): Promise<void> {
    const h = this.pins.get(collector);
    if (!h) return;
    await this.sources!.stopSource(collector, deadlineMs);
    this.pins.delete(collector);
    await h.writer.close(deadlineMs);
  }

  /** Someone else holds the slot now: stop its collectors (their writes fail anyway) and do not fight for it. */
  private async onFenced(slot: number): Promise<void> {
    this.work = this.work.then(() => this.releaseSlot(slot, 0)).catch(() => undefined);
    await this.work;
  }
}
