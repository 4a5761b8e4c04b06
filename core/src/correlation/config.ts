import Type from 'typebox';
import type { Static } from 'typebox';
import { spanLimit } from '../plugin-api/schema.js';

/** `correlation:` section. Owned by the correlation stage (issue 9). */
export const CorrelationConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Correlate detections into alerts with Sigma correlation rules.' }),
    builtin_rules: Type.Boolean({
      default: true,
      description: 'Load the built-in correlation rules (brute force, password spraying, brute force then success, scanning then exploitation).',
    }),
    rules: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Extra Sigma correlation rule files or folders (.yml/.yaml, searched recursively). Relative to the config file.',
    }),
    disabled: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Correlation rules to skip, by id or name (built-in or your own).',
    }),
    allowed_lateness_seconds: Type.Number({
      ...spanLimit('seconds'),
      minimum: 0,
      default: 60,
      description: 'How far behind the newest @timestamp of its own collector a detection may arrive and still be correlated; older ones are counted as late and not correlated.',
    }),
    idle_collector_seconds: Type.Number({
      ...spanLimit('seconds'),
      minimum: 0,
      default: 300,
      description: "Windows close on the slowest collector's event time; a collector that sent no detection for this long (wall clock) stops holding them open.",
    }),
    max_clock_skew_seconds: Type.Number({
      ...spanLimit('seconds'),
      minimum: 0,
      default: 300,
      description:
        'Detections stamped further than this in the future (wall clock) are not correlated, so one bad clock cannot push the watermark ahead and make every other detection late.',
    }),
    max_keys: Type.Integer({
      minimum: 1,
      default: 100000,
      description:
        'Open groups (distinct group-by values) kept in memory per correlation rule; past it the least recently used group of that rule is evicted (fabric_correlation_evicted_keys_total).',
    }),
    max_events_per_key: Type.Integer({
      minimum: 1,
      default: 10000,
      description: 'Detections remembered per group; past it the oldest are dropped (fabric_correlation_dropped_members_total).',
    }),
    max_members_in_alert: Type.Integer({
      minimum: 1,
      default: 500,
      description: 'Member detection ids listed in one alert; the total is always in fabric.correlation.count.',
    }),
    state_file: Type.String({
      minLength: 1,
      default: 'correlation-state.json',
      description: 'Checkpoint of open windows and fired alerts, relative to state_dir.',
    }),
    checkpoint_interval_seconds: Type.Number({
      ...spanLimit('seconds'),
      minimum: 0,
      default: 5,
      description:
        'Write the checkpoint at most this often (0 = after every acknowledged batch). A crash loses at most this much correlation state; a clean stop always writes it.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export type CorrelationConfig = Static<typeof CorrelationConfigSchema>;
