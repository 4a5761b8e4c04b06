// Cluster membership: one kafkajs consumer in the cluster's group, subscribed to the slots topic (N
// partitions, no data). Kafka's group coordinator detects failures; the `fabric-slots` assigner
// decides which member runs which slots; this module turns the group's events into `assigned` views
// and a `lost` signal the caller acts on (start/stop its slots).
import type { Cluster, Consumer, ConsumerGroupJoinEvent, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { TypedEmitter } from 'tiny-typed-emitter';
import { type ClusterMember, type ClusterView, clusterViewOfAssignment, slotAssigner } from './assigner.js';

export type { ClusterMember } from './assigner.js';

/** `slots` is what this member may run now ([] after a loss); `members` is the cluster as of `generation`. */
export interface MembershipView {
  generation: number;
  memberId: string;
  instance: string;
  slots: number[];
  members: ClusterMember[];
}

export interface MembershipOptions {
  /** A kafkajs client made by the caller; the membership makes its own consumer from it. */
  kafka: Kafka;
  /** The consumer group: Kafka's coordinator for it is the cluster's membership. */
  groupId: string;
  /** The slots topic: `slots` partitions, created by the caller, never written. */
  topic: string;
  slots: number;
  /** This process, e.g. hostname-pid: what other members and the logs call it. */
  instance: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  logger: Logger;
}

export interface MembershipEvents {
  /** After every join (even when the slots did not change), and with `slots: []` after a loss. */
  assigned: (view: MembershipView) => void;
  /** The slots may be someone else's by now: stop them. Once per loss; a later join brings a new `assigned`. */
  lost: (reason: string) => void;
}

type SyncGroup = (request: { memberId: string }) => Promise<{ memberAssignment?: Buffer } | undefined>;

/**
 * kafkajs hands a consumer only the partitions of its assignment (the GROUP_JOIN payload); the
 * assignment's userData, which carries the cluster view, is decoded in ConsumerGroup[SYNC] and dropped.
 * The leader's `assign` sees everything, but followers learn it only from their SyncGroup answer. So
 * we watch that answer on this consumer's own Cluster, which kafkajs passes to every partition
 * assigner factory: `findGroupCoordinator` (typed, public) returns the coordinator Broker, and its
 * `syncGroup` (not in the typings, but kafkajs 2.2.4's only path to the assignment) is wrapped to
 * read the raw MemberAssignment before kafkajs decodes it. Each consumer has its own Cluster and
 * brokers, so nothing is patched globally, and the leader reads its own view the same way as the
 * followers do. Rejected alternatives: patching the shared `AssignerProtocol.MemberAssignment.decode`
 * (process-wide, cannot tell which in-process consumer a buffer is for) and admin `describeGroups`
 * after each join (an extra round trip that races the next rebalance).
 */
function watchSyncGroup(cluster: Cluster, seen: (memberId: string, memberAssignment: Buffer | undefined) => void): boolean {
  if (typeof cluster.findGroupCoordinator !== 'function') return false;
  const find = cluster.findGroupCoordinator.bind(cluster);
  const wrapped = new WeakSet<object>();
  cluster.findGroupCoordinator = async (group) => {
    const broker = await find(group);
    const coordinator = broker as unknown as { syncGroup?: SyncGroup };
    const sync = coordinator.syncGroup;
    if (typeof sync === 'function' && !wrapped.has(broker)) {
      wrapped.add(broker);
      coordinator.syncGroup = async (request) => {
        const answer = await sync.call(broker, request);
        seen(request.memberId, answer?.memberAssignment);
        return answer;
      };
    }
    return broker;
  };
  return true;
}

export class Membership extends TypedEmitter<MembershipEvents> {
  private consumer: Consumer | undefined;
  private current: MembershipView | undefined;
  /** Slots and generation claimed at the next join, so a member keeps its slots across rebalances. */
  private owned: number[] = [];
  private generation = 0;
  /** The last sign from the coordinator that this member's session is alive: a heartbeat or a join. */
  private lastContact = 0;
  /** When the watchdog last ran: a gap past the session timeout means this process was frozen. */
  private lastTick = 0;
  /** Set while a rebalance (join + sync) is in progress. */
  private joiningSince = 0;
  /** Lost since the last join: `lost` is said once per loss. */
  private lostSinceJoin = false;
  /** The watchdog (not Kafka) ended the session: the coordinator may still count this member in. */
  private gaveUp = false;
  private synced: { memberId: string; view: ClusterView | undefined } | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private rejoining: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: MembershipOptions) {
    super();
    if (!Number.isSafeInteger(opts.slots) || opts.slots < 1) throw new RangeError(`cluster slots must be a positive integer, got ${opts.slots}`);
    if (!(opts.heartbeatIntervalMs > 0 && opts.heartbeatIntervalMs < opts.sessionTimeoutMs)) {
      throw new RangeError(`cluster heartbeat interval (${opts.heartbeatIntervalMs} ms) must be positive and below the session timeout (${opts.sessionTimeoutMs} ms)`);
    }
    this.log = opts.logger.child({ component: 'cluster-membership', group: opts.groupId, instance: opts.instance });
  }

  /** Joins the group; resolves once the consumer runs (usually after its first join, never guaranteed). */
  start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  /** Leaves the group at once (the others rebalance without waiting for the session timeout). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.leave();
    return this.stopping;
  }

  /** The current view; a session that has run out is reported (`lost`) before it is answered. */
  get view(): MembershipView | undefined {
    this.checkSession();
    return this.current && { ...this.current, slots: [...this.current.slots], members: this.current.members.map((m) => ({ ...m, slots: [...m.slots] })) };
  }

  private async run(): Promise<void> {
    const { kafka, groupId, topic, slots, instance, sessionTimeoutMs, heartbeatIntervalMs } = this.opts;
    const assigner = slotAssigner({ instance, slots, owned: () => this.owned, generation: () => this.generation });
    let watching = false;
    const consumer = kafka.consumer({
      groupId,
      partitionAssigners: [
        (config) => {
          watching = watchSyncGroup(config.cluster, (memberId, memberAssignment) => {
            this.synced = { memberId, view: clusterViewOfAssignment(memberAssignment) };
          });
          return assigner(config);
        },
      ],
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs,
      // A join waits at most a session for the others: the watchdog below gives up after one anyway.
      rebalanceTimeout: sessionTimeoutMs,
      // The slots topic carries no data: short empty fetches keep the heartbeats (sent between fetches) on time.
      maxWaitTimeInMs: Math.min(500, heartbeatIntervalMs),
    });
    if (!watching) throw new Error('cluster membership: this kafkajs does not hand its Cluster to partition assigners; the cluster view cannot be read');
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onJoin(e.payload));
    consumer.on(consumer.events.HEARTBEAT, () => this.onHeartbeat());
    consumer.on(consumer.events.REBALANCING, () => {
      this.joiningSince = Date.now();
      this.log.info('the group is rebalancing; slots keep running until the new assignment');
    });
    consumer.on(consumer.events.CRASH, (e) => this.onCrash(e.payload.error, e.payload.restart));
    this.watchdog = setInterval(() => this.checkSession(), Math.max(50, Math.min(heartbeatIntervalMs, 1000)));
    this.watchdog.unref();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      await consumer.run({ eachBatch: async () => {} });
    } catch (err) {
      clearInterval(this.watchdog);
      throw err;
    }
  }

  private async leave(): Promise<void> {
    clearInterval(this.watchdog);
    await this.starting?.catch(() => {});
    await this.rejoining;
    this.current = undefined;
    await this.consumer?.disconnect();
  }

  private get closed(): boolean {
    return this.stopping !== undefined;
  }

  /**
   * Called on the timer and before anything else is said: a process stopped (SIGSTOP, a long pause)
   * past the session timeout must report the loss before it acts on its old slots again.
   */
  private checkSession(): void {
    const now = Date.now();
    // The watchdog's own timer running this late means the process did not run at all (SIGSTOP, a
    // VM pause): the coordinator has given the slots away by now.
    const frozen = this.lastTick > 0 && now - this.lastTick > this.opts.sessionTimeoutMs;
    this.lastTick = now;
    if (this.closed || !this.current || this.lostSinceJoin) return;
    if (frozen) {
      this.gaveUp = true;
      this.lose(`this process did not run for more than the session timeout (${this.opts.sessionTimeoutMs} ms): stopped or starved`);
      return;
    }
    // Otherwise the coordinator decides: a join in progress is contact (it waits for slow members up
    // to the rebalance timeout), and a heartbeat delayed by load is not a loss until the coordinator
    // says so (kafkajs then rejoins and a new assignment comes). Twice the session timeout without
    // any answer means the coordinator is unreachable or has evicted us: stop the slots.
    const since = this.joiningSince > 0 ? Math.max(this.lastContact, this.joiningSince) : this.lastContact;
    const allowed = this.opts.sessionTimeoutMs * (this.joiningSince > 0 ? 3 : 2);
    const silent = now - since;
    if (silent <= allowed) return;
    this.gaveUp = true;
    this.lose(`no heartbeat or join answered for ${silent} ms (session timeout ${this.opts.sessionTimeoutMs} ms)`);
  }

  private lose(reason: string): void {
    if (this.closed || this.lostSinceJoin) return;
    this.lostSinceJoin = true;
    // Claim nothing at the next join: Kafka may have given these slots to someone else already.
    this.owned = [];
    this.log.warn({ reason, slots: this.current?.slots.length ?? 0 }, 'cluster membership lost; stopping this member’s slots');
    this.tell('lost', reason);
    if (this.current) {
      this.current = { ...this.current, slots: [] };
      this.tell('assigned', this.view!);
    }
  }

  private onHeartbeat(): void {
    if (this.closed) return;
    this.checkSession();
    this.lastContact = Date.now();
    // A heartbeat accepted after the watchdog gave up: the coordinator still counts this member in a
    // generation whose slots it no longer runs. Only a new join hands them out again.
    if (this.gaveUp && this.lostSinceJoin) this.rejoin();
  }

  private onJoin(payload: ConsumerGroupJoinEvent['payload']): void {
    if (this.closed) return;
    this.checkSession();
    this.lastContact = Date.now();
    this.joiningSince = 0;
    const synced = this.synced;
    this.synced = undefined;
    const view = synced?.memberId === payload.memberId ? synced.view : undefined;
    const self = view?.members.find((m) => m.memberId === payload.memberId);
    if (!view || !self) {
      // Cannot happen with the fabric-slots protocol; if it does, running nothing is the safe answer.
      this.log.error({ memberId: payload.memberId, protocol: payload.groupProtocol }, 'cluster membership: the assignment carries no cluster view; running no slots');
      this.lose('the assignment carries no cluster view');
      return;
    }
    const granted = [...(payload.memberAssignment[this.opts.topic] ?? [])].sort((a, b) => a - b);
    if (granted.join() !== self.slots.join()) {
      this.log.error({ granted, view: self.slots }, 'cluster membership: the partitions granted differ from the cluster view; following the view');
    }
    this.owned = [...self.slots];
    this.generation = view.generation;
    this.lostSinceJoin = false;
    this.gaveUp = false;
    this.current = { generation: view.generation, memberId: payload.memberId, instance: this.opts.instance, slots: [...self.slots], members: view.members };
    this.log.info(
      { generation: view.generation, memberId: payload.memberId, leader: payload.isLeader, slots: self.slots.length, members: view.members.length },
      'cluster membership: joined',
    );
    this.tell('assigned', this.view!);
  }

  private onCrash(error: Error, restart: boolean): void {
    if (this.closed) return;
    this.log.error({ error: { name: error.name, message: error.message, type: (error as { type?: unknown }).type }, restart }, 'cluster membership: the group consumer crashed');
    // Before the first join there are no slots to lose, and kafkajs starts the consumer again; a
    // consumer that stays down is a loss either way, or the caller would wait for a join forever.
    if (this.current || !restart) this.lose(restart ? `the group consumer crashed (${error.name}); rejoining` : `the group consumer crashed (${error.name}) and will not rejoin`);
  }

  /** Leave and join again (a fresh member id), so the group rebalances and this member gets slots again. */
  private rejoin(): void {
    if (this.rejoining || this.closed || !this.consumer) return;
    const consumer = this.consumer;
    this.log.warn('cluster membership: rejoining the group to get slots again');
    this.rejoining = (async () => {
      try {
        await consumer.stop();
        if (!this.closed) await consumer.run({ eachBatch: async () => {} });
      } catch (err) {
        this.log.error({ error: { name: (err as Error).name, message: (err as Error).message } }, 'cluster membership: rejoining failed');
      }
    })().finally(() => {
      this.rejoining = undefined;
    });
  }

  /** A listener that throws must not take the heartbeat path or the watchdog timer down with it. */
  private tell<E extends keyof MembershipEvents>(event: E, ...args: Parameters<MembershipEvents[E]>): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.log.error({ error: { name: (err as Error).name, message: (err as Error).message }, event }, 'cluster membership: a listener threw');
    }
  }
}
