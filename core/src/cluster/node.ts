import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Checkpoint } from '../plugin-api/index.js';
import { sleep, withTimeout } from '../async/time.js';
import type { CheckpointSummary, ClusterCollectorView, ClusterRole, ClusterStatus, CollectorCommand, RoutedResult, SourceControl } from '../host.js';
import { KafkaCheckpointStore } from './checkpoint-store.js';
import { type ClusterConfig, type ClusterNames, clusterNames, SLOT_COUNT, slotOf } from './config.js';
import { ClusterSetupError, SlotFencedError } from './errors.js';
import { Membership, type MembershipView } from './membership.js';
import type { ClusterMetrics } from './metrics.js';
import { SlotWriter } from './slot-writer.js';
import { ClusterStateView } from './state-view.js';
import { OperatorRequests } from './requests.js';
import { ensureClusterTopics } from './topics.js';
import { ClusterSharedState } from './shared-state.js';

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

/**
 * Work that follows the slots rather than the collectors: the owner of slot n runs partition n of
 * it, committing through the slot's writer, and a new owner resumes from its changelog.
 */
export interface SlotWork {
  /** Compacted topic (partition = slot) the view follows and a new owner reads to its end before take(). */
  readonly changelogTopic: string;
  start(): Promise<void>;
  /** The slot is ours: its writer fenced the old owner, and the view holds its changelog partition. */
  take(slot: number, writer: SlotWriter): void;
  release(slot: number): Promise<void>;
  stop(): Promise<void>;
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
  private readonly requests: OperatorRequests;
  /** The enrichment state every instance shares (verdicts, false positives, budgets). */
  readonly sharedState: ClusterSharedState;
  /** Cluster correlation (useSlotWork): the partitions of the slots this instance owns. */
  private correlator: SlotWork | undefined;

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
      onControl: (record, offset) => this.requests.onRecord(record, offset),
      logger: this.log,
    });
    this.checkpoints = new KafkaCheckpointStore({
      view: this.view,
      checkpointsTopic: this.names.checkpointsTopic,
      slotOf: (c) => slotOf(c),
      writerFor: (c) => this.writerFor(c),
      ownerOf: (c) => this.ownerOf(c),
    });
    this.requests = new OperatorRequests({
      instance: o.instance,
      configTopic: this.names.configTopic,
      view: this.view,
      checkpoints: this.checkpoints,
      shutdownTimeoutMs: o.shutdownTimeoutMs,
      log: this.log,
      sources: () => this.sources!,
      runsHere: (id) => this.runsHere(id),
      ownerOf: (id) => this.ownerOf(id),
      readBack: async (id) => {
        const writer = this.writerFor(id);
        if (writer) await this.readToEnd(writer);
      },
      startAsTargeted: (id) => this.startAsTargeted(id),
      enqueue: (task) => {
        const run = this.work.then(task);
        // The queue goes on after a failed request (the caller logs it).
        this.work = run.catch(() => undefined);
        return run;
      },
    });
    this.sharedState = new ClusterSharedState({ kafka: o.kafka, names: this.names, instance: o.instance, view: this.view, logger: this.log });
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

  /** What work beside the collectors needs of this instance (cluster correlation builds on it). */
  get context(): { kafka: Kafka; instance: string; names: ClusterNames; view: ClusterStateView; metrics: ClusterMetrics; logger: Logger } {
    return { kafka: this.o.kafka, instance: this.o.instance, names: this.names, view: this.view, metrics: this.o.metrics, logger: this.log };
  }

  /**
   * Run `work` on every slot this instance owns, committing through the slot's writer (cluster
   * correlation). Before start(): every slot then gets a writer, and taking a slot reads the
   * work's changelog partition to its end too.
   */
  useSlotWork(work: SlotWork): void {
    this.correlator = work;
    this.view.followChangelog(work.changelogTopic);
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
    await ensureClusterTopics(this.admin, this.names, this.o.config.replication_factor, { correlation: this.correlator !== undefined, shared: this.sharedState.used });
    // Requests already in the config topic were for earlier owners; target states in it hold for all.
    const configEnd = await this.highOf(this.names.configTopic, 0);
    await this.requests.open(this.o.kafka, configEnd);
    await this.sharedState.start();
    await this.view.start();
    await this.view.caughtUp(this.names.configTopic, 0, configEnd);
    await this.correlator?.start();
    const mine = Object.entries(this.o.config.pinned).filter(([id, inst]) => inst === this.o.instance && sources.sourceIds().includes(id));
    for (const [id] of mine) await this.takePinAtStart(id);
    this.membership.on('assigned', (view) => {
      this.latest = view;
      this.sharedState.membersChanged(view.members.map((m) => m.instance));
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
    await this.correlator?.stop();
    await this.membership.stop();
    await this.sharedState.stop();
    await this.view.stop();
    await this.requests.close();
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

  /**
   * Enrichers report everywhere; a source only from the instance that holds it — also while
   * handing it over: its "stopped" is what the view shows for it on this instance, and a record
   * left "running" here would be read as the truth if the slot comes back to this instance.
   */
  reportsStatusOf(id: string): boolean {
    return !(this.sources?.sourceIds().includes(id) ?? false) || this.runsHere(id);
  }

  /** Does this instance run `id` now (its slot or pin is held here)? */
  private runsHere(id: string): boolean {
    if (this.pins.has(id)) return true;
    if (this.o.config.pinned[id] !== undefined) return false;
    return this.slots.get(slotOf(id))?.collectors.includes(id) ?? false;
  }

  /** An operator's request, sent to the owner through the config topic (requests.ts). */
  command(id: string, command: CollectorCommand, waitMs: number): Promise<RoutedResult> {
    return this.requests.command(id, command, waitMs);
  }

  setCheckpoint(id: string, value: Checkpoint | null, waitMs: number): Promise<CheckpointSummary & { instance?: string }> {
    return this.requests.setCheckpoint(id, value, waitMs);
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
    if (view.slots.length > 0) await this.takeMissingPins();
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
      ...(this.correlator ? { barrierTopics: [this.names.changelogTopic] } : {}),
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
    await this.view.barrier(token, 30_000, [this.names.checkpointsTopic, ...(this.correlator ? [this.names.changelogTopic] : [])]);
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
    // Most of the 64 slots hold no collector: owning them costs nothing (no producer, no fencing),
    // unless the cluster correlates: then every slot's correlation partition commits through it.
    if (collectors.length === 0 && !this.correlator) {
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
    await this.fenceAbandonedPins(slot);
    await this.readToEnd(writer);
    this.correlator?.take(slot, writer);
    for (const id of collectors) await this.startAsTargeted(id);
  }

  /**
   * A pinned collector writes its checkpoints to its slot's partition. If its instance died in the
   * middle of a transaction, that open transaction holds the partition's last stable offset — so
   * every read_committed reader, and the barrier a new owner of the slot waits for — until the
   * broker times it out (a minute, plus its cleanup interval): nobody else opens a pinned
   * transactional id. So a pin of this slot whose instance is not a member is fenced here, which
   * aborts that transaction at once; nobody runs the collector. If that instance was alive after all
   * (stalled, cut off), its pinned writer is refused and it takes the pin again when it is back in
   * the group (takeMissingPins).
   */
  private async fenceAbandonedPins(slot: number): Promise<void> {
    const members = new Set((this.latest?.members ?? []).map((m) => m.instance));
    const abandoned = (this.sources?.sourceIds() ?? []).filter((id) => {
      const at = this.o.config.pinned[id];
      return at !== undefined && at !== this.o.instance && !members.has(at) && slotOf(id) === slot;
    });
    for (const id of abandoned) {
      const producer = this.o.kafka.producer({ transactionalId: this.names.pinnedTransactionalId(id), idempotent: true, maxInFlightRequests: 1 });
      try {
        await producer.connect();
        await (await producer.transaction()).abort();
        this.log.info(
          { collector: id, instance: this.o.config.pinned[id], slot },
          'fenced the pinned writer of an instance that left the cluster (its open transaction is aborted)',
        );
      } catch (err) {
        this.log.warn({ collector: id, slot, err: (err as Error).message }, 'could not fence the pinned writer of an instance that left the cluster');
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
    }
  }

  /**
   * Another instance fenced this instance's pinned writer, taking it for gone (not a member in its
   * view: this one was starting, or stalled). Stop the collector; once this instance is a member
   * of the group again, take the pin back (at once if it is, else at its next assignment).
   */
  private async onPinFenced(collector: string): Promise<void> {
    await this.releasePin(collector, 0);
    await sleep(1000);
    const member = this.latest?.members.some((m) => m.instance === this.o.instance) && (this.latest?.slots.length ?? 0) > 0;
    if (this.stopped || !member) return;
    this.work = this.work.then(() => this.takeMissingPins()).catch(() => undefined);
    await this.work;
  }

  /**
   * This instance takes its pins before it joins the group, so an instance that formed the group
   * first sees them as abandoned and fences them (fenceAbandonedPins). That is no failed start (it
   * made this instance exit with "could not start", and a three-instance start in CI waited for a
   * member that never came): the pin is dropped here and taken back at this instance's first
   * assignment (apply → takeMissingPins), as a pin fenced later is. Other errors still fail the start.
   */
  private async takePinAtStart(collector: string): Promise<void> {
    try {
      await this.takePin(collector);
    } catch (err) {
      if (!(err instanceof SlotFencedError)) throw err;
      await this.dropPin(collector);
      this.log.info({ collector }, 'an instance that formed the group before this one joined fenced a pinned collector: it is taken back once this instance is a member');
    }
  }

  /** Pins of this instance it does not hold (their writer was fenced while it was out of the group): take them again. */
  private async takeMissingPins(): Promise<void> {
    const ids = this.sources?.sourceIds() ?? [];
    for (const [id, at] of Object.entries(this.o.config.pinned)) {
      if (at !== this.o.instance || this.pins.has(id) || !ids.includes(id) || this.stopped) continue;
      try {
        await this.takePin(id);
        this.log.info({ collector: id }, 'took a pinned collector back');
      } catch (err) {
        await this.dropPin(id);
        this.log.warn({ collector: id, err: (err as Error).message }, 'could not take a pinned collector back; trying at the next assignment');
      }
    }
  }

  /** Forget a pin whose taking failed: takeMissingPins tries again at the next assignment. */
  private async dropPin(collector: string): Promise<void> {
    const h = this.pins.get(collector);
    this.pins.delete(collector);
    await h?.writer?.close(0).catch(() => undefined);
  }

  /** Start a collector this instance took, as the operators left it: running, paused, or not at all. */
  private async startAsTargeted(id: string): Promise<void> {
    const target = this.requests.targetOf(id);
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
      () => void this.onPinFenced(collector),
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
    await Promise.all([...h.collectors.map((id) => this.sources!.stopSource(id, deadlineMs)), this.correlator?.release(slot)]);
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

  /**
   * Someone else holds the slot now: stop its collectors (their writes fail anyway). Usually the
   * slot moved and this instance's next assignment says so. If a session timeout later the same
   * assignment still gives it to this instance, whoever fenced it was wrong to (a stalled process
   * that had not noticed it lost the slot, a client using the slot's transactional id): take it
   * back, from the committed checkpoints, instead of leaving its collectors stopped until the next
   * rebalance.
   */
  private async onFenced(slot: number): Promise<void> {
    const generation = this.latest?.generation;
    this.work = this.work.then(() => this.releaseSlot(slot, 0)).catch(() => undefined);
    await this.work;
    await sleep(this.o.config.session_timeout_seconds * 1000);
    const latest = this.latest;
    if (this.stopped || this.slots.has(slot) || latest?.generation !== generation || !latest?.slots.includes(slot)) return;
    this.log.warn({ slot, generation }, 'fenced out of a slot the cluster still assigns to this instance: taking it back');
    this.o.metrics.slotRetakes.inc();
    this.work = this.work.then(() => this.takeSlotPersistently(slot)).catch((err: Error) => this.log.error({ slot, err: err.message }, 'taking the slot back failed'));
    await this.work;
  }
}
