import { readFile } from 'node:fs/promises';
import { type Dispatcher, EnvHttpProxyAgent } from 'undici';
import { ErrorCodes, PluginError } from '../errors.js';

/**
 * The one HTTP transport under every plugin (HttpClient and httpSend): an undici
 * EnvHttpProxyAgent, so HTTPS_PROXY / HTTP_PROXY / NO_PROXY (or their lower-case forms) apply to
 * every vendor API, with the collector's TLS settings for the backend's certificate whether the
 * connection is direct or tunnelled through the proxy.
 */

export interface TransportTlsSettings {
  /** PEM bundle of the CA that signed the backend's certificate (added to the usual roots' place). */
  caFile?: string | undefined;
  /** Client certificate (PEM) for backends that require mutual TLS; needs keyFile. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** false accepts any certificate: for testing only. */
  verify: boolean;
  /** Names the config block in errors ("tls" → "tls.ca_file"). */
  field?: string;
}

const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] as const;

/** The proxy URLs in the environment, each as EnvHttpProxyAgent picks it (lower case first). */
function proxyEnvironment(env: NodeJS.ProcessEnv): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const pair of [
    ['https_proxy', 'HTTPS_PROXY'],
    ['http_proxy', 'HTTP_PROXY'],
  ] as const) {
    const name = pair.find((n) => env[n] !== undefined);
    if (name && env[name]) out.push({ name, value: env[name] });
  }
  return out;
}

/**
 * Userinfo of the proxy URLs in the environment, for the host to redact from every log line and
 * error (a proxy's own error page, or a library quoting the URL, must not leak them).
 */
export function proxyCredentials(env: NodeJS.ProcessEnv = process.env): string[] {
  const out = new Set<string>();
  for (const name of PROXY_VARIABLES) {
    const value = env[name];
    if (!value) continue;
    try {
      const u = new URL(value);
      for (const part of [u.password, u.username]) {
        if (part.length >= 3) {
          out.add(part);
          out.add(decodeURIComponent(part));
        }
      }
    } catch {
      // A value that is not a URL is refused when a transport is built, without quoting it.
    }
  }
  return [...out];
}

/** Where requests go, for a start-up log line: proxy URLs without credentials, and NO_PROXY. */
export function describeProxy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const proxies = proxyEnvironment(env).map(({ name, value }) => `${name.toUpperCase()}=${proxyUrlForDisplay(value)}`);
  if (proxies.length === 0) return undefined;
  const noProxy = env.no_proxy ?? env.NO_PROXY;
  return noProxy ? `${proxies.join(', ')}, NO_PROXY=${noProxy}` : proxies.join(', ');
}

function proxyUrlForDisplay(value: string): string {
  try {
    const u = new URL(value);
    return `${u.protocol}//${u.username || u.password ? '***@' : ''}${u.host}`;
  } catch {
    return '(not a URL)';
  }
}

function checkProxyEnvironment(env: NodeJS.ProcessEnv): void {
  for (const { name, value } of proxyEnvironment(env)) {
    let u: URL | undefined;
    try {
      u = new URL(value);
    } catch {
      u = undefined;
    }
    // The value itself is never quoted: it may carry a password.
    if (!u || !['http:', 'https:', 'socks5:', 'socks:'].includes(u.protocol) || u.hostname === '') {
      throw new PluginError(
        ErrorCodes.BAD_CONFIG,
        `the ${name} environment variable is not a proxy URL: write e.g. http://proxy.internal:3128 (or http://user:password@proxy.internal:3128)`,
      );
    }
  }
}

async function readPem(file: string, field: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new PluginError(ErrorCodes.BAD_CONFIG, `${field} "${file}" cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): point it at ${what}`, {
      cause: err,
    });
  }
}

/** An HTTP connection pool that honours the proxy environment, with one collector's TLS settings. */
export class HttpTransport {
  private constructor(
    /** For the toolkit's request functions; plugins pass the transport, not this. */
    readonly dispatcher: Dispatcher,
  ) {}

  /** Reads the TLS files (call it from start(), so create() stays free of I/O). */
  static async open(tls: TransportTlsSettings = { verify: true }, options: { keepAliveTimeoutMs?: number } = {}): Promise<HttpTransport> {
    const field = tls.field ?? 'tls';
    checkProxyEnvironment(process.env);
    if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
      throw new PluginError(ErrorCodes.BAD_CONFIG, `${field}.cert_file and ${field}.key_file go together: give both (client certificate and its private key) or neither`);
    }
    const ca = tls.caFile ? await readPem(tls.caFile, `${field}.ca_file`, 'a PEM bundle') : undefined;
    const cert = tls.certFile ? await readPem(tls.certFile, `${field}.cert_file`, 'a PEM client certificate') : undefined;
    const key = tls.keyFile ? await readPem(tls.keyFile, `${field}.key_file`, 'the PEM private key of the client certificate') : undefined;
    const connect = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: tls.verify };
    return new HttpTransport(
      new EnvHttpProxyAgent({
        // Direct connections use `connect`; through a proxy, the tunnelled TLS to the backend uses `requestTls`.
        connect,
        requestTls: connect,
        // Plain-HTTP backends go to the proxy as absolute-URI requests: many proxies allow CONNECT to port 443 only.
        proxyTunnel: false,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 10_000,
      }),
    );
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

let shared: { key: string; transport: Promise<HttpTransport> } | undefined;

/**
 * The transport of requests that name none (httpSend without `transport`): default TLS, the proxy
 * environment as it is now. A changed environment (a test, or a plugin run in a long-lived
 * process) gets a new pool; the old one's idle sockets time out by themselves.
 */
export function defaultTransport(): Promise<HttpTransport> {
  const env = process.env;
  const key = JSON.stringify([...PROXY_VARIABLES, 'no_proxy', 'NO_PROXY'].map((n) => env[n]));
  if (shared?.key !== key) {
    const transport = HttpTransport.open();
    // A refused proxy setting is reported by the request that asked; the next one tries again.
    transport.catch(() => {
      if (shared?.transport === transport) shared = undefined;
    });
    shared = { key, transport };
  }
  return shared.transport;
}

/** A TLS failure as operators can act on it, or undefined when the error is something else. */
export function tlsFailureHint(code: string): string | undefined {
  if (!/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return undefined;
  return `TLS verification failed (${code}); set tls.ca_file to the CA that signed the server certificate, or tls.verify: false for testing only`;
}

/**
 * A proxy's refusal as operators can act on it, or undefined when the error is not one. undici
 * reports a proxy's status in its error text ("Proxy response (502) !== 200 when HTTP Tunneling",
 * "Proxy Authentication Required (407)"); neither quotes the proxy URL.
 */
export function proxyFailure(err: unknown): PluginError | undefined {
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const text = typeof e.message === 'string' ? e.message : '';
    const m = /Proxy response \((\d{3})\)|Proxy Authentication Required \((\d{3})\)/.exec(text);
    if (!m) continue;
    const status = Number(m[1] ?? m[2]);
    if (status === 407) {
      return new PluginError(
        ErrorCodes.BAD_CONFIG,
        'the HTTP proxy refused its credentials (407 Proxy Authentication Required): check the user and password in HTTPS_PROXY / HTTP_PROXY',
        {
          detail: { proxyStatus: status },
        },
      );
    }
    return new PluginError(ErrorCodes.UNAVAILABLE, `the HTTP proxy could not reach the backend (proxy answered ${status}); check the proxy, or list the host in NO_PROXY`, {
      detail: { proxyStatus: status },
    });
  }
  return undefined;
}
