import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DeadLetterRecord, DeadLetterTarget } from './dead-letter.js';
import { settleWithin } from '../async/time.js';

/**
 * Dead letters as JSON lines (default `<state_dir>/dead-letters.jsonl`), appended and fsynced
 * before `write` resolves, so a refused event is on disk before the checkpoint moves past it.
 * Writes are serialised; a failed write rejects (the queue logs and counts it) instead of
 * retrying forever, because dead letters must never hold the valid events of a batch back.
 */
export class JsonlDeadLetterTarget implements DeadLetterTarget {
  readonly type = 'jsonl';
  private fh?: FileHandle;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly location: string,
    private readonly fsync = true,
  ) {}

  async start(): Promise<void> {
    await mkdir(dirname(this.location), { recursive: true });
    this.fh = await open(this.location, 'a');
  }

  write(records: readonly DeadLetterRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    // Records hold only strings, numbers and booleans: JSON.stringify cannot throw on them.
    const data = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const run = async () => {
      const fh = this.fh;
      if (!fh) throw new Error(`dead-letter file ${this.location} is not open (sink not started or already closed)`);
      await fh.appendFile(data);
      if (this.fsync) await fh.datasync();
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  async close(deadlineMs: number): Promise<void> {
    await settleWithin(this.chain, deadlineMs);
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
