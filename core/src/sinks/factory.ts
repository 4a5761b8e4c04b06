import { resolve } from 'node:path';
import type { FabricConfig } from '../config/schema.js';
import { JsonlSink } from './jsonl.js';
import type { Sink, SinkContext } from './sink.js';
import type { DeadLetterRecord, DeadLetterTarget } from './dead-letter.js';
import { JsonlDeadLetterTarget } from './dead-letter-jsonl.js';

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

/**
 * Where dead letters go: the Kafka sink's dead-letter topic when the sink has one, else a JSONL
 * file (`dead_letter.path`, default `<state_dir>/dead-letters.jsonl`). None when disabled.
 */
export function createDeadLetterTarget(
  config: FabricConfig['dead_letter'],
  sinkConfig: FabricConfig['sink'],
  sink: Sink,
  ctx: Pick<SinkContext, 'stateDir' | 'configDir'>,
): DeadLetterTarget | undefined {
  if (!config.enabled) return undefined;
  const kafka = sink as Sink & { writeDeadLetters?: (records: readonly DeadLetterRecord[]) => Promise<void> };
  if (typeof kafka.writeDeadLetters === 'function') {
    return {
      type: 'kafka',
      location: `topic ${sinkConfig.type === 'kafka' ? sinkConfig.topics.dead_letter : 'dead_letter'}`,
      // The sink is started and closed by the orchestrator; records ride on its producer.
      start: async () => undefined,
      write: (records) => kafka.writeDeadLetters!(records),
      close: async () => undefined,
    };
  }
  const path = config.path ? resolve(ctx.configDir ?? '.', config.path) : resolve(ctx.stateDir, 'dead-letters.jsonl');
  return new JsonlDeadLetterTarget(path, sinkConfig.type === 'jsonl' ? sinkConfig.fsync : true);
}
