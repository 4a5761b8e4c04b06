import type { CliCommand, CliIo, FlagSpecs } from '../command.js';
import { stringFlag, UsageError } from '../args.js';
import { configFlag } from '../config-arg.js';
import { AdminClient, AdminClientError, locateAdmin, type AdminLocation } from '../../admin/client.js';
import type { ClusterStatus, CollectorCommand, CollectorSummary } from '../../host.js';
import { COLLECTOR_STATES } from '../../host.js';

/** Flags every command that talks to a running instance understands. */
export const connectionFlags: FlagSpecs = {
  url: { type: 'string', arg: 'admin url', description: 'admin API URL (default: from the state folder, FABRIC_ADMIN_URL)' },
  token: { type: 'string', arg: 'token', description: 'admin API token (default: from the state folder, FABRIC_ADMIN_TOKEN)' },
  'state-dir': { type: 'string', arg: 'dir', description: 'state folder of the running instance (holds admin-url and admin-token)' },
  config: configFlag,
};
export const connectionUsage = '[--url <admin url>] [--token <token>] [--state-dir <dir>] [-c <config.yaml>]';

export async function client(values: Record<string, string | boolean | string[] | undefined>, io: CliIo): Promise<AdminClient> {
  return new AdminClient(await location(values, io));
}

/** Where the running instance's admin API is, from the connection flags (see locateAdmin for the order). */
export function location(values: Record<string, string | boolean | string[] | undefined>, io: CliIo): Promise<AdminLocation> {
  return locateAdmin({
    url: stringFlag(values.url),
    token: stringFlag(values.token),
    stateDir: stringFlag(values['state-dir']),
    config: stringFlag(values.config),
    env: io.env,
    cwd: io.cwd,
  });
}

/** "3m12s" style age of an ISO time, for a table a person reads. */
export function age(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Print an API failure and map it to an exit code: 1 for errors of the request, 3 when the instance cannot be reached. */
export function fail(err: unknown, io: CliIo): number {
  if (err instanceof AdminClientError) {
    io.stderr.write(`error: ${err.message}${err.apiCode ? ` [${err.apiCode}]` : ''}\n`);
    return err.status === undefined ? 3 : 1;
  }
  throw err;
}

const statusUsage = `fabric status [--json] [--state <state>] ${connectionUsage}`;
const status: CliCommand = {
  name: ['status'],
  summary: 'Collectors of a running instance: plugin, state, since when, health',
  usage: statusUsage,
  group: 'Watch and control a running instance',
  operands: true,
  flags: {
    ...connectionFlags,
    json: { type: 'boolean', description: 'print JSON instead of a table' },
    state: { type: 'string', arg: 'state', description: `only collectors in this state (${COLLECTOR_STATES.join(', ')})` },
  },
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${statusUsage}`);
    const state = stringFlag(values.state);
    if (state !== undefined && !(COLLECTOR_STATES as readonly string[]).includes(state)) {
      throw new UsageError(`--state must be one of ${COLLECTOR_STATES.join(', ')}; got "${state}"`);
    }
    let collectors: CollectorSummary[];
    let cluster: Awaited<ReturnType<AdminClient['cluster']>>;
    try {
      const api = await client(values, io);
      [collectors, cluster] = await Promise.all([api.listCollectors(), api.cluster()]);
    } catch (err) {
      return fail(err, io);
    }
    if (cluster.enabled) return clusterStatus(cluster, collectors, state, values.json === true, io);
    if (state !== undefined) collectors = collectors.filter((c) => c.state === state);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(collectors, null, 2)}\n`);
      return 0;
    }
    if (collectors.length === 0) {
      io.stdout.write(state ? `no collector is ${state}\n` : 'no collectors configured\n');
      return 0;
    }
    io.stdout.write(
      table(
        ['ID', 'PLUGIN', 'VERSION', 'KIND', 'STATE', 'SINCE', 'HEALTH'],
        collectors.map((c) => [c.id, c.plugin, c.pluginVersion, c.kind, c.state, age(c.since), c.lastErrorCode ? `${c.health} (${c.lastErrorCode})` : c.health]),
      ),
    );
    const counts = new Map<string, number>();
    for (const c of collectors) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
    io.stdout.write(`\n${collectors.length} collector(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}\n`);
    return 0;
  },
};

/**
 * In a cluster, any instance answers for all: each collector with the instance that runs it and its
 * state there (this instance's own collectors with their live health).
 */
function clusterStatus(cluster: ClusterStatus, local: CollectorSummary[], state: string | undefined, json: boolean, io: CliIo): number {
  const here = new Map(local.map((c) => [c.id, c]));
  const rows = cluster.collectors
    .map((c) => {
      const mine = c.owner === cluster.instance ? here.get(c.id) : undefined;
      return { ...c, state: mine?.state ?? c.state ?? 'unknown', health: mine ? mine.health : '-' };
    })
    .filter((c) => state === undefined || c.state === state);
  if (json) {
    io.stdout.write(`${JSON.stringify({ ...cluster, collectors: rows }, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`cluster ${cluster.group}, generation ${cluster.generation}, ${cluster.members.length} member(s); answered by ${cluster.instance}\n\n`);
  io.stdout.write(
    table(
      ['INSTANCE', 'SLOTS', 'COLLECTORS'],
      cluster.members.map((m) => [m.instance, String(m.slots.length), m.collectors.join(', ') || '-']),
    ),
  );
  io.stdout.write('\n');
  io.stdout.write(
    table(
      ['ID', 'OWNER', 'STATE', 'SINCE', 'HEALTH'],
      rows.map((c) => [c.id, c.owner ?? (c.problem === 'down' ? `${c.pinned} (down)` : '(unassigned)'), c.state, c.at ? age(c.at) : '-', c.health]),
    ),
  );
  return 0;
}

const COMMANDS: readonly CollectorCommand[] = ['start', 'stop', 'pause', 'resume', 'restart'];

function collectorCommand(command: CollectorCommand): CliCommand {
  const usage =
    command === 'restart'
      ? `fabric collector restart <id> | --failed | --all [--wait <seconds>] ${connectionUsage}`
      : `fabric collector ${command} <id> [--wait <seconds>] ${connectionUsage}`;
  return {
    name: ['collector', command],
    summary:
      command === 'restart'
        ? 'Restart a collector (--failed: every failed one; --all: every one)'
        : `${command[0]!.toUpperCase()}${command.slice(1)} a collector of a running instance (via the admin API)`,
    usage,
    group: 'Watch and control a running instance',
    operands: true,
    flags: {
      ...(command === 'restart' ? { failed: { type: 'boolean', description: 'every failed collector' }, all: { type: 'boolean', description: 'every collector' } } : {}),
      wait: { type: 'string', arg: 'seconds', description: 'how long to wait for the collector to settle (0 to 60, default 10)' },
      ...connectionFlags,
    },
    async run({ values, positionals }, io) {
      const wait = stringFlag(values.wait) === undefined ? 10 : Number(values.wait);
      if (!Number.isFinite(wait) || wait < 0 || wait > 60) throw new UsageError(`--wait takes 0 to 60 seconds; got "${String(values.wait)}"\nusage: ${usage}`);
      const bulk = values.failed === true || values.all === true;
      if (bulk && positionals.length > 0) throw new UsageError(`give a collector id or --failed/--all, not both\nusage: ${usage}`);
      if (!bulk && positionals.length !== 1) throw new UsageError(`${positionals.length === 0 ? 'missing the collector id' : 'one collector id at a time'}\nusage: ${usage}`);
      try {
        const api = await client(values, io);
        if (bulk) {
          const { results } = await api.restartAll(values.failed === true);
          if (results.length === 0) {
            io.stdout.write(values.failed ? 'no failed collectors\n' : 'no collectors configured\n');
            return 0;
          }
          for (const r of results) io.stdout.write(`${r.id}: ${r.ok ? r.state : `NOT restarted (${r.reason ?? r.state})`}\n`);
          return results.every((r) => r.ok) ? 0 : 1;
        }
        const r = await api.command(positionals[0]!, command, wait);
        io.stdout.write(`${r.id}: ${r.state}${r.instance ? ` (on ${r.instance})` : ''}\n`);
        return 0;
      } catch (err) {
        return fail(err, io);
      }
    },
  };
}

export const commands: CliCommand[] = [status, ...COMMANDS.map(collectorCommand)];
