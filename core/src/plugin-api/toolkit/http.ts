import { fetch } from 'undici';
import { ErrorCodes, PluginError, isPluginError } from '../errors.js';
import { timerDelay } from '../schema.js';
import { defaultTransport, type HttpTransport, proxyFailure, tlsFailureHint } from './transport.js';

// HTTP helpers for plugins that talk to a vendor API: one exchange with a deadline, Retry-After and
// rate-limit headers, the status errors every vendor maps the same way, and keeping credentials out
// of URLs and messages. Part of the plugin API, so a plugin needs nothing but @reactive-fabric/core.

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body; undefined when the body is empty or not JSON. */
  json: unknown;
}

export interface SendOptions {
  /** Shown in error messages, e.g. "VirusTotal". */
  vendor: string;
  signal: AbortSignal;
  timeoutMs: number;
  /** A transport with the collector's TLS settings (HttpTransport.open); default: system CAs, verified. Both honour HTTPS_PROXY/HTTP_PROXY/NO_PROXY. */
  transport?: HttpTransport;
}

/**
 * One HTTP exchange with a deadline. Transport failures become PluginErrors with stable codes;
 * HTTP status handling is left to the caller, which knows the vendor's error shapes.
 * `what` names the request in errors (method and path, never headers, so never the key).
 */
export async function httpSend(url: string, init: RequestInit, what: string, opts: SendOptions): Promise<HttpAnswer> {
  if (opts.signal.aborted) throw new PluginError(ErrorCodes.ABORTED, `${opts.vendor}: ${what} aborted before it started`);
  const timeout = AbortSignal.timeout(timerDelay(opts.timeoutMs));
  const signal = AbortSignal.any([opts.signal, timeout]);
  let res: Awaited<ReturnType<typeof fetch>>;
  let text: string;
  try {
    const transport = opts.transport ?? (await defaultTransport());
    res = await fetch(url, { ...(init as Parameters<typeof fetch>[1]), signal, dispatcher: transport.dispatcher });
    text = await res.text();
  } catch (err) {
    if (isPluginError(err)) throw err;
    if (opts.signal.aborted) throw new PluginError(ErrorCodes.ABORTED, `${opts.vendor}: ${what} aborted`, { cause: err });
    if (timeout.aborted) {
      throw new PluginError(ErrorCodes.TIMEOUT, `${opts.vendor} did not answer ${what} within ${opts.timeoutMs / 1000}s: raise timeout_seconds or check the service`, {
        cause: err,
      });
    }
    const proxy = proxyFailure(err);
    if (proxy) throw new PluginError(proxy.code, `${opts.vendor}: ${what}: ${proxy.message}`, { detail: proxy.detail ?? {} });
    const reason = err instanceof Error ? ((err.cause as { code?: string } | undefined)?.code ?? err.message) : String(err);
    const tls = tlsFailureHint(reason);
    if (tls) throw new PluginError(ErrorCodes.BAD_CONFIG, `${opts.vendor}: ${what}: ${tls}`, { cause: err });
    throw new PluginError(ErrorCodes.UNAVAILABLE, `${opts.vendor} is unreachable (${what}: ${reason}): check base_url and the network`, { cause: err });
  }
  let json: unknown;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers as unknown as Headers, text, json };
}

/**
 * When the backend says we may try again: `Retry-After` (seconds or HTTP date) first, then
 * `X-RateLimit-Reset` / `X-Rate-Limit-Reset` (epoch seconds, or seconds from now when small).
 */
export function retryAfterMs(headers: Pick<Headers, 'get'>, now = Date.now()): number | undefined {
  const ra = headers.get('retry-after')?.trim();
  if (ra) {
    if (/^\d+(\.\d+)?$/.test(ra)) return Math.ceil(Number(ra) * 1000);
    // An HTTP date names its day and month; Date.parse alone would take "-5" for the year -5.
    const at = /[a-z]/i.test(ra) ? Date.parse(ra) : Number.NaN;
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  for (const name of ['x-ratelimit-reset', 'x-rate-limit-reset']) {
    const v = headers.get(name)?.trim();
    if (v && /^\d+(\.\d+)?$/.test(v)) {
      const n = Number(v);
      // Epoch seconds are > 1e9; MISP sends the seconds left in the window instead.
      return n > 1e9 ? Math.max(0, Math.ceil(n * 1000 - now)) : Math.ceil(n * 1000);
    }
  }
  return undefined;
}

/** Milliseconds until the next 00:00 UTC, when daily quotas of VirusTotal and AbuseIPDB reset. */
export function msUntilUtcMidnight(now = Date.now()): number {
  const next = Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000;
  return next - now;
}

/** Errors every vendor maps the same way: auth, 5xx, unexpected 4xx. */
export function httpStatusError(vendor: string, what: string, answer: HttpAnswer, vendorMessage: string | undefined): PluginError {
  const detail = vendorMessage ? `: ${vendorMessage}` : '';
  const base = { detail: { status: answer.status } };
  if (answer.status === 401 || answer.status === 403) {
    return new PluginError(
      ErrorCodes.AUTH_FAILED,
      `${vendor} refused the API key (HTTP ${answer.status}${detail}): check api_key (and the environment variable it comes from)`,
      base,
    );
  }
  if (answer.status >= 500) {
    const retry = retryAfterMs(answer.headers);
    return new PluginError(ErrorCodes.UNAVAILABLE, `${vendor} failed ${what} (HTTP ${answer.status}${detail}); will retry`, {
      ...base,
      ...(retry === undefined ? {} : { retryAfterMs: retry }),
    });
  }
  return new PluginError(ErrorCodes.BAD_RESPONSE, `${vendor} rejected ${what} (HTTP ${answer.status}${detail})`, base);
}

/** Strip credentials, query and fragment from a URL shown to operators. */
export function safeTarget(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '[invalid url]';
  }
}

export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

/**
 * The same error with every occurrence of `secret` masked. Vendor error texts are quoted in our
 * messages, and a backend that echoes the key (or a proxy that prints the request) must not make
 * it leak into logs, health reports or the admin API.
 */
export function redactSecret(err: unknown, secret: string): unknown {
  if (!secret || !(err instanceof Error)) return err;
  const mask = (s: string): string => s.split(secret).join('[redacted]');
  const e = err as PluginError;
  const detailText = e.detail === undefined ? undefined : JSON.stringify(e.detail);
  if (!err.message.includes(secret) && !(detailText ?? '').includes(secret)) return err;
  if (!isPluginError(err)) return new Error(mask(err.message));
  return new PluginError(e.code, mask(e.message), {
    retriable: e.retriable,
    ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
    ...(detailText === undefined ? {} : { detail: JSON.parse(mask(detailText)) as Record<string, unknown> }),
  });
}

/**
 * A base_url the plugin can use: http(s), and without user:password (fetch refuses those and
 * would quote the URL, credentials included, in its error).
 */
export function checkBaseUrl(raw: string, collectorId: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new PluginError(ErrorCodes.BAD_CONFIG, `collector "${collectorId}": base_url is not a URL; write e.g. https://host/api`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new PluginError(ErrorCodes.BAD_CONFIG, `collector "${collectorId}": base_url must be http:// or https://, got ${u.protocol}`);
  }
  if (u.username || u.password) {
    throw new PluginError(ErrorCodes.BAD_CONFIG, `collector "${collectorId}": base_url must not contain credentials (user:password@); put the key in api_key`);
  }
  return raw;
}
