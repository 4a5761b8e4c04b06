import { ErrorCodes, httpSend, httpStatusError, joinUrl, msUntilUtcMidnight, PluginError, retryAfterMs } from '@reactive-fabric/core';

const VENDOR = 'AbuseIPDB';

export interface CheckData {
  ipAddress: string;
  isPublic?: boolean;
  ipVersion?: number;
  isWhitelisted?: boolean | null;
  abuseConfidenceScore: number;
  countryCode?: string | null;
  usageType?: string | null;
  isp?: string | null;
  domain?: string | null;
  hostnames?: string[];
  isTor?: boolean;
  totalReports: number;
  numDistinctUsers?: number;
  lastReportedAt?: string | null;
}

export interface BlockData {
  networkAddress: string;
  netmask: string;
  reportedAddress: Array<{ ipAddress: string; numReports: number; mostRecentReport: string | null; abuseConfidenceScore: number; countryCode: string | null }>;
}

export interface BlacklistAnswer {
  meta: { generatedAt: string };
  data: Array<{ ipAddress: string; countryCode?: string | null; abuseConfidenceScore: number; lastReportedAt: string | null }>;
}

export interface AbuseIpdbClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

/** The answer, or `{ invalid }` when AbuseIPDB rejected the parameter (422). */
export type Answer<T> = { data: T } | { invalid: string };

export class AbuseIpdbClient {
  constructor(private readonly opts: AbuseIpdbClientOptions) {}

  check(ip: string, maxAgeDays: number, signal: AbortSignal): Promise<Answer<CheckData>> {
    return this.get<CheckData>('/check', { ipAddress: ip, maxAgeInDays: String(maxAgeDays) }, signal, (d) => typeof (d as CheckData).abuseConfidenceScore === 'number');
  }

  checkBlock(network: string, maxAgeDays: number, signal: AbortSignal): Promise<Answer<BlockData>> {
    return this.get<BlockData>('/check-block', { network, maxAgeInDays: String(maxAgeDays) }, signal, (d) => Array.isArray((d as BlockData).reportedAddress));
  }

  async blacklist(confidenceMinimum: number, limit: number, signal: AbortSignal): Promise<BlacklistAnswer> {
    const what = 'GET /blacklist';
    const answer = await this.request('/blacklist', { confidenceMinimum: String(confidenceMinimum), limit: String(limit) }, signal);
    const body = answer.json as Partial<BlacklistAnswer> | undefined;
    if (answer.status === 200) {
      if (!body || !Array.isArray(body.data) || typeof body.meta?.generatedAt !== 'string') {
        throw new PluginError(ErrorCodes.BAD_RESPONSE, `${VENDOR} answered ${what} without meta.generatedAt and data[]: ${answer.text.slice(0, 200)}`);
      }
      return body as BlacklistAnswer;
    }
    throw this.error(what, answer);
  }

  private async get<T>(path: string, query: Record<string, string>, signal: AbortSignal, valid: (d: unknown) => boolean): Promise<Answer<T>> {
    const what = `GET ${path}`;
    const answer = await this.request(path, query, signal);
    if (answer.status === 200) {
      const data = (answer.json as { data?: unknown } | undefined)?.data;
      if (!data || typeof data !== 'object' || !valid(data)) {
        throw new PluginError(ErrorCodes.BAD_RESPONSE, `${VENDOR} answered ${what} without the documented data object: ${answer.text.slice(0, 200)}`);
      }
      return { data: data as T };
    }
    if (answer.status === 422) return { invalid: detailOf(answer.json) ?? 'rejected parameter' };
    throw this.error(what, answer);
  }

  private request(path: string, query: Record<string, string>, signal: AbortSignal) {
    const qs = new URLSearchParams(query).toString();
    return httpSend(joinUrl(this.opts.baseUrl, `${path}?${qs}`), { method: 'GET', headers: { Key: this.opts.apiKey, Accept: 'application/json' } }, `GET ${path}`, {
      vendor: VENDOR,
      signal,
      timeoutMs: this.opts.timeoutMs,
    });
  }

  private error(what: string, answer: Awaited<ReturnType<AbuseIpdbClient['request']>>): PluginError {
    const detail = detailOf(answer.json);
    if (answer.status === 429) {
      const daily = /daily/i.test(detail ?? '');
      const retry = retryAfterMs(answer.headers) ?? (daily ? msUntilUtcMidnight() : 60_000);
      const facts = { status: 429, limit: answer.headers.get('x-ratelimit-limit'), remaining: answer.headers.get('x-ratelimit-remaining') };
      return daily
        ? new PluginError(ErrorCodes.QUOTA_EXHAUSTED, `${VENDOR} daily quota for ${what} is used up (${detail}); retry in ${Math.ceil(retry / 1000)}s`, {
            retryAfterMs: retry,
            detail: facts,
          })
        : new PluginError(ErrorCodes.RATE_LIMITED, `${VENDOR} rate limit for ${what} reached (${detail ?? 'HTTP 429'}); retry in ${Math.ceil(retry / 1000)}s`, {
            retryAfterMs: retry,
            detail: facts,
          });
    }
    return httpStatusError(VENDOR, what, answer, detail ?? (answer.text.slice(0, 200) || undefined));
  }
}

function detailOf(json: unknown): string | undefined {
  const errors = (json as { errors?: Array<{ detail?: unknown }> } | undefined)?.errors;
  if (!Array.isArray(errors)) return undefined;
  const details = errors.map((e) => (typeof e?.detail === 'string' ? e.detail : undefined)).filter((d): d is string => !!d);
  return details.length > 0 ? details.join('; ') : undefined;
}
