import { setTimeout as sleep } from 'node:timers/promises';
import type { CliCommand, CliIo } from '../command.js';
import { stringFlag, UsageError } from '../args.js';
import { streamEvents } from '../sse-client.js';
import { watchOutput } from '../watch-output.js';
import { AdminClient, AdminClientError, type AdminLocation } from '../../admin/client.js';
import { PRIORITY_ORDER } from '../../events/priority.js';
import { allowedValues } from '../../config/suggest.js';
import { connectionFlags, connectionUsage, fail, location } from './status.js';

/**
 * Live views of a running instance, read from its admin API: `tap` (the events it publishes) and
 * `top` (per-collector rates and states). Both run until Ctrl+C or until the instance goes away.
 */

const PRIORITIES = Object.keys(PRIORITY_ORDER);

/**
 * Ctrl+C (or the caller's signal, in tests) ends the view cleanly instead of killing the process
 * mid-line; so does stdout's reader going away (`fabric tap | head`).
 */
function interruption(io: CliIo): { signal: AbortSignal; dispose(): void } {
  const output = watchOutput(io);
  if (io.signal) return { signal: AbortSignal.any([io.signal, output.signal]), dispose: () => undefined };
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  output.signal.addEventListener('abort', stop, { once: true });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** Text from the instance's events is attacker-written: no control characters (ANSI escapes) reach the terminal. */
function printable(v: unknown, max = 200): string {
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function field(e: Record<string, unknown>, path: string): unknown {
  let cur: unknown = e;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return Array.isArray(cur) ? cur[0] : cur;
}

/** One line a person scans: time, collector, kind, priority, rule, source, message. */
export function compactLine(e: Record<string, unknown>, width: number): string {
  const time = printable(field(e, '@timestamp'))
    .replace(/^\d{4}-\d\d-\d\dT/, '')
    .replace(/\.\d+Z$|Z$/, '');
  const rule = field(e, 'rule.name') ?? field(e, 'fabric.matches.name');
  const parts = [
    time.padEnd(8),
    printable(field(e, 'fabric.collector'), 24),
    printable(field(e, 'event.kind') ?? 'event', 8).padEnd(6),
    printable(field(e, 'fabric.priority') ?? 'info', 8).padEnd(6),
    ...(rule !== undefined ? [printable(rule, 60)] : []),
    ...(field(e, 'source.ip') !== undefined ? [printable(field(e, 'source.ip'), 45)] : []),
    printable(field(e, 'message') ?? field(e, 'event.original'), 400),
  ];
  const line = parts.join('  ');
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

const tapUsage = `fabric tap [collector] [--kind <kind>]... [--priority <min>] [--json] ${connectionUsage}`;

const tap: CliCommand = {
  name: ['tap'],
  summary: 'Live events of a running instance, as they are published',
  usage: tapUsage,
  group: 'Watch and control a running instance',
  operands: true,
  flags: {
    kind: { type: 'string', multiple: true, arg: 'kind', description: 'only this event.kind (event, alert, signal, …); repeatable' },
    priority: { type: 'string', arg: 'min', description: `only events of this priority or above (${PRIORITIES.join(', ')})` },
    json: { type: 'boolean', description: 'JSON lines also on a terminal' },
    ...connectionFlags,
  },
  details: 'Runs until Ctrl+C (exit 0) or until the instance stops (exit 3). Secrets are redacted by the server.',
  async run({ values, positionals }, io) {
    if (positionals.length > 1) throw new UsageError(`one collector at a time; got ${positionals.join(', ')}\nusage: ${tapUsage}`);
    const priority = stringFlag(values.priority);
    if (priority !== undefined && !PRIORITIES.includes(priority)) throw new UsageError(`--priority ${allowedValues(PRIORITIES, priority)}; got "${priority}"\nusage: ${tapUsage}`);
    const kinds = (values.kind as string[] | undefined) ?? [];
    const bad = kinds.find((k) => !/^[a-z_]{1,32}$/.test(k));
    if (bad !== undefined) throw new UsageError(`--kind takes an event.kind such as event or alert; got "${bad}"\nusage: ${tapUsage}`);
    const query = new URLSearchParams();
    if (positionals[0] !== undefined) query.set('collector', positionals[0]);
    if (kinds.length > 0) query.set('kind', kinds.join(','));
    if (priority !== undefined) query.set('min_priority', priority);
    const compact = io.stdout.isTTY === true && values.json !== true;
    const stop = interruption(io);
    let where: AdminLocation | undefined;
    let shown = 0;
    try {
      where = await location(values, io);
      if (compact) io.stderr.write(`tapping ${where.url}${query.size > 0 ? ` (${decodeURIComponent(query.toString())})` : ''}; Ctrl+C stops\n`);
      for await (const message of streamEvents(where, `/tap${query.size > 0 ? `?${query}` : ''}`, stop.signal)) {
        if (message.event !== 'event') continue;
        let event: unknown;
        try {
          event = JSON.parse(message.data);
        } catch {
          continue; // not an event this client understands; the next one may be
        }
        if (event === null || typeof event !== 'object' || Array.isArray(event)) continue;
        shown++;
        io.stdout.write(`${compact ? compactLine(event as Record<string, unknown>, io.stdout.columns ?? 160) : JSON.stringify(event)}\n`);
      }
      if (stop.signal.aborted) {
        io.stderr.write(`tap stopped: ${shown} event(s) shown\n`);
        return 0;
      }
      io.stderr.write(`the instance at ${where.url} ended the stream (it stopped or restarted): ${shown} event(s) shown\n`);
      return 3;
    } catch (err) {
      return fail(err, io);
    } finally {
      stop.dispose();
    }
  },
};

interface Overview {
  ready: boolean;
  sink: { ok: boolean; detail?: string };
  collectors: Array<{
    id: string;
    kind: string;
    state: string;
    health: string;
    eventsCollected: number;
    eventsPublished: number;
    lastError?: { code: string; message: string; count: number };
  }>;
}
interface History {
  samples: Array<{ t: number; collected: number; published: number; collectors: Record<string, { in: number; out: number }> }>;
}
interface Detections {
  detections: Array<{ seq: number; collector: string }>;
}

/** Detections per collector, counted from the instance's feed: what it keeps at the first read, then every new one. */
class DetectionCounter {
  private after = 0;
  readonly byCollector = new Map<string, number>();
  async refresh(api: AdminClient): Promise<void> {
    const { detections } = await api.get<Detections>(`/detections?limit=500&after=${this.after}`);
    for (const d of detections) {
      this.byCollector.set(d.collector, (this.byCollector.get(d.collector) ?? 0) + 1);
      this.after = Math.max(this.after, d.seq);
    }
  }
}

function rate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function render(url: string, o: Overview, h: History, detections: DetectionCounter, width: number): string {
  const last = h.samples[h.samples.length - 1];
  const header = ['COLLECTOR', 'KIND', 'STATE', 'HEALTH', 'IN/s', 'OUT/s', 'COLLECTED', 'PUBLISHED', 'DETECTIONS', 'ERRORS', 'LAST ERROR'];
  const rows = o.collectors.map((c) => [
    printable(c.id, 40),
    printable(c.kind, 10),
    printable(c.state, 12),
    printable(c.health, 10),
    rate(last?.collectors[c.id]?.in),
    rate(last?.collectors[c.id]?.out),
    String(c.eventsCollected),
    String(c.eventsPublished),
    String(detections.byCollector.get(c.id) ?? 0),
    String(c.lastError?.count ?? 0),
    c.lastError ? `${printable(c.lastError.code, 40)}: ${printable(c.lastError.message, 300)}` : '',
  ]);
  const widths = header.map((hd, i) => Math.max(hd.length, ...rows.map((r) => r[i]!.length)));
  const numeric = new Set([4, 5, 6, 7, 8, 9]);
  const line = (r: string[]): string => {
    const text = r
      .map((c, i) => (i === r.length - 1 ? c : numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
    return text.length > width ? `${text.slice(0, width - 1)}…` : text;
  };
  const total = last ? `${rate(last.collected)} events/s in, ${rate(last.published)} out` : 'no rate sample yet (one every 5 s)';
  const top = `${url}  ${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z  ${o.ready ? 'ready' : 'NOT READY'}  sink ${o.sink.ok ? 'ok' : `DOWN: ${printable(o.sink.detail, 120)}`}  ${total}`;
  return [top.length > width ? `${top.slice(0, width - 1)}…` : top, '', line(header), ...rows.map(line)].join('\n') + '\n';
}

const topUsage = `fabric top [--interval <seconds>] [--once] ${connectionUsage}`;

const top: CliCommand = {
  name: ['top'],
  summary: 'Live per-collector states, events/s, detections and errors',
  usage: topUsage,
  group: 'Watch and control a running instance',
  operands: true,
  flags: {
    interval: { type: 'string', arg: 'seconds', description: 'refresh every this many seconds (default 2)' },
    once: { type: 'boolean', description: 'print one table and exit (also what happens when stdout is not a terminal)' },
    ...connectionFlags,
  },
  details: 'Rates are the last 5-second sample of the instance; DETECTIONS counts the detections its feed kept when top started, then every new one.',
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${topUsage}`);
    const text = stringFlag(values.interval);
    const interval = text === undefined ? 2 : Number(text);
    if (!Number.isFinite(interval) || interval < 0.5 || interval > 3600) throw new UsageError(`--interval takes 0.5 to 3600 seconds; got "${text}"\nusage: ${topUsage}`);
    const live = io.stdout.isTTY === true && values.once !== true;
    const stop = interruption(io);
    try {
      const where = await location(values, io);
      const api = new AdminClient(where, 15_000);
      const detections = new DetectionCounter();
      for (let frames = 0; ; frames++) {
        let overview: Overview;
        let history: History;
        try {
          [overview, history] = await Promise.all([api.get<Overview>('/overview'), api.get<History>('/history'), detections.refresh(api)]);
        } catch (err) {
          if (frames === 0 || !(err instanceof AdminClientError) || err.status !== undefined) throw err;
          io.stderr.write(`\nthe instance at ${where.url} no longer answers (it stopped or restarted)\n`);
          return 3;
        }
        const frame = render(where.url, overview, history, detections, live ? (io.stdout.columns ?? 160) : 10_000);
        // On a terminal the table is redrawn in place; otherwise (a pipe, --once) it is printed once.
        io.stdout.write(live ? `\x1b[H\x1b[J${frame}\nCtrl+C stops; refreshing every ${interval}s\n` : frame);
        if (!live) return 0;
        try {
          await sleep(interval * 1000, undefined, { signal: stop.signal });
        } catch {
          return 0;
        }
      }
    } catch (err) {
      return fail(err, io);
    } finally {
      stop.dispose();
    }
  },
};

export const commands: CliCommand[] = [tap, top];
