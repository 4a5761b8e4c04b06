import type { Sink, SinkContext } from '../sink.js';
import { validateAgainstSchema } from '../../config/validate.js';
import { KafkaSinkConfigSchema, type KafkaSinkConfig } from './config.js';
import { KafkaSink } from './sink.js';

export { KafkaSinkConfigSchema, type KafkaSinkConfig } from './config.js';
export { KafkaSink } from './sink.js';
export { KafkaSinkClosedError, KafkaSinkSetupError } from './errors.js';
export { HEADERS as KAFKA_HEADERS } from './messages.js';

/**
 * `config` is the `sink:` section as the config loader produces it. It is checked again here, which
 * costs nothing and keeps a hand-built config from failing later on a missing default.
 */
export function createKafkaSink(config: KafkaSinkConfig, ctx: SinkContext): Sink {
  return new KafkaSink(resolveKafkaSinkConfig(config), ctx);
}

/**
 * Validate a raw `sink:` section and apply its defaults, for callers that build one in code
 * (tests, benchmarks, embedding). Errors name the field and the value (secrets withheld).
 */
export function resolveKafkaSinkConfig(raw: unknown): KafkaSinkConfig {
  const { value, errors } = validateAgainstSchema(KafkaSinkConfigSchema, raw);
  if (errors.length > 0) {
    const lines = errors.map((e) => `  sink${e.path}: ${e.message}${'value' in e ? ` (got ${JSON.stringify(e.value)})` : ''}`);
    throw new Error(`invalid Kafka sink config:\n${lines.join('\n')}`);
  }
  return value as KafkaSinkConfig;
}
