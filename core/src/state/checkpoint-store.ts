import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '../plugin-api/index.js';
import type { CheckpointSummary } from '../host.js';
import { writeFileAtomic } from './atomic.js';

interface StoredCheckpoint {
  value: Checkpoint;
  updatedAt: string;
}

/**
 * One file per collector under `<state_dir>/checkpoints/`. Written atomically, and only for
 * positions whose events the sink has confirmed (the pipeline guarantees the ordering).
 */
export class CheckpointStore {
  private readonly dir: string;
  /** Serialises writes per collector so an older position never overwrites a newer one. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'checkpoints');
  }

  private file(collectorId: string): string {
    return join(this.dir, `${encodeURIComponent(collectorId)}.json`);
  }

  async read(collectorId: string): Promise<CheckpointSummary> {
    try {
      const stored = JSON.parse(await readFile(this.file(collectorId), 'utf8')) as StoredCheckpoint;
      return { value: stored.value, updatedAt: stored.updatedAt };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { value: undefined };
      throw new Error(`checkpoint file ${this.file(collectorId)} is unreadable (${(err as Error).message}); delete it to start the collector from scratch`);
    }
  }

  write(collectorId: string, value: Checkpoint): Promise<void> {
    const body: StoredCheckpoint = { value, updatedAt: new Date().toISOString() };
    return this.enqueue(collectorId, () => writeFileAtomic(this.file(collectorId), JSON.stringify(body)));
  }

  reset(collectorId: string): Promise<void> {
    return this.enqueue(collectorId, () => unlink(this.file(collectorId)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    }));
  }

  private enqueue(collectorId: string, op: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(collectorId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(op);
    this.chains.set(collectorId, next);
    return next;
  }
}
