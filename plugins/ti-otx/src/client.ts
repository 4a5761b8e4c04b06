import { ErrorCodes, httpSend, httpStatusError, joinUrl, PluginError, retryAfterMs } from '@reactive-fabric/core';

const VENDOR = 'AlienVault OTX';

export interface OtxClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

export type OtxAnswer = { found: true; body: Record<string, unknown> } | { found: false; reason: string };

export class OtxClient {
  constructor(private readonly opts: OtxClientOptions) {}

  /** GET a path below base_url. 404 and 400 are answers ("no such indicator"), not failures. */
  async get(pathAndQuery: string, signal: AbortSignal): Promise<OtxAnswer> {
    const what = `GET ${pathAndQuery.split('?')[0]}`;
    const answer = await httpSend(joinUrl(this.opts.baseUrl, pathAndQuery), { method: 'GET', headers: { 'X-OTX-API-KEY': this.opts.apiKey, Accept: 'application/json' } }, what, {
      vendor: VENDOR,
      signal,
      timeoutMs: this.opts.timeoutMs,
    });
    const detail = (answer.json as { detail?: unknown } | undefined)?.detail;
    const message = typeof detail === 'string' ? detail : undefined;
    if (answer.status === 200) {
      if (!answer.json || typeof answer.json !== 'object' || Array.isArray(answer.json)) {
        throw new PluginError(ErrorCodes.BAD_RESPONSE, `${VENDOR} answered ${what} with something other than a JSON object: ${answer.text.slice(0, 200)}`);
      }
      return { found: true, body: answer.json as Record<string, unknown> };
    }
    if (answer.status === 404 || answer.status === 400) return { found: false, reason: message ?? `HTTP ${answer.status}` };
    if (answer.status === 429) {
      const retry = retryAfterMs(answer.headers) ?? 60_000;
      throw new PluginError(ErrorCodes.RATE_LIMITED, `${VENDOR} throttled ${what} (${message ?? 'HTTP 429'}); retry in ${Math.ceil(retry / 1000)}s`, {
        retryAfterMs: retry,
        detail: { status: 429 },
      });
    }
    throw httpStatusError(VENDOR, what, answer, message ?? (answer.text.slice(0, 200) || undefined));
  }
}
