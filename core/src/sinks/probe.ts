import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FabricConfig } from '../config/schema.js';
import type { SinkContext } from './sink.js';

/**
 * Does the configured sink answer, without writing an event? JSON lines: the folders of its files
 * are writable (or can be created). Kafka: the cluster accepts a connection and returns metadata.
 * Resolves with a short note; rejects with the reason. Nothing is started or left open.
 */
export async function probeSink(config: FabricConfig['sink'], ctx: Pick<SinkContext, 'logger' | 'configDir' | 'stateDir'>, signal: AbortSignal): Promise<string> {
  if (config.type === 'jsonl') {
    const events = config.path ? resolve(ctx.configDir ?? '.', config.path) : resolve(ctx.stateDir, 'events.jsonl');
    await writableFolder(dirname(events));
    return `${events} is writable`;
  }
  // Loaded lazily, like the sink itself: a JSON-lines setup never loads kafkajs.
  const probeSpec = './kafka/probe.js';
  const indexSpec = './kafka/index.js';
  const { probeKafka } = (await import(probeSpec)) as typeof import('./kafka/probe.js');
  const { resolveKafkaSinkConfig } = (await import(indexSpec)) as typeof import('./kafka/index.js');
  return probeKafka(resolveKafkaSinkConfig(config), ctx, signal);
}

/** The folder, or the nearest existing one above it (the sink creates the rest), accepts new files. */
async function writableFolder(folder: string): Promise<void> {
  for (let dir = folder; ; dir = dirname(dir)) {
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (st) {
      if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
      await access(dir, constants.W_OK | constants.X_OK).catch(() => {
        throw new Error(`${dir} is not writable by this user`);
      });
      return;
    }
    if (dirname(dir) === dir) throw new Error(`no existing folder above ${folder}`);
  }
}
