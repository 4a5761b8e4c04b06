import { ErrorCodes, type HttpAnswer, httpSend, httpStatusError, joinUrl, msUntilUtcMidnight, PluginError } from '@reactive-fabric/core';
import type { Indicator } from '@reactive-fabric/core';

const VENDOR = 'VirusTotal';

export interface VtObject {
  id: string;
  type: string;
  links?: { self?: string };
  attributes: Record<string, unknown>;
}

/** VirusTotal's URL identifier: URL-safe base64 of the URL without `=` padding. */
export function urlId(url: string): string {
  return Buffer.from(url, 'utf8').toString('base64url');
}

export function pathFor(indicator: Indicator): string {
  const v = encodeURIComponent(indicator.value);
  switch (indicator.type) {
    case 'ipv4':
    case 'ipv6':
      return `/ip_addresses/${v}`;
    case 'domain':
      return `/domains/${v}`;
    case 'md5':
    case 'sha1':
    case 'sha256':
      return `/files/${v}`;
    case 'url':
      return `/urls/${urlId(indicator.value)}`;
  }
}

export interface VtClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  requestsPerDay: number;
}

/**
 * Talks to VirusTotal v3. VirusTotal sends no rate-limit headers and uses QuotaExceededError for
 * both the per-minute and the daily quota, so the client tells them apart itself: a 429 while
 * this instance has already spent the daily budget today, or a 429 that persists across a whole
 * minute window, is the daily quota (retry after 00:00 UTC); otherwise it is the minute window.
 */
export class VtClient {
  private day = -1;
  private usedToday = 0;
  private firstQuotaHitAt: number | undefined;

  constructor(private readonly opts: VtClientOptions) {}

  /** The object, or undefined when VirusTotal does not know it (404 NotFoundError). */
  async get(path: string, signal: AbortSignal): Promise<VtObject | undefined | { invalid: string }> {
    const what = `GET ${path}`;
    const answer = await httpSend(joinUrl(this.opts.baseUrl, path), { method: 'GET', headers: { 'x-apikey': this.opts.apiKey, accept: 'application/json' } }, what, {
      vendor: VENDOR,
      signal,
      timeoutMs: this.opts.timeoutMs,
    });
    const err = errorOf(answer.json);
    if (answer.status === 200) {
      this.count();
      this.firstQuotaHitAt = undefined;
      const data = (answer.json as { data?: VtObject } | undefined)?.data;
      if (!data || typeof data !== 'object' || typeof data.attributes !== 'object' || data.attributes === null) {
        throw new PluginError(ErrorCodes.BAD_RESPONSE, `${VENDOR} answered ${what} with no data.attributes object: ${answer.text.slice(0, 200)}`);
      }
      return data;
    }
    if (answer.status === 404 && err?.code === 'NotFoundError') {
      this.count();
      return undefined;
    }
    if (answer.status === 400 && (err?.code === 'InvalidArgumentError' || err?.code === 'BadRequestError')) {
      return { invalid: err.message ?? err.code };
    }
    if (answer.status === 429) throw this.quotaError(err);
    throw httpStatusError(VENDOR, what, answer, err ? `${err.code}: ${err.message ?? ''}`.trim() : answer.text.slice(0, 200) || undefined);
  }

  private count(): void {
    const d = Math.floor(Date.now() / 86_400_000);
    if (d !== this.day) {
      this.day = d;
      this.usedToday = 0;
    }
    this.usedToday++;
  }

  private quotaError(err: { code: string; message?: string } | undefined): PluginError {
    const now = Date.now();
    const today = Math.floor(now / 86_400_000);
    this.firstQuotaHitAt ??= now;
    const spentDaily = this.day === today && this.usedToday >= this.opts.requestsPerDay;
    const persisted = now - this.firstQuotaHitAt >= 60_000;
    const code = err?.code ?? 'QuotaExceededError';
    if (spentDaily || persisted) {
      return new PluginError(ErrorCodes.QUOTA_EXHAUSTED, `${VENDOR} daily quota is used up (${code}); lookups resume after 00:00 UTC`, {
        retryAfterMs: msUntilUtcMidnight(now),
        detail: { status: 429, vendorCode: code },
      });
    }
    // The per-minute window: the next one starts at most a minute from now.
    return new PluginError(ErrorCodes.RATE_LIMITED, `${VENDOR} per-minute quota reached (${code}); retry in 60s`, {
      retryAfterMs: 60_000,
      detail: { status: 429, vendorCode: code },
    });
  }
}

function errorOf(json: unknown): { code: string; message?: string } | undefined {
  const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!e || typeof e.code !== 'string') return undefined;
  return { code: e.code, ...(typeof e.message === 'string' ? { message: e.message } : {}) };
}

export type { HttpAnswer };
