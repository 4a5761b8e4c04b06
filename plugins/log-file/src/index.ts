import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkpointSchemaErrors, definePlugin, ErrorCodes, PluginError, Type, type Checkpoint, type HealthReport, type SourceEvent } from '@reactive-fabric/core';
import { lineToEvent } from './events.js';
import { syslogZone } from './syslog.js';
import { expand, nextGeneration, openChecked, siblings, type OpenedFile, type Problem, type Target } from './files.js';
import { fingerprint, readLines } from './reader.js';
import { LogFileCheckpointSchema, type FilePosition, type LogFileCheckpoint } from './checkpoint.js';

export { LogFileCheckpointSchema } from './checkpoint.js';
export type { FilePosition, LogFileCheckpoint } from './checkpoint.js';

const ConfigSchema = Type.Object(
  {
    paths: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Files to read. A * in the file name matches several files. Relative paths resolve against base_dir.',
    }),
    base_dir: Type.Optional(Type.String({ description: "Folder relative paths resolve against (default: the config file's folder)." })),
    format: Type.Union([Type.Literal('auto'), Type.Literal('syslog'), Type.Literal('json'), Type.Literal('access'), Type.Literal('plain')], {
      default: 'auto',
      description: 'auto: JSON lines when a line starts with "{", else syslog, else web access log (common/combined), else plain (timestamped at ingest).',
    }),
    start_at: Type.Union([Type.Literal('beginning'), Type.Literal('end')], { default: 'beginning', description: 'Where to start in a file seen for the first time.' }),
    max_line_bytes: Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024, default: 65536, description: 'Longer lines are cut and flagged log.flags: ["truncated"].' }),
    syslog_year: Type.Optional(Type.Integer({ minimum: 1970, maximum: 9999, description: 'Year for BSD syslog lines (they carry none). Default: the current year.' })),
    syslog_timezone: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'IANA time zone BSD syslog lines were written in (they carry none), e.g. "Europe/Berlin" or "UTC". Default: the host\'s zone (TZ, else /etc/localtime).',
      }),
    ),
    follow_symlinks: Type.Boolean({
      default: false,
      description:
        'Read symlinks that resolve outside the folder of their pattern (e.g. logs/x -> /etc/shadow). Off by default: whoever can write into a log folder must not be able to publish any file the collector can read.',
    }),
  },
  { additionalProperties: false },
);

/**
 * The stored checkpoint, checked (the host checks it at start too; a host that does not must still
 * not make us re-read every file from the start) and copied.
 */
function asCheckpoint(raw: Checkpoint | undefined, collectorId: string): LogFileCheckpoint {
  if (raw === undefined) return { files: {} };
  const bad = checkpointSchemaErrors(LogFileCheckpointSchema, raw);
  if (bad.length > 0) {
    throw new PluginError(
      ErrorCodes.BAD_CONFIG,
      `collector "${collectorId}": checkpoint is not a log-file position {files: {<path>: {dev, ino, offset, fp?}}}: ${bad.map((b) => `${b.path}: ${b.message}`).join('; ')}; reset it (DELETE /collectors/${collectorId}/checkpoint) to read the files from start_at again`,
      { retriable: false },
    );
  }
  // fromEntries defines keys (a stored "__proto__" stays a plain key); we only ever assign absolute paths.
  return { files: Object.fromEntries(Object.entries(structuredClone((raw as unknown as LogFileCheckpoint).files))) };
}

/** How many problems healthCheck() spells out; the rest are counted. */
const HEALTH_DETAIL = 5;

/** Most new problems one poll logs one by one; a folder of 100,000 FIFOs gets a summary line, not a flood. */
const LOG_DETAIL = 20;

/** File names are attacker-chosen: control characters (newlines, ANSI escapes) are shown escaped. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function describeProblems(problems: readonly Problem[]): string {
  const shown = problems.slice(0, HEALTH_DETAIL).map((p) => printable(`${p.path} ${p.reason} (${p.hint})`));
  const more = problems.length > HEALTH_DETAIL ? `; and ${problems.length - HEALTH_DETAIL} more (see the log)` : '';
  return `${problems.length} configured path(s) not read: ${shown.join('; ')}${more}`;
}

export default definePlugin({
  name: '@reactive-fabric/plugin-log-file',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.1.0',
  description: 'Reads local log files (syslog/auth.log lines and JSON lines), follows appends and rotation',
  configSchema: ConfigSchema,
  checkpointSchema: LogFileCheckpointSchema,
  // It reads this host's files: in a cluster its collectors belong pinned to the instance on this host.
  locality: 'host',
  create(config, ctx) {
    const base = resolve(ctx.configDir ?? process.cwd(), config.base_dir ?? '.');
    const patterns = config.paths.map((p) => resolve(base, p));
    const follow = config.follow_symlinks === true;
    const zone = syslogZone(config.syslog_timezone);
    if (!zone) {
      throw new PluginError(
        ErrorCodes.BAD_CONFIG,
        `collector "${ctx.collectorId}": config.syslog_timezone ${JSON.stringify((config.syslog_timezone ?? '').slice(0, 80))} is not an IANA time zone name; use one such as "Europe/Berlin", "America/New_York" or "UTC", or leave it out for the host's zone`,
        { retriable: false },
      );
    }
    /** Problems of the last poll (undefined before the first): what healthCheck() reports. */
    let lastProblems: Problem[] | undefined;
    /** Problems already logged, so a missing file warns once, not on every poll. */
    let logged = new Set<string>();

    function report(problems: Problem[]): void {
      const now = new Set<string>();
      let fresh = 0;
      for (const p of problems) {
        const key = `${p.path}\u0000${p.reason}`;
        now.add(key);
        if (logged.has(key)) continue;
        if (++fresh <= LOG_DETAIL) ctx.logger.warn({ path: p.path, reason: p.reason, hint: p.hint }, printable(`log file ${p.path} ${p.reason}: ${p.hint}`));
      }
      if (fresh > LOG_DETAIL)
        ctx.logger.warn({ more: fresh - LOG_DETAIL }, `${fresh - LOG_DETAIL} more log file paths cannot be read (healthCheck lists the first ${HEALTH_DETAIL})`);
      let recovered = 0;
      for (const key of logged) {
        if (now.has(key) || ++recovered > LOG_DETAIL) continue;
        const path = key.split('\u0000')[0]!;
        ctx.logger.info({ path }, printable(`log file ${path} is readable again`));
      }
      logged = now;
      lastProblems = problems;
    }

    /** After rename rotation the old inode lives on under another name (auth.log.1): find it. */
    async function findRotated(t: Target, pos: FilePosition): Promise<(OpenedFile & { path: string }) | undefined> {
      for (const path of await siblings(t.path)) {
        const s = await stat(path).catch(() => undefined);
        if (!s || s.ino !== pos.ino || s.dev !== pos.dev) continue;
        const opened = await openChecked({ path, base: t.base, fromGlob: true }, follow, []);
        if (opened && opened.st.ino === pos.ino && opened.st.dev === pos.dev) return { ...opened, path };
        await opened?.fh.close();
      }
      return undefined;
    }

    /**
     * After copytruncate the lines between our offset and the truncation live only in the copy
     * (auth.log.1, another inode): the sibling whose bytes up to our offset carry our fingerprint.
     */
    async function findCopy(t: Target, pos: FilePosition, live: OpenedFile): Promise<OpenedFile | undefined> {
      if (!pos.fp) return undefined;
      for (const path of await siblings(t.path)) {
        const s = await stat(path).catch(() => undefined);
        if (!s || !s.isFile() || s.size < pos.offset || (s.ino === live.st.ino && s.dev === live.st.dev)) continue;
        const opened = await openChecked({ path, base: t.base, fromGlob: true }, follow, []);
        if (!opened) continue;
        if ((await fingerprint(opened.fh, pos.offset)) === pos.fp) return opened;
        await opened.fh.close();
      }
      return undefined;
    }

    return {
      describe: () => ({ backend: 'file', target: config.paths.join(', '), format: config.format, follow_symlinks: follow }),

      async healthCheck(): Promise<HealthReport> {
        let problems = lastProblems;
        if (!problems) {
          // Not polled yet: look at the paths without reading them.
          problems = [];
          for (const t of await expand(patterns, problems)) await (await openChecked(t, follow, problems))?.fh.close();
        }
        return problems.length === 0 ? { status: 'healthy' } : { status: 'degraded', code: ErrorCodes.UNAVAILABLE, reason: describeProblems(problems) };
      },

      async poll({ checkpoint, signal, maxEvents }) {
        const cp = asCheckpoint(checkpoint, ctx.collectorId);
        const events: SourceEvent[] = [];
        const problems: Problem[] = [];
        let hasMore = false;
        const emit = (lines: Awaited<ReturnType<typeof readLines>>['lines'], path: string, pos: FilePosition) => {
          for (const l of lines)
            events.push(lineToEvent(l.text, { path, dev: pos.dev, ino: pos.ino, offset: l.offset }, config.format, { year: config.syslog_year, zone, truncated: l.truncated }));
        };
        for (const target of await expand(patterns, problems)) {
          if (signal.aborted) throw new PluginError(ErrorCodes.ABORTED, 'poll aborted');
          if (events.length >= maxEvents) {
            hasMore = true;
            break;
          }
          const live = await openChecked(target, follow, problems);
          if (!live) continue;
          const { path } = target;
          try {
            const st = live.st;
            let pos = cp.files[path];
            if (!pos) {
              const offset = config.start_at === 'end' ? st.size : 0;
              pos = cp.files[path] = { dev: st.dev, ino: st.ino, offset };
              const fp = await fingerprint(live.fh, offset);
              if (fp) pos.fp = fp;
            }

            if (pos.ino === st.ino && pos.dev === st.dev && pos.offset > 0) {
              // Truncated in place (copytruncate): shorter than our offset, or — refilled past it
              // before this poll — no longer the bytes we read up to it.
              const truncated = st.size < pos.offset || (pos.fp !== undefined && (await fingerprint(live.fh, pos.offset)) !== pos.fp);
              if (truncated) {
                const copy = await findCopy(target, pos, live);
                if (copy) {
                  // Finish the copy first, through the rotation branch below (it finds it by inode).
                  await copy.fh.close();
                  pos = cp.files[path] = { dev: copy.st.dev, ino: copy.st.ino, offset: pos.offset, ...(pos.fp ? { fp: pos.fp } : {}) };
                } else {
                  pos = cp.files[path] = { dev: st.dev, ino: st.ino, offset: 0 };
                }
                ctx.logger.info(
                  { path, copy: Boolean(copy) },
                  `log file ${path} was truncated in place; reading it again from the start${copy ? ' after the rest of its rotated copy' : ''}`,
                );
              }
            }

            if (pos.ino === st.ino && pos.dev === st.dev && pos.offset === 0 && pos.m !== undefined && st.size > 0) {
              // Empty at the last poll, so no fingerprint: a generation rotated out since then
              // means it was copied and truncated meanwhile; its lines come before the live ones.
              const gen = await nextGeneration(target, { mtimeMs: pos.m }, st, follow);
              if (gen) {
                await gen.fh.close();
                pos = cp.files[path] = { dev: gen.st.dev, ino: gen.st.ino, offset: 0 };
                ctx.logger.info({ path, generation: gen.path }, `log file ${path} was rotated while empty; reading ${gen.path} first`);
              }
            }

            if (pos.ino !== st.ino || pos.dev !== st.dev) {
              // Finish the rotated file, then every generation rotated out after it (the file
              // may have been rotated more than once since the last poll), then the live file.
              let old = await findRotated(target, pos);
              let pending = false;
              while (old) {
                let next: Awaited<ReturnType<typeof nextGeneration>>;
                try {
                  if (events.length >= maxEvents) {
                    pending = true;
                    break;
                  }
                  const r = await readLines(old.fh, pos.offset, maxEvents - events.length, config.max_line_bytes, true);
                  emit(r.lines, old.path, pos);
                  pos.offset = r.offset;
                  delete pos.fp; // it described the old offset; a rotated file is only finished, never re-checked
                  if (r.more || pos.offset < (await old.fh.stat()).size) {
                    pending = true;
                    break;
                  }
                  next = await nextGeneration(target, { path: old.path, st: await old.fh.stat() }, st, follow);
                } finally {
                  await old.fh.close();
                }
                if (next) pos = cp.files[path] = { dev: next.st.dev, ino: next.st.ino, offset: 0 };
                old = next;
              }
              if (pending) {
                hasMore = true;
                continue;
              }
              pos = cp.files[path] = { dev: st.dev, ino: st.ino, offset: 0 };
            }
            if (pos.offset < st.size && events.length < maxEvents) {
              const r = await readLines(live.fh, pos.offset, maxEvents - events.length, config.max_line_bytes, false);
              emit(r.lines, path, pos);
              if (r.offset !== pos.offset || !pos.fp) {
                pos.offset = r.offset;
                const fp = await fingerprint(live.fh, pos.offset);
                if (fp) pos.fp = fp;
                else delete pos.fp;
              }
              if (r.more) hasMore = true;
            } else if (pos.offset < st.size) {
              hasMore = true;
            }
            if (pos.offset === 0) pos.m = st.mtimeMs;
            else delete pos.m;
          } catch (err) {
            if (err instanceof PluginError) throw err;
            // One file failing mid-read (EIO, a vanished mount) must not stop the others.
            problems.push({
              path,
              reason: `could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
              hint: 'check the file and the disk; it is retried on the next poll',
            });
          } finally {
            await live.fh.close().catch(() => undefined);
          }
        }
        report(problems);
        return { events, checkpoint: cp as unknown as Checkpoint, hasMore };
      },
    };
  },
});
