import type { CollectorSummary, FabricHost, TransitionRecord } from '../host.js';

export type JournalEvent = { id: number; type: 'transition'; data: TransitionRecord & { collector: string } } | { id: number; type: 'status'; data: CollectorSummary };

type Listener = (event: JournalEvent) => void;

/**
 * Numbers the host's transition and status events and keeps the last `capacity` of them, so an
 * /events client that reconnects with Last-Event-ID gets what it missed. Subscribed from server
 * start, not from the first client, so nothing that happened before a client connected is lost.
 */
export class EventJournal {
  private readonly ring: JournalEvent[] = [];
  private nextId = 1;
  private readonly listeners = new Set<Listener>();
  private readonly onTransition = (record: TransitionRecord & { collector: string }): void => this.push({ type: 'transition', data: record });
  private readonly onStatus = (summary: CollectorSummary): void => this.push({ type: 'status', data: summary });

  constructor(
    private readonly host: FabricHost,
    private readonly capacity: number,
  ) {
    host.events.on('transition', this.onTransition);
    host.events.on('status', this.onStatus);
  }

  private push(partial: { type: 'transition'; data: TransitionRecord & { collector: string } } | { type: 'status'; data: CollectorSummary }): void {
    const event = { id: this.nextId++, ...partial } as JournalEvent;
    if (this.capacity > 0) {
      this.ring.push(event);
      if (this.ring.length > this.capacity) this.ring.shift();
    }
    for (const listener of this.listeners) listener(event);
  }

  /** The id the next event will get. */
  get next(): number {
    return this.nextId;
  }

  /**
   * Events after `lastId` still in the buffer, and whether some were already dropped
   * (the client then has to re-read GET /collectors to resynchronise).
   */
  since(lastId: number): { events: JournalEvent[]; gap: boolean } {
    const events = this.ring.filter((e) => e.id > lastId);
    const oldest = this.ring[0]?.id ?? this.nextId;
    return { events, gap: lastId + 1 < oldest && lastId < this.nextId - 1 };
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.host.events.off('transition', this.onTransition);
    this.host.events.off('status', this.onStatus);
    this.listeners.clear();
  }
}
