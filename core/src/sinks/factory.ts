import { resolve } from 'node:path';
import type { FabricConfig } from '../config/schema.js';
import { JsonlSink } from './jsonl.js';
import type { Sink, SinkContext } from './sink.js';

/** Build the configured sink. Only the `sink:` section differs between embedded and Kafka runs. */
export async function createSink(config: FabricConfig['sink'], ctx: SinkContext): Promise<Sink> {
  if (config.type === 'jsonl') {
    return new JsonlSink(
      {
        events: config.path ? resolve(ctx.configDir ?? '.', config.path) : resolve(ctx.stateDir, 'events.jsonl'),
        status: config.status_path ? resolve(ctx.configDir ?? '.', config.status_path) : resolve(ctx.stateDir, 'status.jsonl'),
      },
      config.fsync,
      ctx,
    );
  }
  // Loaded lazily so that the embedded default never loads kafkajs.
  const spec = './kafka/index.js';
  const mod = (await import(spec)) as { createKafkaSink(config: unknown, ctx: SinkContext): Sink };
  return mod.createKafkaSink(config, ctx);
}
