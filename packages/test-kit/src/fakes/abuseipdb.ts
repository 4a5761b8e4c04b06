import { TiFake, isIPv4, isIPv6, secondsUntil, type FakeIncoming, type FakeResponse, type QuotaState, type TiFakeOptions } from './ti-fake-base.js';

/**
 * AbuseIPDB API v2 fake: `Key` header, `/check`, `/check-block` (up to /24 like the free tier),
 * `/blacklist`; errors as `{"errors":[{detail,status,source?}]}`; per-endpoint daily limits of the
 * free tier (check 1,000, check-block 100, blacklist 5) with `X-RateLimit-Limit`/`-Remaining` on
 * every answer and `Retry-After` + `X-RateLimit-Reset` (epoch seconds) on 429.
 */

export const ABUSEIPDB_FAKE_API_KEY = 'abuseipdb-fake-key-0123456789abcdef0123456789abcdef0123456789abcdef01234567';

export interface AbuseIpdbSeed {
  abuseConfidenceScore: number;
  totalReports: number;
  numDistinctUsers: number;
  isWhitelisted: boolean | null;
  countryCode: string | null;
  usageType: string | null;
  isp: string | null;
  domain: string | null;
  isTor: boolean;
  /** ISO time of the latest report, or null. */
  lastReportedAt: string | null;
  hostnames?: string[];
}

/** Seed with report times relative to `anchorMs` (so the data never ages out of maxAgeInDays). */
export function abuseIpdbSeed(anchorMs: number): Record<string, AbuseIpdbSeed> {
  const ago = (hours: number): string => new Date(Math.floor(anchorMs / 1000) * 1000 - hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  return {
    '198.51.100.66': {
      abuseConfidenceScore: 100,
      totalReports: 254,
      numDistinctUsers: 87,
      isWhitelisted: false,
      countryCode: 'NL',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Example Bad Hosting',
      domain: 'badhost.example',
      isTor: false,
      lastReportedAt: ago(3),
    },
    '198.51.100.67': {
      abuseConfidenceScore: 82,
      totalReports: 31,
      numDistinctUsers: 12,
      isWhitelisted: false,
      countryCode: 'NL',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Example Bad Hosting',
      domain: 'badhost.example',
      isTor: false,
      lastReportedAt: ago(40),
    },
    '203.0.113.7': {
      abuseConfidenceScore: 40,
      totalReports: 6,
      numDistinctUsers: 4,
      isWhitelisted: false,
      countryCode: 'DE',
      usageType: 'Fixed Line ISP',
      isp: 'Example Transit',
      domain: 'transit.example',
      isTor: false,
      lastReportedAt: ago(24 * 7),
    },
    '192.0.2.10': {
      abuseConfidenceScore: 3,
      totalReports: 1,
      numDistinctUsers: 1,
      isWhitelisted: false,
      countryCode: 'US',
      usageType: 'Fixed Line ISP',
      isp: 'Example Home ISP',
      domain: 'home.example',
      isTor: false,
      lastReportedAt: ago(24 * 20),
    },
    '8.8.8.8': {
      abuseConfidenceScore: 0,
      totalReports: 38,
      numDistinctUsers: 20,
      isWhitelisted: true,
      countryCode: 'US',
      usageType: 'Content Delivery Network',
      isp: 'Google LLC',
      domain: 'google.com',
      isTor: false,
      lastReportedAt: ago(20),
      hostnames: ['dns.google'],
    },
    // Attackers of the quickstart sample logs (scripts/generate-sample-logs.mjs).
    '203.0.113.50': {
      abuseConfidenceScore: 100,
      totalReports: 612,
      numDistinctUsers: 140,
      isWhitelisted: false,
      countryCode: 'DE',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Example Transit',
      domain: 'transit.example',
      isTor: false,
      lastReportedAt: ago(1),
    },
    '198.51.100.23': {
      abuseConfidenceScore: 57,
      totalReports: 14,
      numDistinctUsers: 9,
      isWhitelisted: false,
      countryCode: 'NL',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Example Bad Hosting',
      domain: 'badhost.example',
      isTor: false,
      lastReportedAt: ago(30),
    },
    '198.51.100.7': {
      abuseConfidenceScore: 88,
      totalReports: 77,
      numDistinctUsers: 31,
      isWhitelisted: false,
      countryCode: 'NL',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Example Bad Hosting',
      domain: 'badhost.example',
      isTor: false,
      lastReportedAt: ago(6),
    },
    '2001:db8::bad': {
      abuseConfidenceScore: 91,
      totalReports: 44,
      numDistinctUsers: 19,
      isWhitelisted: false,
      countryCode: 'FR',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Example v6 Hosting',
      domain: 'v6bad.example',
      isTor: true,
      lastReportedAt: ago(10),
    },
  };
}

export class AbuseIpdbFake extends TiFake {
  protected readonly apiPrefix = '/api/v2';
  readonly ips: Record<string, AbuseIpdbSeed>;
  /** Changes the blacklist's `meta.generatedAt` (the real list is regenerated periodically). */
  generatedAt: string | undefined;

  constructor(options: TiFakeOptions = {}) {
    super({ quotas: { check: { perDay: 1000 }, 'check-block': { perDay: 100 }, blacklist: { perDay: 5 } }, ...options }, [ABUSEIPDB_FAKE_API_KEY]);
    this.ips = abuseIpdbSeed(this.now());
  }

  protected override bucketOf(req: FakeIncoming): string {
    return req.path.replace(/^\/api\/v2\//, '').split('/')[0] ?? 'unknown';
  }

  protected extractKey(req: FakeIncoming): string | undefined {
    const v = req.headers['key'];
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  }

  protected authError(): FakeResponse {
    return errors(401, 'Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs from the APIv1 key.');
  }

  protected quotaError(_req: FakeIncoming, q: QuotaState): FakeResponse {
    const now = this.now();
    const detail =
      q.window === 'day'
        ? `Daily rate limit of ${q.limit} requests exceeded for this endpoint. See headers for additional details.`
        : `Rate limit of ${q.limit} requests per minute exceeded for this endpoint. See headers for additional details.`;
    return {
      ...errors(429, detail),
      headers: {
        'retry-after': String(secondsUntil(q.resetAt, now)),
        'x-ratelimit-limit': String(q.limit),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.ceil(q.resetAt / 1000)),
      },
    };
  }

  protected override quotaHeaders(_req: FakeIncoming, _bucket: string, remaining: number | undefined, limit: number | undefined): Record<string, string> {
    if (limit === undefined || remaining === undefined) return {};
    return { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': String(remaining) };
  }

  protected serverError(_req: FakeIncoming, status: number): FakeResponse {
    return { status, body: '<html><head><title>Server Error</title></head><body>Server Error</body></html>' };
  }

  protected route(req: FakeIncoming): FakeResponse {
    if (req.headers['accept'] !== undefined && !String(req.headers['accept']).includes('json') && !String(req.headers['accept']).includes('*/*')) {
      return errors(406, 'The Accept header must be application/json.');
    }
    switch (req.path) {
      case '/api/v2/check':
        return this.check(req);
      case '/api/v2/check-block':
        return this.checkBlock(req);
      case '/api/v2/blacklist':
        return this.blacklist(req);
      default:
        return errors(404, 'The requested resource could not be found.');
    }
  }

  private maxAge(req: FakeIncoming): number | FakeResponse {
    const raw = req.query.get('maxAgeInDays');
    if (raw === null) return 30;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 365) return errors(422, 'The max age in days must be between 1 and 365.', 'maxAgeInDays');
    return n;
  }

  private check(req: FakeIncoming): FakeResponse {
    const ip = req.query.get('ipAddress');
    if (!ip) return errors(422, 'The ip address field is required.', 'ipAddress');
    if (!isIPv4(ip) && !isIPv6(ip)) return errors(422, 'The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).', 'ipAddress');
    const maxAge = this.maxAge(req);
    if (typeof maxAge !== 'number') return maxAge;
    const seed = this.withinAge(this.ips[ip.toLowerCase()], maxAge);
    const isPublic = !/^(10\.|127\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(ip);
    const data: Record<string, unknown> = {
      ipAddress: ip,
      isPublic,
      ipVersion: isIPv4(ip) ? 4 : 6,
      isWhitelisted: seed?.isWhitelisted ?? null,
      abuseConfidenceScore: seed?.abuseConfidenceScore ?? 0,
      countryCode: seed?.countryCode ?? null,
      usageType: seed?.usageType ?? null,
      isp: seed?.isp ?? null,
      domain: seed?.domain ?? null,
      hostnames: seed?.hostnames ?? [],
      isTor: seed?.isTor ?? false,
      totalReports: seed?.totalReports ?? 0,
      numDistinctUsers: seed?.numDistinctUsers ?? 0,
      lastReportedAt: seed?.lastReportedAt ?? null,
    };
    if (req.query.has('verbose')) data['reports'] = [];
    return { status: 200, body: { data } };
  }

  private withinAge(seed: AbuseIpdbSeed | undefined, maxAge: number): AbuseIpdbSeed | undefined {
    if (!seed || !seed.lastReportedAt) return seed;
    const age = (this.now() - Date.parse(seed.lastReportedAt)) / 86_400_000;
    if (age <= maxAge) return seed;
    return { ...seed, abuseConfidenceScore: 0, totalReports: 0, numDistinctUsers: 0, lastReportedAt: null };
  }

  private checkBlock(req: FakeIncoming): FakeResponse {
    const network = req.query.get('network');
    if (!network) return errors(422, 'The network field is required.', 'network');
    const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/.exec(network);
    if (!m || !isIPv4(m[1]!)) return errors(422, 'The network must be a valid IPv4 CIDR notation (e.g. 127.0.0.1/24).', 'network');
    const prefix = Number(m[2]);
    if (prefix < 24) return errors(402, `Your subscription only allows checking networks up to /24; /${prefix} requested.`, 'network');
    const maxAge = this.maxAge(req);
    if (typeof maxAge !== 'number') return maxAge;
    const base = (ipToInt(m[1]!) & maskOf(prefix)) >>> 0;
    const reported = Object.entries(this.ips)
      .filter(([ip]) => isIPv4(ip) && (ipToInt(ip) & maskOf(prefix)) >>> 0 === base)
      .map(([ip, s]) => [ip, this.withinAge(s, maxAge)!] as const)
      .filter(([, s]) => s.totalReports > 0)
      .map(([ip, s]) => ({
        ipAddress: ip,
        numReports: s.totalReports,
        mostRecentReport: s.lastReportedAt,
        abuseConfidenceScore: s.abuseConfidenceScore,
        countryCode: s.countryCode,
      }));
    const networkAddress = intToIp(base);
    const size = 2 ** (32 - prefix);
    return {
      status: 200,
      body: {
        data: {
          networkAddress,
          netmask: intToIp(maskOf(prefix)),
          minAddress: intToIp(base + (size > 2 ? 1 : 0)),
          maxAddress: intToIp(base + size - (size > 2 ? 2 : 1)),
          numPossibleHosts: size > 2 ? size - 2 : size,
          addressSpaceDesc: 'Internet',
          reportedAddress: reported,
        },
      },
    };
  }

  private blacklist(req: FakeIncoming): FakeResponse {
    const minRaw = req.query.get('confidenceMinimum');
    const min = minRaw === null ? 100 : Number(minRaw);
    if (!Number.isInteger(min) || min < 25 || min > 100) return errors(422, 'The confidence minimum must be between 25 and 100.', 'confidenceMinimum');
    const limitRaw = req.query.get('limit');
    const limit = limitRaw === null ? 10_000 : Math.min(Number(limitRaw), 10_000);
    const data = Object.entries(this.ips)
      .filter(([, s]) => s.abuseConfidenceScore >= min && s.lastReportedAt !== null)
      .sort((a, b) => b[1].abuseConfidenceScore - a[1].abuseConfidenceScore || Date.parse(b[1].lastReportedAt!) - Date.parse(a[1].lastReportedAt!))
      .slice(0, limit)
      .map(([ip, s]) => ({ ipAddress: ip, countryCode: s.countryCode, abuseConfidenceScore: s.abuseConfidenceScore, lastReportedAt: s.lastReportedAt }));
    return { status: 200, body: { meta: { generatedAt: this.generatedAt ?? new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, '+00:00') }, data } };
  }
}

function errors(status: number, detail: string, parameter?: string): FakeResponse {
  return { status, body: { errors: [{ detail, status, ...(parameter ? { source: { parameter } } : {}) }] } };
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
