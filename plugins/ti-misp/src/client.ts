import { ErrorCodes, type HttpTransport, httpSend, httpStatusError, joinUrl, PluginError, retryAfterMs } from '@reactive-fabric/core';

const VENDOR = 'MISP';

export interface MispAttribute {
  id: string;
  event_id: string;
  category?: string;
  type: string;
  value: string;
  to_ids: boolean;
  uuid: string;
  timestamp: string;
  comment?: string;
  Event?: { id?: string; uuid?: string; info?: string; threat_level_id?: string; date?: string; Tag?: Array<{ name?: string }> };
  Tag?: Array<{ name?: string }>;
}

export interface MispClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  /** The connection pool with the collector's tls settings (opened on first use). */
  transport: () => Promise<HttpTransport>;
}

export class MispClient {
  constructor(private readonly opts: MispClientOptions) {}

  async searchAttributes(body: Record<string, unknown>, signal: AbortSignal): Promise<MispAttribute[]> {
    const answer = await this.request('POST', '/attributes/restSearch', body, signal);
    const response = (answer as { response?: unknown }).response;
    // An empty search answers {"response": []} on some versions, {"response": {"Attribute": []}} on others.
    if (Array.isArray(response) && response.length === 0) return [];
    const list = (response as { Attribute?: unknown } | undefined)?.Attribute;
    if (!Array.isArray(list)) {
      throw new PluginError(ErrorCodes.BAD_RESPONSE, `MISP answered POST /attributes/restSearch without response.Attribute[]: ${JSON.stringify(answer).slice(0, 200)}`);
    }
    return list.filter(
      (a): a is MispAttribute =>
        typeof a === 'object' &&
        a !== null &&
        typeof (a as MispAttribute).value === 'string' &&
        typeof (a as MispAttribute).type === 'string' &&
        typeof (a as MispAttribute).uuid === 'string',
    );
  }

  async version(signal: AbortSignal): Promise<string> {
    const body = await this.request('GET', '/servers/getVersion', undefined, signal);
    return String((body as { version?: unknown }).version ?? 'unknown');
  }

  private async request(method: 'GET' | 'POST', path: string, body: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    const what = `${method} ${path}`;
    const transport = await this.opts.transport();
    const answer = await httpSend(
      joinUrl(this.opts.baseUrl, path),
      {
        method,
        headers: { Authorization: this.opts.apiKey, Accept: 'application/json', 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      },
      what,
      { vendor: VENDOR, signal, timeoutMs: this.opts.timeoutMs, transport },
    );
    const msg = (answer.json as { message?: unknown; name?: unknown } | undefined)?.message ?? (answer.json as { name?: unknown } | undefined)?.name;
    const message = typeof msg === 'string' ? msg : undefined;
    if (answer.status === 200) {
      if (!answer.json || typeof answer.json !== 'object' || Array.isArray(answer.json)) {
        throw new PluginError(ErrorCodes.BAD_RESPONSE, `MISP answered ${what} with something other than a JSON object (is base_url the MISP root?): ${answer.text.slice(0, 200)}`);
      }
      return answer.json as Record<string, unknown>;
    }
    if (answer.status === 429) {
      const retry = retryAfterMs(answer.headers) ?? 60_000;
      throw new PluginError(ErrorCodes.RATE_LIMITED, `MISP rate limit reached on ${what} (${message ?? 'HTTP 429'}); retry in ${Math.ceil(retry / 1000)}s`, {
        retryAfterMs: retry,
        detail: { status: 429, limit: answer.headers.get('x-rate-limit-limit'), remaining: answer.headers.get('x-rate-limit-remaining') },
      });
    }
    if (answer.status === 404) {
      throw new PluginError(
        ErrorCodes.BAD_RESPONSE,
        `MISP has no ${path} at base_url ${new URL(this.opts.baseUrl).origin} (HTTP 404${message ? `: ${message}` : ''}): base_url must be the MISP root`,
      );
    }
    throw httpStatusError(VENDOR, what, answer, message ?? (answer.text.slice(0, 200) || undefined));
  }
}
