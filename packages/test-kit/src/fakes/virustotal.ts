import { createHash } from 'node:crypto';
import { TiFake, isIPv4, isIPv6, type FakeIncoming, type FakeResponse, type TiFakeOptions } from './ti-fake-base.js';

/**
 * VirusTotal API v3 fake: `x-apikey` auth, `/ip_addresses`, `/domains`, `/files` (MD5/SHA-1/SHA-256,
 * `id` always the SHA-256), `/urls/{unpadded url-safe base64 | sha256}`, errors as
 * `{"error":{"code","message"}}`, 429 QuotaExceededError without rate-limit headers (as documented),
 * public-API quota 4/min and 500/day by default.
 */

export const VT_FAKE_API_KEY = 'vt-fake-key-0123456789abcdef0123456789abcdef0123456789abcdef0123';

export interface VtStats {
  harmless: number;
  malicious: number;
  suspicious: number;
  undetected: number;
  timeout: number;
}

export interface VtSeedObject {
  stats: VtStats;
  reputation?: number;
  tags?: string[];
  /** Extra attributes (as_owner, country, meaningful_name…). */
  attributes?: Record<string, unknown>;
}

export interface VtSeedFile extends VtSeedObject {
  md5: string;
  sha1: string;
  sha256: string;
}

/** Seeded, well-known indicators (documentation ranges, EICAR, the empty file). */
export const VT_SEED = {
  ips: {
    '198.51.100.66': {
      stats: { harmless: 52, malicious: 12, suspicious: 2, undetected: 28, timeout: 0 },
      reputation: -41,
      tags: ['scanner'],
      attributes: { as_owner: 'Example Bad Hosting', asn: 64500, country: 'NL', network: '198.51.100.0/24' },
    },
    '203.0.113.7': {
      stats: { harmless: 60, malicious: 1, suspicious: 1, undetected: 32, timeout: 0 },
      reputation: -2,
      attributes: { as_owner: 'Example Transit', asn: 64501, country: 'DE', network: '203.0.113.0/24' },
    },
    '8.8.8.8': {
      stats: { harmless: 64, malicious: 0, suspicious: 0, undetected: 30, timeout: 0 },
      reputation: 523,
      attributes: { as_owner: 'GOOGLE', asn: 15169, country: 'US', network: '8.8.8.0/24' },
    },
    '2001:db8::bad': {
      stats: { harmless: 50, malicious: 7, suspicious: 0, undetected: 37, timeout: 0 },
      reputation: -12,
      attributes: { as_owner: 'Example v6 Hosting', asn: 64502, country: 'FR', network: '2001:db8::/32' },
    },
    // Attackers of the quickstart sample logs (scripts/generate-sample-logs.mjs).
    '203.0.113.50': {
      stats: { harmless: 55, malicious: 6, suspicious: 1, undetected: 32, timeout: 0 },
      reputation: -15,
      tags: ['ssh-bruteforce'],
      attributes: { as_owner: 'Example Transit', asn: 64501, country: 'DE', network: '203.0.113.0/24' },
    },
    '198.51.100.23': {
      stats: { harmless: 60, malicious: 2, suspicious: 1, undetected: 31, timeout: 0 },
      reputation: -3,
      attributes: { as_owner: 'Example Bad Hosting', asn: 64500, country: 'NL', network: '198.51.100.0/24' },
    },
    '198.51.100.7': {
      stats: { harmless: 48, malicious: 9, suspicious: 2, undetected: 35, timeout: 0 },
      reputation: -33,
      tags: ['malware-distribution'],
      attributes: { as_owner: 'Example Bad Hosting', asn: 64500, country: 'NL', network: '198.51.100.0/24' },
    },
  } as Record<string, VtSeedObject>,
  domains: {
    'malware.example.test': { stats: { harmless: 40, malicious: 15, suspicious: 3, undetected: 36, timeout: 0 }, reputation: -60, tags: ['malware'] },
    'example.com': { stats: { harmless: 70, malicious: 0, suspicious: 0, undetected: 24, timeout: 0 }, reputation: 100 },
  } as Record<string, VtSeedObject>,
  files: [
    {
      // EICAR test file
      md5: '44d88612fea8a8f36de82e1278abb02f',
      sha1: '3395856ce81f2b7382dee72602f798b642f14140',
      sha256: '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
      stats: { harmless: 0, malicious: 62, suspicious: 0, undetected: 8, timeout: 0 },
      reputation: -100,
      tags: ['eicar', 'text'],
      attributes: { meaningful_name: 'eicar.com', size: 68 },
    },
    {
      // the empty file
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
      sha1: 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      stats: { harmless: 0, malicious: 0, suspicious: 0, undetected: 70, timeout: 0 },
      reputation: 0,
      attributes: { meaningful_name: 'empty', size: 0 },
    },
  ] as VtSeedFile[],
  urls: {
    'http://malware.example.test/payload.exe': { stats: { harmless: 60, malicious: 9, suspicious: 1, undetected: 20, timeout: 0 }, reputation: -20, tags: ['download'] },
    'https://example.com/': { stats: { harmless: 80, malicious: 0, suspicious: 0, undetected: 10, timeout: 0 }, reputation: 10 },
    'http://198.51.100.7/payload.sh': { stats: { harmless: 52, malicious: 11, suspicious: 1, undetected: 26, timeout: 0 }, reputation: -40, tags: ['shell-script'] },
    'http://198.51.100.7/x.sh': { stats: { harmless: 56, malicious: 7, suspicious: 0, undetected: 27, timeout: 0 }, reputation: -20, tags: ['shellshock'] },
  } as Record<string, VtSeedObject>,
};

/** VirusTotal's URL identifier: URL-safe base64 without padding. */
export function vtUrlId(url: string): string {
  return Buffer.from(url, 'utf8').toString('base64url');
}

const ENGINES = ['Kaspersky', 'BitDefender', 'ESET-NOD32', 'Sophos', 'Fortinet', 'Google Safebrowsing', 'CRDF'];

export class VirusTotalFake extends TiFake {
  protected readonly apiPrefix = '/api/v3';
  readonly ips: Record<string, VtSeedObject>;
  readonly domains: Record<string, VtSeedObject>;
  readonly files: VtSeedFile[];
  readonly urls: Record<string, VtSeedObject>;

  constructor(options: TiFakeOptions = {}) {
    super({ quotas: { '*': { perMinute: 4, perDay: 500 } }, ...options }, [VT_FAKE_API_KEY]);
    this.ips = structuredClone(VT_SEED.ips);
    this.domains = structuredClone(VT_SEED.domains);
    this.files = structuredClone(VT_SEED.files);
    this.urls = structuredClone(VT_SEED.urls);
  }

  protected extractKey(req: FakeIncoming): string | undefined {
    const v = req.headers['x-apikey'];
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  }

  protected authError(_req: FakeIncoming, key: string | undefined): FakeResponse {
    if (key === undefined) return vtError(401, 'AuthenticationRequiredError', 'X-Apikey header is missing');
    return vtError(401, 'WrongCredentialsError', 'Wrong API key');
  }

  protected quotaError(): FakeResponse {
    // VirusTotal answers both the per-minute and the daily limit the same way, with no headers.
    return vtError(429, 'QuotaExceededError', 'Quota exceeded');
  }

  protected serverError(_req: FakeIncoming, status: number): FakeResponse {
    if (status === 504) return vtError(504, 'DeadlineExceededError', 'Operation deadline exceeded');
    if (status === 503) return vtError(503, 'TransientError', 'Transient error, please retry');
    return { status, body: '<html><body><h1>Server Error</h1></body></html>' };
  }

  protected route(req: FakeIncoming): FakeResponse {
    if (req.method !== 'GET') return vtError(405, 'MethodNotAllowedError', `Method ${req.method} not allowed`);
    const m = /^\/api\/v3\/(ip_addresses|domains|files|urls)\/([^/]+)$/.exec(req.path);
    if (!m) return vtError(404, 'NotFoundError', `Resource not found`);
    const collection = m[1]!;
    const raw = decodeURIComponent(m[2]!);
    const self = `${this.origin}${req.path}`;
    switch (collection) {
      case 'ip_addresses': {
        if (!isIPv4(raw) && !isIPv6(raw)) return vtError(400, 'InvalidArgumentError', `${raw} is not a valid IP address`);
        const seed = this.ips[raw.toLowerCase()];
        // VirusTotal has an object for every valid IP; never-analysed ones carry empty stats.
        return ok(raw, 'ip_address', self, seed ?? { stats: { harmless: 0, malicious: 0, suspicious: 0, undetected: 0, timeout: 0 } }, !seed);
      }
      case 'domains': {
        const seed = this.domains[raw.toLowerCase()];
        if (!seed) return vtError(404, 'NotFoundError', `Domain "${raw}" not found`);
        return ok(raw.toLowerCase(), 'domain', self, seed, false);
      }
      case 'files': {
        if (!/^([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.test(raw)) return vtError(400, 'InvalidArgumentError', `Invalid file hash: ${raw}`);
        const h = raw.toLowerCase();
        const f = this.files.find((x) => x.md5 === h || x.sha1 === h || x.sha256 === h);
        if (!f) return vtError(404, 'NotFoundError', `File "${raw}" not found`);
        return ok(f.sha256, 'file', `${this.origin}/api/v3/files/${f.sha256}`, { ...f, attributes: { md5: f.md5, sha1: f.sha1, sha256: f.sha256, ...f.attributes } }, false);
      }
      default: {
        const url = this.urlFromId(raw);
        const seed = url === undefined ? undefined : this.urls[url];
        if (url === undefined || !seed) return vtError(404, 'NotFoundError', `URL "${raw}" not found`);
        const sha = createHash('sha256').update(url).digest('hex');
        return ok(sha, 'url', `${this.origin}/api/v3/urls/${sha}`, { ...seed, attributes: { url, last_final_url: url, ...seed.attributes } }, false);
      }
    }
  }

  private urlFromId(id: string): string | undefined {
    for (const url of Object.keys(this.urls)) {
      // Only the exact unpadded id or the SHA-256 identify a URL; padded ids are not found.
      if (vtUrlId(url) === id || createHash('sha256').update(url).digest('hex') === id.toLowerCase()) return url;
    }
    return undefined;
  }
}

function vtError(status: number, code: string, message: string): FakeResponse {
  return { status, body: { error: { code, message } } };
}

function ok(id: string, type: string, self: string, seed: VtSeedObject, neverAnalysed: boolean): FakeResponse {
  const s = seed.stats;
  const results: Record<string, unknown> = {};
  let i = 0;
  for (const engine of ENGINES) {
    const category = i < s.malicious ? 'malicious' : i < s.malicious + s.suspicious ? 'suspicious' : i < s.malicious + s.suspicious + s.harmless ? 'harmless' : 'undetected';
    if (i < s.malicious + s.suspicious + s.harmless + s.undetected) {
      results[engine] = {
        category,
        engine_name: engine,
        method: 'blacklist',
        result: category === 'malicious' ? 'malware' : category === 'suspicious' ? 'suspicious' : category === 'harmless' ? 'clean' : 'unrated',
      };
    }
    i++;
  }
  const attributes: Record<string, unknown> = {
    last_analysis_stats: type === 'file' ? { ...s, 'confirmed-timeout': 0, failure: 0, 'type-unsupported': 0 } : s,
    last_analysis_results: results,
    reputation: seed.reputation ?? 0,
    total_votes: { harmless: s.harmless > 0 ? 3 : 0, malicious: s.malicious > 0 ? 5 : 0 },
    tags: seed.tags ?? [],
    ...(seed.attributes ?? {}),
  };
  if (!neverAnalysed) attributes['last_analysis_date'] = 1_764_000_000;
  return { status: 200, body: { data: { id, type, links: { self }, attributes } } };
}
