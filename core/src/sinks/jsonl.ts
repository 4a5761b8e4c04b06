import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Static } from 'typebox';
import type { FabricEvent } from '../plugin-api/index.js';
import type { JsonlSinkConfigSchema } from './jsonl-config.js';
import type { CollectorStatusEvent, Sink, SinkContext, SinkHealth } from './sink.js';

export type JsonlSinkConfig = Static<typeof JsonlSinkConfigSchema>;

/**
 * The embedded default sink: one JSON event per line, appended and fsynced before `write`
 * resolves, so a checkpoint is never committed ahead of the file.
 */
export class JsonlSink implements Sink {
  readonly type = 'jsonl';
  private events?: FileHandle;
  private status?: FileHandle;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private lastError: string | undefined;
  private closed = false;

  constructor(
    private readonly paths: { events: string; status: string },
    private readonly fsync: boolean,
    private readonly ctx: Pick<SinkContext, 'logger'>,
  ) {}

  async start(): Promise<void> {
    await mkdir(dirname(this.paths.events), { recursive: true });
    await mkdir(dirname(this.paths.status), { recursive: true });
    this.events = await open(this.paths.events, 'a');
    this.status = await open(this.paths.status, 'a');
  }

  write(events: readonly FabricEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const data = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    return this.append(() => this.events, data, events.length);
  }

  writeStatus(status: CollectorStatusEvent): Promise<void> {
    return this.append(() => this.status, JSON.stringify(status) + '\n', 0);
  }

  private append(handle: () => FileHandle | undefined, data: string, count: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('jsonl sink is closed'));
    this.pending += count;
    const run = async () => {
      // Disk full or a vanished folder: keep retrying (the batch stays pending, sources see
      // backpressure) rather than drop what was accepted.
      for (let attempt = 0; ; attempt++) {
        try {
          const fh = handle();
          if (!fh) throw new Error('jsonl sink not started');
          await fh.appendFile(data);
          if (this.fsync) await fh.datasync();
          this.lastError = undefined;
          return;
        } catch (err) {
          if (this.closed) throw err;
          this.lastError = (err as Error).message;
          this.ctx.logger.error({ err: (err as Error).message, path: this.paths.events }, 'jsonl sink write failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
        }
      }
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p.finally(() => {
      this.pending -= count;
    });
  }

  health(): SinkHealth {
    return { state: this.lastError ? 'degraded' : 'ok', reason: this.lastError, pending: this.pending };
  }

  async close(deadlineMs: number): Promise<void> {
    await Promise.race([this.chain, new Promise((r) => setTimeout(r, deadlineMs).unref())]);
    this.closed = true;
    await this.events?.close().catch(() => undefined);
    await this.status?.close().catch(() => undefined);
  }
}
