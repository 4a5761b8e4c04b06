/**
 * The V8 flags `fabric` runs with, in one place: the bin's shebang (`env -S`), the systemd unit's
 * NODE_OPTIONS and the quickstart carry the same list (core/test/cli-node-flags.test.ts checks).
 *
 * Why: V8's default young generation (16 MB semi-spaces on 64-bit) is small for a pipeline that
 * allocates each event, its JSON and its Kafka buffers per batch — a batch in flight outlives a
 * scavenge, gets copied and promoted, and the collector took 20% of the main thread in
 * bench/kafka's profile. With 64 MB semi-spaces (bench/kafka, 100,000 events, same machine,
 * minutes apart): end to end 8,085 → 9,446 events/s, the Kafka sink alone 0.61 → 0.82 of bare
 * kafkajs, event-loop delay p99 109 → 32 ms and source → ack p99 2,680 → 322 ms at a paced
 * 10,000 events/s. The cost is memory: up to ~100 MB more RSS when the young generation is full
 * (bench/detect: peak RSS 276 → 356 MB for the engine loop). Node 24's V8 already sizes its
 * semi-spaces so (128 MB of new space); Node 20 and 22 stop at 16 MB without the flag.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** A flag's name as V8 reads it: `--max_semi_space_size` and `--max-semi-space-size` are one flag. */
const flagName = (arg: string): string => arg.split('=')[0]!.replaceAll('_', '-');

/**
 * The recommended flags this process was started without. A flag given with another value counts as
 * given: an operator who chose a size keeps it.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}
