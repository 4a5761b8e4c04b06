import { createReadStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { open, readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { CliCommand, CliIo, FlagSpecs, ParsedArgs } from '../command.js';
import { stringFlag, UsageError } from '../args.js';
import { loadConfig } from '../../config/load.js';
import { DetectionConfigSchema, type DetectionConfig } from '../../detection/config.js';
import { loadDetection, type NeverFires } from '../../detection/sigma/loader.js';
import { readLogsourceFile } from '../../detection/sigma/logsource.js';
import { extractorOutputs } from '../../detection/sigma/reach.js';
import { describeRule, ruleKey, type SigmaRule } from '../../detection/sigma/rule.js';
import { RuleRefusal } from '../../detection/sigma/errors.js';
import { validateAgainstSchema } from '../../config/validate.js';
import { DetectionPool } from '../../detection/pool.js';
import type { RuleInfo, TextBatchResult } from '../../detection/index.js';
import { annotateDetection } from '../../detection/annotate.js';
import { setField } from '../../plugin-api/index.js';

const USAGE =
  'fabric scan <files or folders...> [--rules <dir>]... [--no-builtin] [--config <fabric.yaml>] [--logsources <file>]... [--json <out.jsonl>] [--workers <n>] [--cache-dir <dir> | --no-cache]';
/** Text per worker task: large enough that cloning and scheduling vanish next to matching. */
const CHUNK_CHARS = 2 << 20;
/** Same cut as the engine's default max_line_bytes. */
const MAX_LINE_CHARS = 65536;

async function listFiles(p: string): Promise<string[]> {
  const st = await stat(p);
  if (st.isFile()) return [p];
  if (!st.isDirectory()) return [];
  const out: string[] = [];
  const entries = await readdir(p, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(p, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

class Progress {
  private last = 0;
  constructor(
    private readonly io: CliIo,
    private readonly total: number,
  ) {}
  get enabled(): boolean {
    return this.io.stdout.isTTY === true;
  }
  update(done: number, lines: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = Math.max(10, Math.min(40, (this.io.stdout.columns ?? 80) - 45));
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const filled = Math.round(frac * width);
    this.io.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${fmt(lines)} lines`);
  }
  clear(): void {
    if (this.enabled) this.io.stdout.write('\r\x1b[2K');
  }
}

/**
 * Read a file as large line-aligned text chunks. A line longer than a chunk is cut (the engine
 * would cut it anyway) instead of being buffered whole: one 2 GB line must not exhaust memory.
 */
async function* chunks(file: string): AsyncGenerator<string> {
  let buf = '';
  let skipping = false;
  for await (const raw of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    let piece = raw as string;
    if (skipping) {
      const nl = piece.indexOf('\n');
      if (nl === -1) continue;
      piece = piece.slice(nl);
      skipping = false;
    }
    buf += piece;
    if (buf.length >= CHUNK_CHARS) {
      const cut = buf.lastIndexOf('\n');
      if (cut !== -1) {
        yield buf.slice(0, cut + 1);
        buf = buf.slice(cut + 1);
      }
      if (buf.length >= CHUNK_CHARS) {
        buf = buf.slice(0, MAX_LINE_CHARS);
        skipping = true;
      }
    }
  }
  if (buf.length) yield buf;
}

function countLines(text: string): number {
  let n = 0;
  let i = -1;
  while ((i = text.indexOf('\n', i + 1)) !== -1) n++;
  return text.length && text[text.length - 1] !== '\n' ? n + 1 : n;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * When the line says: an RFC 3339 prefix, or a BSD syslog "Dec 10 06:55:46" read as UTC in the
 * year of the file's modification (the previous year if that would be after the file was written).
 */
export function lineTime(line: string, fileTime: Date): string | undefined {
  const iso = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s/.exec(line);
  if (iso) {
    const t = Date.parse(iso[1]!);
    return Number.isNaN(t) ? undefined : new Date(t).toISOString();
  }
  const bsd = /^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) /.exec(line);
  if (!bsd) return undefined;
  const month = MONTHS.indexOf(bsd[1]!);
  if (month === -1) return undefined;
  const at = (year: number) => Date.UTC(year, month, Number(bsd[2]), Number(bsd[3]), Number(bsd[4]), Number(bsd[5]));
  const year = fileTime.getUTCFullYear();
  const t = at(year) > fileTime.getTime() + 86_400_000 ? at(year - 1) : at(year);
  return new Date(t).toISOString();
}

/** The ECS detection written with --json: raw line, extracted fields, rule-match annotations. */
function detection(line: string, fields: Record<string, unknown> | undefined, rules: RuleInfo[], file: string, lineNo: number, fileTime: Date): Record<string, unknown> {
  const now = new Date().toISOString();
  const ev: Record<string, unknown> = { '@timestamp': lineTime(line, fileTime) ?? now };
  for (const [k, v] of Object.entries(fields ?? {})) setField(ev, k, k === 'event.category' && !Array.isArray(v) ? [v] : v);
  setField(ev, 'event.original', line);
  if (ev.message === undefined) ev.message = line;
  setField(ev, 'log.file.path', file);
  setField(ev, 'log.file.line', lineNo);
  setField(ev, 'event.ingested', now);
  return annotateDetection(ev, rules);
}

/** Where parsed rules are cached between runs: $XDG_CACHE_HOME or ~/.cache, unless told otherwise. */
function defaultCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined);
  return base ? path.join(base, 'reactive-fabric', 'rules') : undefined;
}

/**
 * Rules that can never fire on text lines: one line per logsource whose gate needs fields no
 * extractor writes (typically Windows or cloud rules, which need structured events), one per rule
 * otherwise.
 */
function reportNeverFires(list: NeverFires[], io: CliIo): void {
  const byGate = new Map<string, NeverFires[]>();
  for (const w of list) {
    if (!w.gate) {
      io.stderr.write(`warning: ${w.message}\n`);
      continue;
    }
    const g = byGate.get(w.logsource) ?? [];
    g.push(w);
    byGate.set(w.logsource, g);
  }
  for (const [ls, ws] of byGate) {
    const fields = [...new Set(ws.flatMap((w) => w.fields.map((f) => f.path)))].join(', ');
    io.stderr.write(
      `warning: ${ws.length} rule${ws.length === 1 ? '' : 's'} of logsource ${ls} can never fire on text lines: the logsource selects events by ${fields}, which no extractor produces` +
        ` (they need structured events from a log store, or an extractor that writes those fields)${ws.length <= 3 ? `: ${ws.map((w) => `"${w.rule}"`).join(', ')}` : ''}\n`,
    );
  }
}

const FLAGS: FlagSpecs = {
  rules: { type: 'string', multiple: true, arg: 'dir', description: 'also load the Sigma rules in this folder (repeatable)' },
  'no-builtin': { type: 'boolean', description: 'without the rules that ship with Reactive Fabric' },
  config: { type: 'string', short: 'c', arg: 'fabric.yaml', description: "use this config's detection section (rules, logsources, extractors)" },
  logsources: { type: 'string', multiple: true, arg: 'file', description: 'extra logsource definitions (repeatable)' },
  json: { type: 'string', arg: 'out.jsonl', description: 'write every detection as an ECS event to this file' },
  workers: { type: 'string', arg: 'n', description: 'worker threads (default: the CPUs); never more than the input has 2 MB chunks' },
  'cache-dir': { type: 'string', arg: 'dir', description: 'where parsed rules are cached (default: ~/.cache/reactive-fabric/rules)' },
  'no-cache': { type: 'boolean', description: 'do not read or write the rule cache' },
};

export async function scan({ values, positionals }: ParsedArgs, io: CliIo): Promise<number> {
  if (positionals.length === 0) throw new UsageError(`scan needs at least one log file or folder\nusage: ${USAGE}`);
  const workersFlag = stringFlag(values.workers);
  // Digits only: Number() would read "" (an unset shell variable) as 0 and "1e3" as 1000.
  if (workersFlag !== undefined && !/^\d+$/.test(workersFlag)) throw new UsageError(`--workers must be a whole number, got "${workersFlag}"`);
  const workers = workersFlag === undefined ? 0 : Number(workersFlag);
  if (values['no-cache'] && values['cache-dir'] !== undefined) throw new UsageError(`--cache-dir and --no-cache exclude each other\nusage: ${USAGE}`);

  // The detection section of a config file (rules, logsources, extractors, overrides), or its defaults.
  const configFlag = stringFlag(values.config);
  let detectionConfig: DetectionConfig;
  let configDir = io.cwd;
  if (configFlag !== undefined) {
    const loadedConfig = loadConfig(path.resolve(io.cwd, configFlag), io.env);
    detectionConfig = loadedConfig.config.detection;
    configDir = loadedConfig.dir;
  } else detectionConfig = validateAgainstSchema(DetectionConfigSchema, {}).value as DetectionConfig;
  try {
    // A broken extractor is named here, before any worker starts.
    extractorOutputs(detectionConfig.extractors ?? [], detectionConfig.builtin_extractors !== false);
  } catch (e) {
    if (e instanceof RuleRefusal) {
      io.stderr.write(`error: detection config: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const extraLogsources = ((values.logsources as string[] | undefined) ?? []).flatMap((f) => readLogsourceFile(path.resolve(io.cwd, f)));
  const ruleDirs = ((values.rules as string[] | undefined) ?? []).map((r) => path.resolve(io.cwd, r));
  const cacheDir = values['no-cache']
    ? undefined
    : stringFlag(values['cache-dir']) !== undefined
      ? path.resolve(io.cwd, stringFlag(values['cache-dir'])!)
      : defaultCacheDir(io.env);
  const { spec, loaded, warnings } = await loadDetection(detectionConfig, configDir, {
    extraRules: ruleDirs,
    extraLogsources,
    ...(values['no-builtin'] === true ? { builtin: false } : {}),
    // scan reads text lines: only what extractors write can be on an event.
    structured: false,
    ...(cacheDir ? { cacheDir } : {}),
  });
  for (const r of loaded.refusals) io.stderr.write(`refused ${r.file}:${r.line} [${r.feature}] ${r.rule ? `"${r.rule}": ` : ''}${r.message}\n`);
  for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
  reportNeverFires(loaded.neverFires, io);
  if (spec.rules.length === 0) {
    io.stderr.write('error: no rules to run (every rule was refused, or --no-builtin without --rules)\n');
    return 1;
  }

  const files: string[] = [];
  for (const p of positionals) {
    const abs = path.resolve(io.cwd, p);
    try {
      files.push(...(await listFiles(abs)));
    } catch (e) {
      io.stderr.write(`error: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 1;
    }
  }
  let totalBytes = 0;
  for (const f of files) totalBytes += (await stat(f)).size;

  const rules = spec.rules.map((r, i) => describeRule(r, i));
  const jsonPath = stringFlag(values.json);
  let out: WriteStream | undefined;
  /** The first error writing --json: later detections are not written, the scan goes on and exits 1. */
  let writeFailed: NodeJS.ErrnoException | undefined;
  if (jsonPath) {
    // Opened before any work, so a path that cannot be written is one clear line, not a stream 'error' nobody hears.
    try {
      out = (await open(path.resolve(io.cwd, jsonPath), 'w')).createWriteStream();
    } catch (e) {
      io.stderr.write(`error: cannot write --json ${jsonPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (check that its folder exists and is writable)\n`);
      return 1;
    }
    out.on('error', (e) => {
      writeFailed ??= e;
    });
  }
  const withFields = out !== undefined;
  // No more workers than chunks: each worker compiles every rule before its first task, so an idle
  // one only costs start-up (and is torn down while still loading).
  // An explicit --workers is bounded the same way: `--workers 500` on a small file started 500 threads.
  const chunkCount = Math.max(1, Math.ceil(totalBytes / CHUNK_CHARS));
  const threads = Math.min(workers > 0 ? workers : availableParallelism(), chunkCount);
  const pool = new DetectionPool({ spec, threads, taskTimeoutMs: 60_000 });
  const hits = new Array<number>(rules.length).fill(0);
  const progress = new Progress(io, totalBytes);
  const started = Date.now();
  let lines = 0;
  let done = 0;
  let failedChunks = 0;
  let detections = 0;
  let chain: Promise<void> = Promise.resolve();
  try {
    for (const file of files) {
      let firstLine = 1;
      const fileTime = (await stat(file)).mtime;
      for await (const text of chunks(file)) {
        if (pool.needsDrain) await pool.drain();
        const start = firstLine;
        const n = countLines(text);
        firstLine += n;
        const task = pool.scanText(text, withFields);
        task.catch(() => {});
        // Results are consumed in submission order so --json lines follow the files.
        chain = chain.then(async () => {
          let r: TextBatchResult;
          try {
            r = await task;
          } catch (e) {
            failedChunks++;
            io.stderr.write(`\nwarning: ${file} lines ${start}-${start + n - 1} were not scanned: ${(e as Error).message}\n`);
            return;
          }
          lines += r.lines;
          done += text.length;
          const perLine = new Map<number, RuleInfo[]>();
          for (let i = 0; i < r.hits.length; i += 2) {
            const rule = rules[r.hits[i + 1]!]!;
            hits[rule.index]!++;
            if (out) {
              const l = r.hits[i]!;
              let list = perLine.get(l);
              if (!list) perLine.set(l, (list = []));
              list.push(rule);
            }
          }
          if (out && perLine.size) {
            const textLines = text.split('\n');
            let buf = '';
            for (const [l, matched] of perLine) {
              buf += JSON.stringify(detection(textLines[l]!.replace(/\r$/, ''), r.fields?.[l], matched, file, start + l, fileTime)) + '\n';
              detections++;
            }
            if (writeFailed) return;
            // once() rejects on 'error' too: a disk that fills up must not leave this waiting for 'drain'.
            if (!out.write(buf)) await once(out, 'drain').catch(() => {});
          }
          progress.update(done, lines);
        });
      }
    }
    await chain;
  } finally {
    await pool.close();
    // An error here (the last write) is recorded by the 'error' listener.
    if (out) await new Promise<void>((res) => out!.end(() => res()));
    progress.clear();
  }

  const secs = (Date.now() - started) / 1000;
  const rows = rules
    .map((r) => ({ r, n: hits[r.index]! }))
    .filter((x) => x.n > 0)
    .sort((a, b) => b.n - a.n || a.r.name.localeCompare(b.r.name))
    .map(({ r, n }) => [r.name, r.level, r.techniques.join(' ') || '-', fmt(n)]);
  io.stdout.write(
    `Scanned ${fmt(files.length)} file${files.length === 1 ? '' : 's'}, ${fmt(lines)} lines in ${secs.toFixed(2)} s ` +
      `(${fmt(Math.round(lines / Math.max(secs, 0.001)))} lines/s) with ${fmt(rules.length)} rules` +
      `${summaryNotes(loaded.refusals.length, loaded.neverFires.length)}\n\n`,
  );
  if (rows.length) io.stdout.write(table(['RULE', 'LEVEL', 'ATT&CK', 'HITS'], rows));
  else io.stdout.write('No rule matched.\n');
  if (writeFailed) {
    io.stderr.write(`error: writing --json ${jsonPath} failed (${writeFailed.code ?? writeFailed.message}): it is incomplete; the summary above covers every line scanned\n`);
    return 1;
  }
  if (out) io.stdout.write(`\n${fmt(detections)} detections written to ${jsonPath}\n`);
  if (failedChunks) {
    io.stderr.write(`${failedChunks} chunk(s) could not be scanned (see warnings above)\n`);
    return 1;
  }
  return 0;
}

function summaryNotes(refused: number, never: number): string {
  const notes = [...(refused ? [`${fmt(refused)} refused`] : []), ...(never ? [`${fmt(never)} can never fire on text lines`] : [])];
  return notes.length ? ` (${notes.join(', ')}: see stderr)` : '';
}

export const commands: CliCommand[] = [
  {
    name: ['scan'],
    summary: 'Run Sigma rules and field extraction over log files (offline)',
    usage: USAGE,
    group: 'Detection',
    operands: true,
    flags: FLAGS,
    run: scan,
  },
];
