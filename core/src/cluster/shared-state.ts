import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { describeKafkaError } from '../sinks/kafka/errors.js';
import type { ClusterNames } from './config.js';
import type { ClusterStateView } from './state-view.js';

/** Records wait this long to go out together. */
const LINGER_MS = 50;
/** Past this many records waiting (the broker away), the oldest are dropped: each costs a lookup at worst. */
const MAX_WAITING = 10_000;
/** After a membership change, a share that grew waits this long for the others' earlier sends to leave the window. */
const MINUTE = 60_000;

/** Key prefix of verdict records: they go to the verdicts topic (deleted after its retention), the rest to the state topic. */
const VERDICT_PREFIX = 'v/';

/**
 * State every instance of a cluster shares outside the slots (the enrichment's verdict cache,
 * false-positive list and budget spending: enrichment/shared.ts gives the keys), kept in two
 * compacted topics: `<prefix>verdicts` (answers, also deleted after a week so indicators seen once
 * do not pile up) and `<prefix>shared-state` (false positives, budgets; compacted only). Every
 * instance's view follows both from the beginning; writes are plain idempotent produces, at least
 * once — a lost or repeated record costs at most one lookup, never an event.
 */
export class ClusterSharedState {
  private producer: Producer | undefined;
  private waiting: Array<{ topic: string; key: string; value: string | null }> = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private readonly followers: Array<{ prefix: string; apply(key: string, value: string | null): void }> = [];
  private previous: { members: string[]; until: number } = { members: [], until: 0 };
  private current: string[] = [];
  private closed = false;

  constructor(
    private readonly o: {
      kafka: Kafka;
      names: ClusterNames;
      instance: string;
      view: ClusterStateView;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  /**
   * Whether anything follows the shared state (the enrichment stage does, when enrichers are
   * configured): without, a cluster creates, follows and writes none of it.
   */
  get used(): boolean {
    return this.followers.length > 0;
  }

  get instance(): string {
    return this.o.instance;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  async start(): Promise<void> {
    if (!this.used) return;
    this.producer = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.flush();
    await this.sending.catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
  }

  publish(key: string, value: string | null): void {
    if (this.closed) return;
    const topic = key.startsWith(VERDICT_PREFIX) ? this.o.names.verdictsTopic : this.o.names.sharedStateTopic;
    this.waiting.push({ topic, key, value });
    if (this.waiting.length > MAX_WAITING) this.waiting.splice(0, this.waiting.length - MAX_WAITING);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, LINGER_MS);
  }

  /** Before the node starts (the view subscribes to the topics then). */
  follow(prefix: string, apply: (key: string, value: string | null) => void): void {
    if (!this.used) this.o.view.followShared([this.o.names.verdictsTopic, this.o.names.sharedStateTopic], (key, value) => this.dispatch(key, value));
    this.followers.push({ prefix, apply });
  }

  /**
   * This instance's part of a cluster-wide limit: the limit split over the members of the current
   * assignment (sorted by instance id; the first `total mod m` get one more), 0 while it is not a
   * member. For a minute after the members changed, never more than it had before the change.
   */
  share(total: number): number {
    const now = this.now();
    const mine = shareOf(this.current, this.o.instance, total);
    return now < this.previous.until ? Math.min(mine, shareOf(this.previous.members, this.o.instance, total)) : mine;
  }

  /** The members of each new assignment (membership.ts). */
  membersChanged(members: string[]): void {
    const sorted = [...members].sort();
    if (sorted.join('\n') === this.current.join('\n')) return;
    // A start (no members before) waits for nobody: no instance of the group had sent anything
    // this instance could overlap with — unless another was already running, whose sends the
    // budget's own view of the others (their reported recent sends) still counts.
    this.previous = { members: this.current, until: this.current.length === 0 ? 0 : this.now() + MINUTE };
    this.current = sorted;
  }

  private dispatch(key: string, raw: Buffer | null): void {
    const value = raw === null ? null : raw.toString('utf8');
    for (const f of this.followers) {
      if (!key.startsWith(f.prefix)) continue;
      try {
        f.apply(key, value);
      } catch (err) {
        this.o.logger.warn({ key: key.slice(0, 200), err: (err as Error).message }, 'a shared state record could not be applied');
      }
    }
  }

  private flush(): void {
    const batch = this.waiting.splice(0);
    if (batch.length === 0 || !this.producer) return;
    const byTopic = new Map<string, Array<{ key: string; value: string | null }>>();
    for (const r of batch) {
      const list = byTopic.get(r.topic) ?? [];
      list.push({ key: r.key, value: r.value });
      byTopic.set(r.topic, list);
    }
    const producer = this.producer;
    this.sending = this.sending
      .catch(() => undefined)
      .then(() => producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 }))
      .then(
        () => undefined,
        (err: unknown) => {
          const facts = describeKafkaError(err);
          this.o.logger.warn(
            { records: batch.length, code: facts.code, err: facts.message },
            'shared state records not written (each costs at most one lookup on another instance)',
          );
        },
      );
  }
}

/** `instance`'s part of `total` among `members` (sorted): ⌊total/m⌋, plus one for the first total mod m. */
export function shareOf(members: readonly string[], instance: string, total: number): number {
  const i = members.indexOf(instance);
  if (i < 0 || members.length === 0) return 0;
  const m = members.length;
  return Math.floor(total / m) + (i < total % m ? 1 : 0);
}
