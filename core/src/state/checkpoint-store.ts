import { readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TSchema } from 'typebox';
import { checkpointSchemaErrors, ErrorCodes, PluginError, type Checkpoint } from '../plugin-api/index.js';
import { HostError, type CheckpointSummary, type FieldError } from '../host.js';
import { FabricError } from '../errors/fabric-error.js';
import { writeFileAtomic } from './atomic.js';

interface StoredCheckpoint {
  value: Checkpoint;
  updatedAt: string;
}

/** A checkpoint file that cannot be read as one; the CLI prints the message on one line, not a stack trace. */
export class CheckpointFileError extends FabricError {
  declare readonly code: 'CHECKPOINT_UNREADABLE';
  constructor(message: string) {
    super('CHECKPOINT_UNREADABLE', message);
  }
}

/** A checkpoint refused by its plugin's `checkpointSchema` (the admin API answers 400 with `fields`). */
export class CheckpointValidationError extends HostError {
  constructor(
    message: string,
    readonly fields: FieldError[],
  ) {
    super('INVALID', message);
  }
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Where `value` does not match the plugin's `checkpointSchema` (see checkpointSchemaErrors). */
export function checkpointErrors(schema: TSchema | undefined, value: Checkpoint | undefined): FieldError[] {
  return checkpointSchemaErrors(schema, value);
}

export function describeFieldErrors(fields: FieldError[]): string {
  return fields.map((f) => `${f.path}: ${f.message}${f.value === undefined ? '' : ` (got ${preview(f.value)})`}`).join('; ');
}

/**
 * Where collectors' positions live: one file per collector on the embedded default
 * (FileCheckpointStore), a compacted Kafka topic written in the batch's own transaction in cluster
 * mode (cluster/checkpoint-store.ts). The commit ledger writes only positions whose events the
 * sink confirmed; the store only keeps them.
 */
export interface CheckpointStore {
  /**
   * Positions are committed by the sink in each batch's own transaction (cluster mode): the commit
   * ledger then only records what was committed and writes nothing itself.
   */
  readonly committedWithBatch?: boolean;
  read(collectorId: string): Promise<CheckpointSummary>;
  write(collectorId: string, value: Checkpoint): Promise<void>;
  reset(collectorId: string): Promise<void>;
  /** Where `collectorId`'s position is kept, for messages an operator acts on (a file, a topic partition). */
  where(collectorId: string): string;
  /** What to do when a write failed: named in the collector's error. */
  writeFailureFix(collectorId: string, err: Error): string;
  /** Refuse a stored position the plugin's `checkpointSchema` does not accept (see assertCheckpointValid). */
  assertValid(collectorId: string, schema: TSchema | undefined, value: Checkpoint | undefined): void;
}

/**
 * Refuse a position that does not match the plugin's `checkpointSchema`: a BAD_CONFIG naming the
 * collector, where the position is kept, the field and the way out. The collector then does not
 * poll, so a wrong shape can never silently re-read or skip the source.
 */
export function assertCheckpointValid(where: string, collectorId: string, schema: TSchema | undefined, value: Checkpoint | undefined): void {
  const fields = checkpointErrors(schema, value);
  if (fields.length === 0) return;
  throw new PluginError(
    ErrorCodes.BAD_CONFIG,
    `collector "${collectorId}": the stored checkpoint (${where}) does not match the plugin's checkpoint schema: ${describeFieldErrors(fields)}. ` +
      `Stop the collector (fabric collector stop ${collectorId}), then reset it (DELETE /collectors/${collectorId}/checkpoint; it is read again from its configured start) or PUT a correct value, and start it again`,
    { retriable: false },
  );
}

/**
 * One file per collector under `<state_dir>/checkpoints/`. Written atomically, and only for
 * positions whose events the sink has confirmed (the pipeline guarantees the ordering).
 */
export class FileCheckpointStore implements CheckpointStore {
  private readonly dir: string;
  /** Serialises writes per collector so an older position never overwrites a newer one. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'checkpoints');
  }

  /** The file holding `collectorId`'s checkpoint (named in errors so operators can find it). */
  fileOf(collectorId: string): string {
    return join(this.dir, `${encodeURIComponent(collectorId)}.json`);
  }

  async read(collectorId: string): Promise<CheckpointSummary> {
    const file = this.fileOf(collectorId);
    const fix = `stop fabric and delete it to read collector "${collectorId}" from its configured start again, or restore a backup`;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { value: undefined };
      throw new CheckpointFileError(`checkpoint file ${file} cannot be read (${code ?? (err as Error).message}); check its permissions, or ${fix}`);
    }
    let stored: unknown;
    try {
      stored = JSON.parse(text);
    } catch (err) {
      throw new CheckpointFileError(`checkpoint file ${file} is not valid JSON (${(err as Error).message}); ${fix}`);
    }
    if (stored === null || typeof stored !== 'object' || Array.isArray(stored) || !Object.hasOwn(stored, 'value')) {
      throw new CheckpointFileError(`checkpoint file ${file} is not a checkpoint (expected {"value": …, "updatedAt": …}, got ${preview(stored)}); ${fix}`);
    }
    const { value, updatedAt } = stored as StoredCheckpoint;
    return { value, ...(typeof updatedAt === 'string' ? { updatedAt } : {}) };
  }

  where(collectorId: string): string {
    return this.fileOf(collectorId);
  }

  writeFailureFix(collectorId: string): string {
    return `free space or fix permissions on ${dirname(this.fileOf(collectorId))}`;
  }

  assertValid(collectorId: string, schema: TSchema | undefined, value: Checkpoint | undefined): void {
    assertCheckpointValid(this.fileOf(collectorId), collectorId, schema, value);
  }

  write(collectorId: string, value: Checkpoint): Promise<void> {
    const body: StoredCheckpoint = { value, updatedAt: new Date().toISOString() };
    return this.enqueue(collectorId, () => writeFileAtomic(this.fileOf(collectorId), JSON.stringify(body)));
  }

  reset(collectorId: string): Promise<void> {
    return this.enqueue(collectorId, () =>
      unlink(this.fileOf(collectorId)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    );
  }

  private enqueue(collectorId: string, op: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(collectorId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(op);
    this.chains.set(collectorId, next);
    return next;
  }
}
