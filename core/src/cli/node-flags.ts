import { setFlagsFromString } from 'node:v8';

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

/** Names of the flags in these arguments, with any value and in either spelling. */
const givenFlags = (args: readonly string[]): Set<string> => new Set(args.filter((a) => a.startsWith('--')).map(flagName));

/**
 * V8 flags fabric sets on itself when it starts (`applyRuntimeV8Flags`), because Node refuses them
 * in NODE_OPTIONS: the systemd unit could not carry them, and a process started any other way
 * would run without them. They are V8's, so they hold for every thread of the process (workers
 * started after them: detection, the Kafka producer, plugins), not only the main one.
 *
 * `--heap-growing-percent=100`: a full garbage collection comes once the old generation is twice
 * what survived the previous one. V8's own choice is up to 4× when collecting is cheap, so a fabric
 * holding 100 MB of state (correlation groups, caches) peaked above 400 MB of old-generation heap,
 * most of it garbage waiting for the collector. bench/correlate (1M detections, retained 103 MB,
 * same machine, 2026-12-06): peak RSS 636–649 MB without, 484–488 MB with it, against the Map
 * baseline's 243–249 MB; the stage's throughput within the run-to-run noise (122–128k against
 * 128–136k detections/s). bench/kafka, two pairs alternating with `--heap-growing-percent=0`: sink
 * alone 0.888 / 0.912 of bare kafkajs with it, 0.906 / 0.918 without; end to end 0.590 / 0.563
 * with, 0.463 / 0.563 without; p99 at 10k events/s 168 / 152 ms with, 152 / 212 ms without.
 * Memory a container limit can be sized to, at no cost beyond the run-to-run noise here (the
 * correlation stage's CPU per detection may be ~5% higher); an operator who prefers
 * V8's choice starts node with `--heap-growing-percent=0` (given flags are kept).
 */
export const RUNTIME_V8_FLAGS: readonly string[] = [
  '--heap-growing-percent=100',
  // When marking of the old generation starts: at 80% of its limit (by a task), at 95% at once.
  // V8's own rule starts it once the room left under the limit is smaller than the young
  // generation. In a thread with a small heap (the Kafka producer thread lives on 7–8 MB, its limit
  // 14–46 MB) the room is always smaller than --max-semi-space-size=64's young generation, so V8
  // marked and compacted it over and over: 23–28 mark-compacts per 50,000 events, 8–17 with these
  // flags (`--trace-gc`). bench/kafka, 200,000 events, 2026-12-06, four runs of two rounds each
  // alternating with and without: Kafka sink alone 0.876–1.000 of bare kafkajs with (mean 0.940,
  // 6 of 8 rounds ≥ 0.9), 0.761–1.115 without (mean 0.887, 2 of 8); its CPU per event 42.8–56.3 µs
  // with, 50.6–58.8 without; end to end 0.596–0.665 with, 0.526–0.783 without. The latency at
  // 10k events/s and the event-loop delay did not move beyond the noise (six pairs: p99 158–261 ms
  // with, 149–262 without). bench/correlate (a 100 MB live heap, where V8's rule starts marking at
  // about two thirds of the limit): peak RSS 475–485 MB with, 480–486 without; bench/detect and
  // bench/enrichment within their noise.
  '--incremental-marking-soft-trigger=80',
  '--incremental-marking-hard-trigger=95',
];

/**
 * Set the runtime flags this process was not started with (a flag given with any value is kept);
 * returns those set. Call once, early, before any worker thread starts: V8 reads them for every
 * thread of the process.
 */
export function applyRuntimeV8Flags(execArgv: readonly string[] = process.execArgv): string[] {
  const missing = missingRuntimeV8Flags(execArgv);
  for (const f of missing) setFlagsFromString(f);
  return missing;
}

/** The runtime flags node was not given (any value, either spelling, counts as given). */
export function missingRuntimeV8Flags(execArgv: readonly string[]): string[] {
  const given = givenFlags(execArgv);
  return RUNTIME_V8_FLAGS.filter((f) => !given.has(flagName(f)));
}

/**
 * The recommended flags this process was started without. A flag given with another value counts as
 * given: an operator who chose a size keeps it.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = givenFlags([...execArgv, ...nodeOptions.split(/\s+/)]);
  return NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}
