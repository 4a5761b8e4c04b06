import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { definePlugin, ErrorCodes, PluginError, Type, type Checkpoint, type SourceEvent } from '@reactive-fabric/core';
import { lineToEvent } from './events.js';
import { readLines } from './reader.js';

const ConfigSchema = Type.Object(
  {
    paths: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Files to read. A * in the file name matches several files. Relative paths resolve against base_dir.' }),
    base_dir: Type.Optional(Type.String({ description: 'Folder relative paths resolve against (default: the config file\'s folder).' })),
    format: Type.Union([Type.Literal('auto'), Type.Literal('syslog'), Type.Literal('json'), Type.Literal('access'), Type.Literal('plain')], {
      default: 'auto',
      description: 'auto: JSON lines when a line starts with "{", else syslog, else web access log (common/combined), else plain (timestamped at ingest).',
    }),
    start_at: Type.Union([Type.Literal('beginning'), Type.Literal('end')], { default: 'beginning', description: 'Where to start in a file seen for the first time.' }),
    max_line_bytes: Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024, default: 65536, description: 'Longer lines are cut and flagged log.flags: ["truncated"].' }),
    syslog_year: Type.Optional(Type.Integer({ minimum: 1970, maximum: 9999, description: 'Year for BSD syslog lines (they carry none). Default: the current year.' })),
  },
  { additionalProperties: false },
);

/** Per file: which inode we were reading and how far. Inode + device detect rotation. */
interface FilePosition {
  dev: number;
  ino: number;
  offset: number;
}
interface LogFileCheckpoint {
  files: Record<string, FilePosition>;
}

function asCheckpoint(raw: Checkpoint | undefined): LogFileCheckpoint {
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && raw.files && typeof raw.files === 'object') return structuredClone(raw) as unknown as LogFileCheckpoint;
  return { files: {} };
}

export default definePlugin({
  name: '@reactive-fabric/plugin-log-file',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  description: 'Reads local log files (syslog/auth.log lines and JSON lines), follows appends and rotation',
  configSchema: ConfigSchema,
  create(config, ctx) {
    const base = resolve(ctx.configDir ?? process.cwd(), config.base_dir ?? '.');
    const patterns = config.paths.map((p) => resolve(base, p));

    async function expand(): Promise<string[]> {
      const out: string[] = [];
      for (const p of patterns) {
        const name = basename(p);
        if (!name.includes('*')) {
          out.push(p);
          continue;
        }
        const re = new RegExp(`^${name.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
        const dir = dirname(p);
        const entries = await readdir(dir).catch(() => [] as string[]);
        for (const e of entries.sort()) if (re.test(e)) out.push(join(dir, e));
      }
      return [...new Set(out)];
    }

    /** After rotation the old inode lives on under another name (auth.log.1): find it. */
    async function findRotated(path: string, pos: FilePosition): Promise<string | undefined> {
      const dir = dirname(path);
      const stem = basename(path);
      for (const e of await readdir(dir).catch(() => [] as string[])) {
        if (!e.startsWith(stem) || e === stem) continue;
        const s = await stat(join(dir, e)).catch(() => undefined);
        if (s && s.ino === pos.ino && s.dev === pos.dev) return join(dir, e);
      }
      return undefined;
    }

    return {
      describe: () => ({ backend: 'file', target: config.paths.join(', '), format: config.format }),
      async poll({ checkpoint, signal, maxEvents }) {
        const cp = asCheckpoint(checkpoint);
        const events: SourceEvent[] = [];
        let hasMore = false;
        for (const path of await expand()) {
          if (signal.aborted) throw new PluginError(ErrorCodes.ABORTED, 'poll aborted');
          if (events.length >= maxEvents) {
            hasMore = true;
            break;
          }
          let st;
          try {
            st = await stat(path);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') continue; // not created yet, or between rotation steps
            throw new PluginError(code === 'EACCES' ? ErrorCodes.BAD_CONFIG : ErrorCodes.UNAVAILABLE, `cannot read ${path}: ${code}`, { retriable: code !== 'EACCES' });
          }
          if (!st.isFile()) continue;
          let pos = cp.files[path];
          if (!pos) pos = cp.files[path] = { dev: st.dev, ino: st.ino, offset: config.start_at === 'end' ? st.size : 0 };

          if (pos.ino !== st.ino || pos.dev !== st.dev) {
            const old = await findRotated(path, pos);
            if (old) {
              const r = await readLines(old, pos.offset, maxEvents - events.length, config.max_line_bytes, true);
              for (const l of r.lines) events.push(lineToEvent(l.text, { path: old, dev: pos.dev, ino: pos.ino, offset: l.offset }, config.format, { year: config.syslog_year, truncated: l.truncated }));
              pos.offset = r.offset;
              if (r.more || pos.offset < (await stat(old)).size) {
                hasMore = true;
                continue;
              }
            }
            pos = cp.files[path] = { dev: st.dev, ino: st.ino, offset: 0 };
          } else if (st.size < pos.offset) {
            pos.offset = 0; // truncated in place (copytruncate)
          }
          if (pos.offset >= st.size || events.length >= maxEvents) {
            if (pos.offset < st.size) hasMore = true;
            continue;
          }
          const r = await readLines(path, pos.offset, maxEvents - events.length, config.max_line_bytes, false);
          for (const l of r.lines) events.push(lineToEvent(l.text, { path, dev: pos.dev, ino: pos.ino, offset: l.offset }, config.format, { year: config.syslog_year, truncated: l.truncated }));
          pos.offset = r.offset;
          if (r.more) hasMore = true;
        }
        return { events, checkpoint: cp as unknown as Checkpoint, hasMore };
      },
    };
  },
});
