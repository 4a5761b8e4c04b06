/** A minimal server-sent-events reader over fetch, for tests. */
export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private buffer = '';
  private waiters: Array<() => void> = [];
  private readonly controller = new AbortController();
  status = 0;
  headers = new Headers();

  static async open(url: string, headers: Record<string, string>): Promise<SseReader> {
    const reader = new SseReader();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: reader.controller.signal });
    reader.status = res.status;
    reader.headers = res.headers;
    if (res.body) void reader.pump(res.body);
    return reader;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        this.buffer += decoder.decode(chunk, { stream: true });
        let idx: number;
        while ((idx = this.buffer.indexOf('\n\n')) >= 0) {
          const block = this.buffer.slice(0, idx);
          this.buffer = this.buffer.slice(idx + 2);
          this.parse(block);
        }
        for (const w of this.waiters.splice(0)) w();
      }
    } catch {
      // aborted
    }
  }

  private parse(block: string): void {
    const ev: { id?: string; event: string; data: string[] } = { event: 'message', data: [] };
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line);
        continue;
      }
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'id') ev.id = value;
      else if (field === 'event') ev.event = value;
      else if (field === 'data') ev.data.push(value);
      else continue;
      any = true;
    }
    if (any && ev.data.length > 0) this.events.push({ ...(ev.id !== undefined ? { id: ev.id } : {}), event: ev.event, data: JSON.parse(ev.data.join('\n')) });
  }

  /** Resolves once `predicate` holds over the events received so far; rejects after `timeoutMs`. */
  async until(predicate: (events: SseEvent[]) => boolean, timeoutMs = 5000): Promise<SseEvent[]> {
    await this.received(() => predicate(this.events), timeoutMs);
    return this.events;
  }

  /** Resolves once `predicate` holds over the comment lines received so far; rejects after `timeoutMs`. */
  async untilComment(predicate: (comments: string[]) => boolean, timeoutMs = 5000): Promise<string[]> {
    await this.received(() => predicate(this.comments), timeoutMs);
    return this.comments;
  }

  /** Checks `done` after every chunk the stream delivers, until it holds or the deadline passes. */
  private async received(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`SSE: condition not met in ${timeoutMs}ms; got ${JSON.stringify({ events: this.events, comments: this.comments })}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.controller.abort();
  }
}
