import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FabricError } from '../errors/fabric-error.js';
import type { ClusterStatus, CollectorCommand, CollectorSummary, CollectorState } from '../host.js';
import { TOKEN_ENV, TOKEN_FILE_NAME, URL_FILE_NAME } from './token.js';

export const URL_ENV = 'FABRIC_ADMIN_URL';
const DEFAULT_STATE_DIR = './.fabric';
const DEFAULT_URL = 'http://127.0.0.1:8600';

export interface AdminLocation {
  url: string;
  /** Undefined when none was found: requests will then get 401. */
  token: string | undefined;
  /** Where url and token came from, for error messages (never the token itself). */
  urlSource: string;
  tokenSource: string;
}

export interface LocateOptions {
  url?: string;
  token?: string;
  stateDir?: string;
  config?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

async function readTrimmed(file: string): Promise<string | undefined> {
  try {
    const text = (await fs.readFile(file, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

interface ConfigHints {
  stateDir?: string;
  url?: string;
  token?: string;
}

/** Read state_dir and admin host/port/token from a fabric config file, without the full loader. */
async function hintsFromConfig(file: string, env: NodeJS.ProcessEnv): Promise<ConfigHints> {
  const text = await fs.readFile(file, 'utf8');
  const doc = (parseYaml(text) ?? {}) as { state_dir?: unknown; admin?: { host?: unknown; port?: unknown; token?: unknown } };
  // Same rule as the config loader: state_dir is relative to the config file, default ./.fabric.
  const hints: ConfigHints = { stateDir: path.resolve(path.dirname(file), typeof doc.state_dir === 'string' ? doc.state_dir : DEFAULT_STATE_DIR) };
  if (doc.admin && (typeof doc.admin.port === 'number' || typeof doc.admin.host === 'string')) {
    const host = typeof doc.admin.host === 'string' && doc.admin.host !== '0.0.0.0' ? doc.admin.host : '127.0.0.1';
    hints.url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof doc.admin.port === 'number' ? doc.admin.port : 8600}`;
  }
  if (typeof doc.admin?.token === 'string') {
    const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(doc.admin.token);
    const value = m ? env[m[1]!] : doc.admin.token;
    if (value) hints.token = value;
  }
  return hints;
}

/**
 * Find a running instance's admin URL and token: flags, then environment (FABRIC_ADMIN_URL,
 * FABRIC_ADMIN_TOKEN), then the config file (--config or ./fabric.yaml), then the files the
 * server writes into its state directory (admin-url, admin-token), then the default URL.
 */
export async function locateAdmin(opts: LocateOptions): Promise<AdminLocation> {
  let hints: ConfigHints = {};
  let configFile = opts.config ? path.resolve(opts.cwd, opts.config) : undefined;
  if (configFile) {
    try {
      hints = await hintsFromConfig(configFile, opts.env);
    } catch (err) {
      throw new AdminClientError(`cannot read the config file ${configFile}: ${(err as Error).message.split('\n')[0]}`, undefined, undefined);
    }
  } else {
    for (const name of ['fabric.yaml', 'fabric.yml']) {
      const candidate = path.resolve(opts.cwd, name);
      try {
        hints = await hintsFromConfig(candidate, opts.env);
        configFile = candidate;
        break;
      } catch {
        // no usable default config here: fall back to flags, environment and ./.fabric
      }
    }
  }
  const stateDir = opts.stateDir ? path.resolve(opts.cwd, opts.stateDir) : (hints.stateDir ?? path.resolve(opts.cwd, opts.env.FABRIC_STATE_DIR ?? DEFAULT_STATE_DIR));

  let url: string | undefined;
  let urlSource = '';
  const urlFile = path.join(stateDir, URL_FILE_NAME);
  if (opts.url) [url, urlSource] = [opts.url, '--url'];
  else if (opts.env[URL_ENV]) [url, urlSource] = [opts.env[URL_ENV], URL_ENV];
  else {
    const fromFile = await readTrimmed(urlFile);
    if (fromFile) [url, urlSource] = [fromFile, urlFile];
    else if (hints.url) [url, urlSource] = [hints.url, configFile!];
    else [url, urlSource] = [DEFAULT_URL, 'the default'];
  }

  let token: string | undefined;
  let tokenSource = 'nowhere';
  const tokenFile = path.join(stateDir, TOKEN_FILE_NAME);
  if (opts.token) [token, tokenSource] = [opts.token, '--token'];
  else if (opts.env[TOKEN_ENV]) [token, tokenSource] = [opts.env[TOKEN_ENV], TOKEN_ENV];
  else if (hints.token) [token, tokenSource] = [hints.token, configFile!];
  else {
    const fromFile = await readTrimmed(tokenFile);
    if (fromFile) [token, tokenSource] = [fromFile, tokenFile];
  }
  return { url: url!.replace(/\/+$/, ''), token, urlSource, tokenSource };
}

/**
 * The admin API could not be asked (ADMIN_UNREACHABLE, no `status`) or answered an error
 * (ADMIN_REQUEST_FAILED, with the `status` and `apiCode` it answered).
 */
export class AdminClientError extends FabricError {
  declare readonly code: 'ADMIN_UNREACHABLE' | 'ADMIN_REQUEST_FAILED';
  /** The admin API's own code, as it answered it (a newer server may send one this client does not know). */
  readonly apiCode: string | undefined;
  constructor(message: string, status: number | undefined, apiCode: string | undefined) {
    super(status === undefined ? 'ADMIN_UNREACHABLE' : 'ADMIN_REQUEST_FAILED', message, { status });
    this.apiCode = apiCode;
  }
}

export interface CommandResponse {
  id: string;
  command: CollectorCommand;
  state: CollectorState;
  /** Cluster mode: the instance that runs the collector. */
  instance?: string;
}

export interface BulkRestartResponse {
  results: Array<{ id: string; ok: boolean; state: CollectorState; reason?: string }>;
}

/** A small typed client of the admin API, used by the CLI. */
export class AdminClient {
  constructor(
    private readonly location: AdminLocation,
    private readonly timeoutMs = 75_000,
  ) {}

  private async request<T>(method: string, route: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.location.token) headers.authorization = `Bearer ${this.location.token}`;
    let res: Response;
    try {
      res = await fetch(`${this.location.url}${route}`, { method, headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new AdminClientError(
        `cannot reach the admin API at ${this.location.url} (${cause}; URL from ${this.location.urlSource}). ` +
          'Is Reactive Fabric running with admin.enabled: true? Pass --url or set FABRIC_ADMIN_URL.',
        undefined,
        undefined,
      );
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const b = (body ?? {}) as { code?: string; message?: string };
      let message = b.message ?? `HTTP ${res.status}`;
      if (res.status === 401) {
        message =
          this.location.token === undefined
            ? `the admin API needs a token and none was found: pass --token, set ${TOKEN_ENV}, or run from the directory whose .fabric/admin-token the server wrote (--state-dir)`
            : `the admin API refused the token from ${this.location.tokenSource}: pass the right one with --token or ${TOKEN_ENV}`;
      }
      throw new AdminClientError(message, res.status, b.code);
    }
    return body as T;
  }

  /** A read-only route's JSON, for commands that show what the dashboard shows (`fabric top`). */
  get<T>(route: string): Promise<T> {
    return this.request('GET', route);
  }

  /** GET /cluster: `enabled: false` on a single instance (and from an older instance without the route). */
  async cluster(): Promise<ClusterStatus & { enabled: boolean }> {
    try {
      return await this.request<ClusterStatus & { enabled: boolean }>('GET', '/cluster');
    } catch (err) {
      if (err instanceof AdminClientError && err.status === 404) return { enabled: false, group: '', instance: '', generation: 0, members: [], collectors: [], ownedSlots: [] };
      throw err;
    }
  }

  async listCollectors(): Promise<CollectorSummary[]> {
    return (await this.request<{ collectors: CollectorSummary[] }>('GET', '/collectors')).collectors;
  }

  /** `waitSeconds`: let the server wait for the collector to leave starting/stopping/restarting. */
  command(id: string, command: CollectorCommand, waitSeconds = 0): Promise<CommandResponse> {
    return this.request('POST', `/collectors/${encodeURIComponent(id)}/${command}${waitSeconds > 0 ? `?wait=${waitSeconds}` : ''}`);
  }

  restartAll(onlyFailed: boolean): Promise<BulkRestartResponse> {
    return this.request('POST', `/collectors/restart${onlyFailed ? '?onlyFailed=true' : ''}`);
  }
}
