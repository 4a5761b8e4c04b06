import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCodes, PluginError, Type, definePlugin } from '@reactive-fabric/core';
import type { Checkpoint, PollRequest, PollResult, SourceEvent, Static } from '@reactive-fabric/core';
import { headOf, readLines } from './log-reader.js';
import type { LogPosition } from './log-reader.js';
import { CowrieLineError, parseLine, toEcs } from './mapping.js';

export { toEcs, parseLine } from './mapping.js';
export { techniquesForCommand, threatFor } from './attack.js';

export const configSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: "Cowrie's JSON log (output_jsonlog), e.g. /home/cowrie/cowrie/var/log/cowrie/cowrie.json" }),
    start_at: Type.Union([Type.Literal('beginning'), Type.Literal('end')], {
      default: 'beginning',
      description: 'Where a collector without a checkpoint starts: the whole file, or only what is written from now on.',
    }),
    sensor: Type.Optional(Type.String({ minLength: 1, description: "observer.name for every event; default: Cowrie's own sensor field" })),
    keep_original: Type.Boolean({ default: false, description: 'Copy each raw log line into event.original.' }),
  },
  { additionalProperties: false },
);

export type CowrieConfig = Static<typeof configSchema>;

function isPosition(c: Checkpoint | undefined): c is LogPosition & Checkpoint {
  return (
    typeof c === 'object' &&
    c !== null &&
    !Array.isArray(c) &&
    typeof c.ino === 'number' &&
    typeof c.offset === 'number' &&
    c.offset >= 0 &&
    (c.head === undefined || typeof c.head === 'string')
  );
}

export default definePlugin({
  name: 'reactive-fabric-plugin-cowrie',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  description: 'Cowrie SSH/Telnet honeypot JSON log: login attempts, commands, downloads as ECS events with ATT&CK techniques',
  configSchema,
  create(config, context) {
    const path = resolve(config.path);
    return {
      describe: () => ({ backend: 'cowrie', target: path, start_at: config.start_at }),

      async healthCheck() {
        try {
          const info = await stat(path);
          return info.isFile() ? { status: 'healthy' as const } : { status: 'unhealthy' as const, reason: `${path} is not a file`, code: ErrorCodes.BAD_CONFIG };
        } catch {
          return { status: 'degraded' as const, reason: `${path} does not exist yet`, code: ErrorCodes.UNAVAILABLE };
        }
      },

      async poll({ checkpoint, signal, maxEvents }: PollRequest): Promise<PollResult> {
        if (signal.aborted) throw new PluginError(ErrorCodes.ABORTED, 'poll aborted before it started', { cause: signal.reason });
        if (checkpoint !== undefined && checkpoint !== null && !isPosition(checkpoint)) {
          throw new PluginError(
            ErrorCodes.BAD_CONFIG,
            `checkpoint ${JSON.stringify(checkpoint).slice(0, 100)} is not a Cowrie log position { ino, offset }: reset the collector's checkpoint`,
          );
        }
        const from: LogPosition | undefined = isPosition(checkpoint) ? checkpoint : undefined;
        if (from === undefined && config.start_at === 'end') {
          // First run with start_at: end — remember where the file ends now and emit nothing.
          const info = await stat(path).catch(() => undefined);
          if (info) return { events: [], checkpoint: { ino: info.ino, offset: info.size, head: await headOf(path, info.size) } };
        }
        const read = await readLines(path, from, maxEvents, signal);
        const events: SourceEvent[] = [];
        let skipped = 0;
        for (const line of read.lines) {
          try {
            const record = parseLine(line.text);
            events.push(toEcs(record, { ...(config.sensor ? { sensor: config.sensor } : {}), ...(config.keep_original ? { original: line.text } : {}) }));
          } catch (err) {
            if (!(err instanceof CowrieLineError)) throw err;
            skipped++;
            if (skipped <= 5) context.logger.warn({ path, offset: line.offset, problem: err.message }, 'skipped a Cowrie log line');
          }
        }
        if (skipped > 5) context.logger.warn({ path, skipped }, 'skipped Cowrie log lines that were not Cowrie JSON events');
        for (const offset of read.oversized) context.logger.warn({ path, offset }, 'skipped a line longer than 1 MiB');
        const { ino, offset, head } = read.position;
        return { events, checkpoint: { ino, offset, ...(head ? { head } : {}) }, hasMore: read.hasMore };
      },
    };
  },
});
