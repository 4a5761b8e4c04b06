import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CliCommand, CliIo, FlagSpecs } from '../command.js';
import { stringFlag, UsageError } from '../args.js';
import { configFlag } from '../config-arg.js';
import { locateAdmin } from '../../admin/client.js';
import { FabricError } from '../../errors/fabric-error.js';
import type { AdminLocation } from '../../admin/client.js';
import type { FalsePositive } from '../../host.js';
import type { Indicator } from '../../plugin-api/index.js';
import { FalsePositiveStore } from '../../enrichment/false-positives.js';
import { normalizeIndicator } from '../../enrichment/indicator.js';

const TYPES = 'ip|ipv4|ipv6|domain|url|md5|sha1|sha256';
// Every subcommand also takes -c <config.yaml>, --state-dir <dir>, --url <admin-url>, --token <token>.
const addUsage = 'fabric false-positive add <type> <value> [--reason <text>]';
const removeUsage = 'fabric false-positive remove <type> <value>';
const listUsage = 'fabric false-positive list [--json]';
const OPTIONS = `types: ${TYPES}; options: -c <config.yaml>, --state-dir <dir>, --url <admin-url>, --token <token>`;

const FLAGS: FlagSpecs = {
  config: configFlag,
  'state-dir': { type: 'string', arg: 'dir', description: 'state folder (default: from the config, FABRIC_STATE_DIR, ./.fabric)' },
  url: { type: 'string', arg: 'admin-url', description: 'admin API URL of a running instance' },
  token: { type: 'string', arg: 'token', description: 'admin API token' },
  json: { type: 'boolean', description: 'print JSON' },
};
const DETAILS = `Indicator types: ${TYPES}.\nThe mark goes to the running instance's admin API when one answers, else to the state file it reads at start-up.`;

/**
 * Where marks go: the running instance's admin API when one answers (so its verdicts change at
 * once), else the state file the enrichment stage reads at start-up.
 */
type Target = { kind: 'api'; location: AdminLocation } | { kind: 'file'; store: FalsePositiveStore; why: string };

interface Flags {
  config?: string;
  stateDir?: string;
  url?: string;
  token?: string;
}

function flagsOf(values: Record<string, unknown>): Flags {
  const out: Flags = {};
  const config = stringFlag(values.config as string | undefined);
  const stateDir = stringFlag(values['state-dir'] as string | undefined);
  const url = stringFlag(values.url as string | undefined);
  const token = stringFlag(values.token as string | undefined);
  if (config) out.config = config;
  if (stateDir) out.stateDir = stateDir;
  if (url) out.url = url;
  if (token) out.token = token;
  return out;
}

/** state_dir as the server resolves it: --state-dir, the config's state_dir, FABRIC_STATE_DIR, ./.fabric. */
async function resolveStateDir(flags: Flags, io: CliIo): Promise<string> {
  if (flags.stateDir) return path.resolve(io.cwd, flags.stateDir);
  const configFile = path.resolve(io.cwd, flags.config ?? 'fabric.yaml');
  let text: string | undefined;
  try {
    text = await fs.readFile(configFile, 'utf8');
  } catch (err) {
    if (flags.config) throw new UsageError(`cannot read --config ${configFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text !== undefined) {
    let doc: { state_dir?: unknown } | undefined;
    try {
      doc = parseYaml(text) as { state_dir?: unknown } | undefined;
    } catch (err) {
      throw new UsageError(`${configFile} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    return path.resolve(path.dirname(configFile), typeof doc?.state_dir === 'string' ? doc.state_dir : './.fabric');
  }
  return path.resolve(io.cwd, io.env.FABRIC_STATE_DIR ?? './.fabric');
}

/** No answer from the admin API: the caller edits the false-positive file instead. */
class ApiUnreachable extends FabricError {
  constructor(cause: string) {
    super('ADMIN_UNREACHABLE', cause);
  }
}

async function api<T>(location: AdminLocation, method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (location.token) headers.authorization = `Bearer ${location.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${location.url}${route}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new ApiUnreachable(`${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.status === 401) {
    throw new Error(
      location.token === undefined
        ? `the admin API at ${location.url} needs a token and none was found: pass --token or set FABRIC_ADMIN_TOKEN`
        : `the admin API at ${location.url} refused the token from ${location.tokenSource}: pass the right one with --token or FABRIC_ADMIN_TOKEN`,
    );
  }
  return { status: res.status, body: parsed as T };
}

/** The body of a 2xx answer (or 404 when `allow404`), else an error carrying the API's message. */
function expectOk<T>(res: { status: number; body: unknown }, what: string, allow404 = false): T {
  if ((res.status >= 200 && res.status < 300) || (allow404 && res.status === 404)) return res.body as T;
  const b = (res.body ?? {}) as { message?: string };
  throw new Error(`admin API refused to ${what}: HTTP ${res.status}${b.message ? `: ${b.message}` : ''}`);
}

/** Operator-facing failures print one line, not a stack. */
async function guarded(io: CliIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

async function chooseTarget(flags: Flags, io: CliIo): Promise<Target> {
  const stateDir = await resolveStateDir(flags, io);
  const location = await locateAdmin({ ...flags, stateDir, env: io.env, cwd: io.cwd });
  try {
    // An instance whose enrichment is disabled answers 400 here; its marks still belong in the file.
    const probe = await api<unknown>(location, 'GET', '/false-positives');
    if (probe.status === 200) return { kind: 'api', location };
  } catch (err) {
    if (!(err instanceof ApiUnreachable)) throw err;
    // An explicit --url that does not answer is a mistake, not a reason to edit files behind its back.
    if (flags.url || io.env.FABRIC_ADMIN_URL) throw new Error(`cannot reach the admin API at ${location.url} (${err.message}; URL from ${location.urlSource})`);
  }
  return { kind: 'file', store: await FalsePositiveStore.open(stateDir), why: `no running instance answered at ${location.url}` };
}

function parseIndicator(positionals: string[], usage: string): Indicator {
  if (positionals.length !== 2) throw new UsageError(`expected <type> <value>\nusage: ${usage}\n${OPTIONS}`);
  const n = normalizeIndicator(positionals[0]!, positionals[1]!);
  if (!n.ok) throw new UsageError(`${n.error}\nusage: ${usage}\n${OPTIONS}`);
  return n.indicator;
}

function describe(fp: FalsePositive): string {
  return `${fp.indicator.type} ${fp.indicator.value}${fp.reason ? ` (${fp.reason})` : ''}`;
}

function where(t: Target): string {
  return t.kind === 'api' ? `the running instance at ${t.location.url}` : `${t.store.file} (${t.why}; a running instance picks the change up within seconds)`;
}

const add: CliCommand = {
  name: ['false-positive', 'add'],
  summary: 'Mark an indicator as a false positive: excluded from verdicts, never looked up',
  usage: addUsage,
  group: 'Detection',
  operands: true,
  flags: { reason: { type: 'string', arg: 'text', description: 'why it is a false positive (shown by list)' }, ...FLAGS },
  details: DETAILS,
  run: ({ values, positionals }, io) =>
    guarded(io, async () => {
      const indicator = parseIndicator(positionals, addUsage);
      const reason = stringFlag(values.reason);
      const target = await chooseTarget(flagsOf(values), io);
      let marked: FalsePositive;
      if (target.kind === 'api') {
        marked = expectOk<FalsePositive>(
          await api(target.location, 'POST', '/false-positives', { indicator, ...(reason ? { reason } : {}) }),
          `mark ${indicator.type} ${indicator.value}`,
        );
      } else {
        marked = await target.store.mark(indicator, reason);
      }
      if (values.json) io.stdout.write(`${JSON.stringify(marked)}\n`);
      else io.stdout.write(`marked ${describe(marked)} as a false positive in ${where(target)}\n`);
      return 0;
    }),
};

const remove: CliCommand = {
  name: ['false-positive', 'remove'],
  summary: 'Remove a false-positive mark',
  usage: removeUsage,
  group: 'Detection',
  operands: true,
  flags: FLAGS,
  details: DETAILS,
  run: ({ values, positionals }, io) =>
    guarded(io, async () => {
      const indicator = parseIndicator(positionals, removeUsage);
      const target = await chooseTarget(flagsOf(values), io);
      let removed: boolean;
      if (target.kind === 'api') {
        const res = await api(target.location, 'DELETE', `/false-positives/${encodeURIComponent(indicator.type)}/${encodeURIComponent(indicator.value)}`);
        expectOk(res, `unmark ${indicator.type} ${indicator.value}`, true);
        removed = res.status !== 404;
      } else {
        removed = await target.store.unmark(indicator);
      }
      if (!removed) {
        io.stderr.write(`${indicator.type} ${indicator.value} is not marked as a false positive in ${where(target)}; \`fabric false-positive list\` shows the marks\n`);
        return 1;
      }
      io.stdout.write(`removed the false-positive mark on ${indicator.type} ${indicator.value} in ${where(target)}\n`);
      return 0;
    }),
};

const list: CliCommand = {
  name: ['false-positive', 'list'],
  summary: 'Indicators marked as false positives',
  usage: listUsage,
  group: 'Detection',
  operands: true,
  flags: FLAGS,
  details: DETAILS,
  run: ({ values, positionals }, io) =>
    guarded(io, async () => {
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${listUsage}\n${OPTIONS}`);
      const target = await chooseTarget(flagsOf(values), io);
      const marks =
        target.kind === 'api'
          ? expectOk<{ falsePositives: FalsePositive[] }>(await api(target.location, 'GET', '/false-positives'), 'list false positives').falsePositives
          : await target.store.list();
      if (values.json) {
        io.stdout.write(`${JSON.stringify(marks, null, 2)}\n`);
        return 0;
      }
      if (marks.length === 0) {
        io.stdout.write(`no false positives marked in ${where(target)}\n`);
        return 0;
      }
      const rows = marks.map((m) => [m.indicator.type, m.indicator.value, m.markedAt, m.reason ?? '']);
      const header = ['TYPE', 'VALUE', 'MARKED', 'REASON'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const fmt = (r: string[]) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd();
      io.stdout.write(`${[fmt(header), ...rows.map(fmt)].join('\n')}\n`);
      return 0;
    }),
};

export const commands: CliCommand[] = [add, remove, list];
