import { TiFake, isIPv4, isIPv6, secondsUntil, type FakeIncoming, type FakeResponse, type QuotaState, type TiFakeOptions } from './ti-fake-base.js';

/**
 * AlienVault OTX DirectConnect v1 fake: `X-OTX-API-KEY`, `/indicators/{IPv4|IPv6|domain|hostname|file|url}/{value}/{section}`
 * (unknown indicators: 200 with `pulse_info.count: 0`), `/pulses/subscribed` with `modified_since`
 * (inclusive), `limit`, `page` and an absolute `next` link, `/users/me`. OTX is a Django REST
 * Framework service: errors are `{"detail": ...}`, 403 for a bad key, throttling answers 429 with
 * `Retry-After`.
 */

export const OTX_FAKE_API_KEY = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';

export interface OtxFakeIndicator {
  id: number;
  indicator: string;
  /** OTX type names: IPv4, IPv6, domain, hostname, URL, FileHash-MD5, FileHash-SHA1, FileHash-SHA256. */
  type: string;
  created: string;
  title?: string;
  expiration?: string | null;
  is_active?: number;
}

export interface OtxFakePulse {
  id: string;
  name: string;
  author_name: string;
  created: string;
  modified: string;
  tlp: string;
  tags: string[];
  references: string[];
  malware_families: string[];
  attack_ids: string[];
  indicators: OtxFakeIndicator[];
}

let indicatorSeq = 1_000_000;

/** Build a pulse with sensible defaults; `modified` decides where it sits in the subscribed feed. */
export function otxPulse(id: string, modified: string, indicators: Array<[type: string, value: string]>, extra: Partial<OtxFakePulse> = {}): OtxFakePulse {
  return {
    id,
    name: extra.name ?? `Pulse ${id}`,
    author_name: extra.author_name ?? 'AlienVault',
    created: extra.created ?? modified,
    modified,
    tlp: extra.tlp ?? 'white',
    tags: extra.tags ?? ['malware'],
    references: extra.references ?? [`https://intel.example/${id}`],
    malware_families: extra.malware_families ?? [],
    attack_ids: extra.attack_ids ?? [],
    indicators: indicators.map(([type, indicator]) => ({ id: indicatorSeq++, indicator, type, created: modified, title: '', expiration: null, is_active: 1 })),
  };
}

/** Seed: a handful of pulses spread over a few days, covering every indicator type. */
export function otxSeedPulses(): OtxFakePulse[] {
  return [
    otxPulse(
      '6560a1f0c1b2d3e4f5a60001',
      '2026-11-20T08:00:00.000000',
      [
        ['IPv4', '198.51.100.66'],
        ['domain', 'malware.example.test'],
      ],
      { name: 'Bad Hosting botnet C2', tags: ['botnet', 'c2'], malware_families: ['Mirai'], attack_ids: ['T1071'] },
    ),
    otxPulse(
      '6560a1f0c1b2d3e4f5a60002',
      '2026-11-21T09:30:00.000000',
      [
        ['FileHash-SHA256', '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f'],
        ['FileHash-MD5', '44d88612fea8a8f36de82e1278abb02f'],
      ],
      { name: 'EICAR test droppers', tags: ['eicar'] },
    ),
    otxPulse(
      '6560a1f0c1b2d3e4f5a60003',
      '2026-11-22T10:00:00.000000',
      [
        ['URL', 'http://malware.example.test/payload.exe'],
        ['hostname', 'cdn.malware.example.test'],
      ],
      { name: 'Payload delivery', tags: ['dropper'] },
    ),
    otxPulse(
      '6560a1f0c1b2d3e4f5a60004',
      '2026-11-23T11:00:00.000000',
      [
        ['IPv4', '198.51.100.66'],
        ['IPv6', '2001:db8::bad'],
        ['FileHash-SHA1', '3395856ce81f2b7382dee72602f798b642f14140'],
      ],
      { name: 'Scanner wave', tags: ['scanner'] },
    ),
    otxPulse(
      '6560a1f0c1b2d3e4f5a60005',
      '2026-11-24T12:00:00.000000',
      [
        ['IPv4', '198.51.100.66'],
        ['IPv4', '203.0.113.7'],
        ['IPv4', '203.0.113.50'],
      ],
      { name: 'SSH brute force', tags: ['bruteforce', 'ssh'], attack_ids: ['T1110'] },
    ),
    otxPulse(
      '6560a1f0c1b2d3e4f5a60006',
      '2026-11-24T18:00:00.000000',
      [
        ['IPv4', '198.51.100.7'],
        ['URL', 'http://198.51.100.7/payload.sh'],
        ['URL', 'http://198.51.100.7/x.sh'],
      ],
      { name: 'Shellshock droppers', tags: ['shellshock', 'dropper'], attack_ids: ['T1190', 'T1105'] },
    ),
  ];
}

const TYPE_OF_PATH: Record<string, string[]> = {
  IPv4: ['IPv4'],
  IPv6: ['IPv6'],
  domain: ['domain', 'hostname'],
  hostname: ['hostname', 'domain'],
  file: ['FileHash-MD5', 'FileHash-SHA1', 'FileHash-SHA256'],
  url: ['URL'],
};
const SECTIONS: Record<string, string[]> = {
  IPv4: ['general', 'reputation', 'geo', 'malware', 'url_list', 'passive_dns'],
  IPv6: ['general', 'reputation', 'geo', 'malware', 'url_list', 'passive_dns'],
  domain: ['general', 'geo', 'malware', 'url_list', 'passive_dns'],
  hostname: ['general', 'geo', 'malware', 'url_list', 'passive_dns'],
  file: ['general', 'analysis'],
  url: ['general', 'url_list'],
};

export class OtxFake extends TiFake {
  protected readonly apiPrefix = '/api/v1';
  pulses: OtxFakePulse[];
  /** Indicators OTX marks as known-good (`validation`), e.g. popular domains. */
  readonly whitelisted = new Map<string, string>([
    ['example.com', 'Whitelisted domain (majestic top 1M)'],
    ['8.8.8.8', 'Whitelisted IP (Google DNS)'],
  ]);

  constructor(options: TiFakeOptions = {}) {
    super(options, [OTX_FAKE_API_KEY]);
    this.pulses = otxSeedPulses();
  }

  /** Add or replace a pulse (a modified pulse moves up the feed). */
  upsertPulse(pulse: OtxFakePulse): void {
    this.pulses = this.pulses.filter((p) => p.id !== pulse.id).concat(pulse);
  }

  protected extractKey(req: FakeIncoming): string | undefined {
    const v = req.headers['x-otx-api-key'];
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  }

  protected authError(_req: FakeIncoming, key: string | undefined): FakeResponse {
    if (key === undefined) return { status: 403, body: { detail: 'Authentication credentials were not provided.' } };
    return { status: 403, body: { detail: 'Invalid API key' } };
  }

  protected quotaError(_req: FakeIncoming, q: QuotaState): FakeResponse {
    const s = secondsUntil(q.resetAt, this.now());
    return { status: 429, body: { detail: `Request was throttled. Expected available in ${s} seconds.` }, headers: { 'retry-after': String(s) } };
  }

  protected serverError(_req: FakeIncoming, status: number): FakeResponse {
    if (status === 504) return { status, body: "<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>" };
    return { status, body: '<h1>Server Error (500)</h1>' };
  }

  protected route(req: FakeIncoming): FakeResponse {
    if (req.path === '/api/v1/users/me') return { status: 200, body: { username: 'fabric-tests', member_since: '2020-01-01', pulse_count: 0, subscriber_count: 0 } };
    if (req.path === '/api/v1/pulses/subscribed') return this.subscribed(req);
    const m = /^\/api\/v1\/indicators\/(IPv4|IPv6|domain|hostname|file|url)\/(.+)\/([a-z_]+)$/.exec(req.path);
    if (!m) return { status: 404, body: { detail: 'Not found.' } };
    const [, kind, encoded, section] = m as unknown as [string, string, string, string];
    const value = decodeURIComponent(encoded);
    if (!SECTIONS[kind]!.includes(section)) return { status: 404, body: { detail: 'Not found.' } };
    if (kind === 'IPv4' && !isIPv4(value)) return { status: 400, body: { detail: `Invalid IPv4 address: ${value}` } };
    if (kind === 'IPv6' && !isIPv6(value)) return { status: 400, body: { detail: `Invalid IPv6 address: ${value}` } };
    if (section !== 'general') return { status: 200, body: { indicator: value, sections: SECTIONS[kind] } };
    return { status: 200, body: this.general(kind, value) };
  }

  private general(kind: string, value: string): Record<string, unknown> {
    const types = TYPE_OF_PATH[kind]!;
    const needle = value.toLowerCase();
    const pulses = this.pulses.filter((p) => p.indicators.some((i) => types.includes(i.type) && i.indicator.toLowerCase() === needle));
    const wl = this.whitelisted.get(needle);
    return {
      indicator: value,
      type: kind === 'file' ? fileType(value) : kind,
      type_title: kind,
      base_indicator: pulses.length > 0 ? { indicator: value, type: kind } : {},
      pulse_info: {
        count: pulses.length,
        pulses: pulses.map((p) => ({
          id: p.id,
          name: p.name,
          tags: p.tags,
          created: p.created,
          modified: p.modified,
          author: { username: p.author_name },
          TLP: p.tlp,
          malware_families: p.malware_families.map((f) => ({ id: f, display_name: f })),
          attack_ids: p.attack_ids.map((a) => ({ id: a, name: a, display_name: a })),
        })),
        references: [...new Set(pulses.flatMap((p) => p.references))],
        related: { alienvault: { adversary: [], malware_families: [], industries: [] }, other: { adversary: [], malware_families: [], industries: [] } },
      },
      validation: wl ? [{ source: 'whitelist', message: wl, name: wl }] : [],
      false_positive: [],
      reputation: pulses.length > 0 ? 1 : 0,
      sections: SECTIONS[kind],
      ...(kind === 'IPv4' || kind === 'IPv6' ? { asn: 'AS64500 Example', country_code: 'NL' } : {}),
    };
  }

  private subscribed(req: FakeIncoming): FakeResponse {
    const limit = Math.max(1, Math.min(Number(req.query.get('limit') ?? 50) || 50, 50));
    const page = Math.max(1, Number(req.query.get('page') ?? 1) || 1);
    const since = req.query.get('modified_since');
    let list = [...this.pulses];
    if (since) {
      const t = parseOtxTime(since);
      if (Number.isNaN(t)) return { status: 400, body: { detail: `Invalid modified_since: ${since}` } };
      list = list.filter((p) => parseOtxTime(p.modified) >= t);
    }
    // Newest first, like the OTX web feed.
    list.sort((a, b) => parseOtxTime(b.modified) - parseOtxTime(a.modified) || (a.id < b.id ? -1 : 1));
    // Django REST Framework's page-number paging: a page past the end is 404 "Invalid page.".
    if (page > 1 && (page - 1) * limit >= list.length) return { status: 404, body: { detail: 'Invalid page.' } };
    const results = list.slice((page - 1) * limit, page * limit);
    const link = (p: number): string => {
      const q = new URLSearchParams(req.query);
      q.set('page', String(p));
      q.set('limit', String(limit));
      return `${this.origin}${req.path}?${q.toString()}`;
    };
    return {
      status: 200,
      body: { count: list.length, next: page * limit < list.length ? link(page + 1) : null, previous: page > 1 ? link(page - 1) : null, results },
    };
  }
}

/** OTX times are ISO 8601 without a zone (UTC), often with microseconds. */
export function parseOtxTime(s: string): number {
  const hasZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(s);
  return Date.parse(hasZone ? s : `${s.replace(/(\.\d{3})\d+$/, '$1')}Z`);
}

function fileType(h: string): string {
  return h.length === 32 ? 'FileHash-MD5' : h.length === 40 ? 'FileHash-SHA1' : 'FileHash-SHA256';
}
