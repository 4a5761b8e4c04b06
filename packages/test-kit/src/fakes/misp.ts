import { TiFake, secondsUntil, type FakeIncoming, type FakeResponse, type QuotaState, type TiFakeOptions } from './ti-fake-base.js';

/**
 * MISP REST fake: `Authorization: <40-char key>`, `POST /attributes/restSearch` (value string or list,
 * `%` wildcards, type, to_ids, tags, timestamp / last, limit + page, ordered by timestamp then id),
 * `POST /events/restSearch`, `GET /servers/getVersion`; errors `{name, message, url}`; optional
 * rate limiting on restSearch with `X-Rate-Limit-Limit/-Remaining/-Reset` (seconds until reset).
 */

export const MISP_FAKE_API_KEY = 'MispFakeKey0123456789abcdefABCDEF01234567';

export interface MispFakeAttribute {
  id: string;
  event_id: string;
  category: string;
  type: string;
  value: string;
  to_ids: boolean;
  uuid: string;
  /** Epoch seconds, as MISP sends them: a string. */
  timestamp: string;
  comment?: string;
  tags?: string[];
}

export interface MispFakeEvent {
  id: string;
  uuid: string;
  info: string;
  threat_level_id: string;
  analysis: string;
  date: string;
  published: boolean;
  orgc: string;
  tags: string[];
}

export const MISP_SEED_EVENTS: MispFakeEvent[] = [
  {
    id: '101',
    uuid: '5f2b8c1e-0101-4a5b-9c1d-000000000101',
    info: 'Bad Hosting C2 infrastructure',
    threat_level_id: '1',
    analysis: '2',
    date: '2026-11-20',
    published: true,
    orgc: 'CIRCL',
    tags: ['tlp:green', 'misp-galaxy:threat-actor="Example Group"'],
  },
  {
    id: '102',
    uuid: '5f2b8c1e-0102-4a5b-9c1d-000000000102',
    info: 'EICAR dropper campaign',
    threat_level_id: '2',
    analysis: '2',
    date: '2026-11-21',
    published: true,
    orgc: 'CIRCL',
    tags: ['tlp:white'],
  },
  {
    id: '103',
    uuid: '5f2b8c1e-0103-4a5b-9c1d-000000000103',
    info: 'Phishing kit sightings',
    threat_level_id: '3',
    analysis: '1',
    date: '2026-11-22',
    published: true,
    orgc: 'ORG-A',
    tags: ['tlp:amber'],
  },
];

let seq = 5000;
/** Build an attribute with a fresh id/uuid. */
export function mispAttribute(
  eventId: string,
  type: string,
  value: string,
  timestamp: number,
  opts: { to_ids?: boolean; category?: string; tags?: string[]; comment?: string } = {},
): MispFakeAttribute {
  const id = String(seq++);
  return {
    id,
    event_id: eventId,
    category: opts.category ?? (type.startsWith('ip') ? 'Network activity' : type === 'url' || type === 'domain' || type === 'hostname' ? 'Network activity' : 'Payload delivery'),
    type,
    value,
    to_ids: opts.to_ids ?? true,
    uuid: `a1b2c3d4-${id.padStart(4, '0')}-4e5f-8a9b-${id.padStart(12, '0')}`,
    timestamp: String(timestamp),
    ...(opts.comment === undefined ? {} : { comment: opts.comment }),
    tags: opts.tags ?? [],
  };
}

export function mispSeedAttributes(): MispFakeAttribute[] {
  const t0 = 1_763_600_000; // 2025-11-20
  return [
    mispAttribute('101', 'ip-dst', '198.51.100.66', t0, { tags: ['kill-chain:Command and Control'] }),
    mispAttribute('101', 'domain', 'malware.example.test', t0 + 60),
    mispAttribute('101', 'ip-dst|port', '198.51.100.67|443', t0 + 120),
    mispAttribute('102', 'sha256', '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f', t0 + 3600),
    mispAttribute('102', 'md5', '44d88612fea8a8f36de82e1278abb02f', t0 + 3600),
    mispAttribute('102', 'sha1', '3395856ce81f2b7382dee72602f798b642f14140', t0 + 3600),
    mispAttribute('102', 'url', 'http://malware.example.test/payload.exe', t0 + 3700),
    mispAttribute('103', 'ip-src', '203.0.113.7', t0 + 7200, { to_ids: false, comment: 'seen scanning, not confirmed' }),
    mispAttribute('103', 'ip-src', '2001:db8::bad', t0 + 7300),
    mispAttribute('103', 'hostname', 'login.phish.example.test', t0 + 7400),
    mispAttribute('103', 'ip-dst', '8.8.8.8', t0 + 7500, { to_ids: false, comment: 'resolver used by the kit' }),
    // Seen in the quickstart sample logs (scripts/generate-sample-logs.mjs).
    mispAttribute('101', 'ip-dst', '198.51.100.7', t0 + 8000, { tags: ['kill-chain:Delivery'] }),
    mispAttribute('101', 'url', 'http://198.51.100.7/install.sh', t0 + 8000),
  ];
}

/** Values on the fake's warninglist (dropped when a search sets enforceWarninglist). */
export const MISP_FAKE_WARNINGLIST = ['8.8.8.8', '1.1.1.1', 'example.com'];

export class MispFake extends TiFake {
  protected readonly apiPrefix = '';
  attributes: MispFakeAttribute[];
  events: MispFakeEvent[];

  constructor(options: TiFakeOptions = {}) {
    super(options, [MISP_FAKE_API_KEY]);
    this.attributes = mispSeedAttributes();
    this.events = structuredClone(MISP_SEED_EVENTS);
  }

  protected extractKey(req: FakeIncoming): string | undefined {
    const v = req.headers['authorization'];
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  }

  protected authError(req: FakeIncoming): FakeResponse {
    const msg = 'Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.';
    return { status: 403, body: { name: msg, message: msg, url: req.path } };
  }

  protected override bucketOf(req: FakeIncoming): string {
    return req.path.endsWith('/restSearch') ? 'restSearch' : 'other';
  }

  protected quotaError(req: FakeIncoming, q: QuotaState): FakeResponse {
    return {
      status: 429,
      body: { name: 'Rate limit exceeded.', message: 'Rate limit exceeded.', url: req.path },
      headers: { 'x-rate-limit-limit': String(q.limit), 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(secondsUntil(q.resetAt, this.now())) },
    };
  }

  protected override quotaHeaders(_req: FakeIncoming, bucket: string, remaining: number | undefined, limit: number | undefined): Record<string, string> {
    if (bucket !== 'restSearch' || limit === undefined || remaining === undefined) return {};
    return { 'x-rate-limit-limit': String(limit), 'x-rate-limit-remaining': String(remaining), 'x-rate-limit-reset': '60' };
  }

  protected serverError(req: FakeIncoming, status: number): FakeResponse {
    return { status, body: { name: 'An Internal Error Has Occurred.', message: 'An Internal Error Has Occurred.', url: req.path } };
  }

  protected route(req: FakeIncoming): FakeResponse {
    if (req.method === 'GET' && req.path === '/servers/getVersion')
      return { status: 200, body: { version: '2.4.200', pymisp_recommended_version: '2.4.200', perm_sync: false, perm_sighting: false } };
    if (req.method === 'POST' && req.path === '/attributes/restSearch') return this.attributeSearch(req);
    if (req.method === 'POST' && req.path === '/events/restSearch') return this.eventSearch(req);
    return { status: 404, body: { name: 'Not Found', message: 'Not Found', url: req.path } };
  }

  private parseBody(req: FakeIncoming): Record<string, unknown> | FakeResponse {
    if (req.body === undefined) return {};
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      return {
        status: 400,
        body: { name: 'Invalid request body.', message: 'Either specify the search terms in the url, or POST a json with the filter parameters.', url: req.path },
      };
    }
    return req.body as Record<string, unknown>;
  }

  private filtered(body: Record<string, unknown>): MispFakeAttribute[] | string {
    let list = [...this.attributes];
    const values = toList(body['value']);
    if (values) {
      const patterns = values.map((v) => likeToRegExp(v));
      // MISP matches composite attributes (ip-dst|port) on each component as well as the whole value.
      list = list.filter((a) => patterns.some((re) => re.test(a.value) || a.value.split('|').some((part) => re.test(part))));
    }
    if (body['enforceWarninglist'] === true || body['enforceWarninglist'] === 1 || body['enforceWarninglist'] === '1') {
      list = list.filter((a) => !a.value.split('|').some((part) => MISP_FAKE_WARNINGLIST.includes(part.toLowerCase())));
    }
    const types = toList(body['type']);
    if (types) list = list.filter((a) => types.includes(a.type));
    if (body['to_ids'] !== undefined) {
      const want = body['to_ids'] === true || body['to_ids'] === 1 || body['to_ids'] === '1';
      list = list.filter((a) => a.to_ids === want);
    }
    const tags = toList(body['tags']);
    if (tags) list = list.filter((a) => tags.some((t) => (a.tags ?? []).includes(t) || (this.event(a.event_id)?.tags ?? []).includes(t)));
    const ts = body['timestamp'] ?? body['last'];
    if (ts !== undefined) {
      const range = parseTimeFilter(ts, Math.floor(this.now() / 1000));
      if (typeof range === 'string') return range;
      list = list.filter((a) => Number(a.timestamp) >= range[0] && Number(a.timestamp) <= range[1]);
    }
    list.sort((a, b) => Number(a.timestamp) - Number(b.timestamp) || Number(a.id) - Number(b.id));
    const limit = body['limit'] === undefined ? undefined : Number(body['limit']);
    const page = body['page'] === undefined ? 1 : Number(body['page']);
    if (limit !== undefined && Number.isFinite(limit) && limit > 0) list = list.slice((Math.max(1, page) - 1) * limit, Math.max(1, page) * limit);
    return list;
  }

  private event(id: string): MispFakeEvent | undefined {
    return this.events.find((e) => e.id === id);
  }

  private attributeSearch(req: FakeIncoming): FakeResponse {
    const body = this.parseBody(req);
    if ('status' in body && typeof body.status === 'number') return body as FakeResponse;
    const list = this.filtered(body as Record<string, unknown>);
    if (typeof list === 'string') return { status: 400, body: { name: list, message: list, url: req.path } };
    const b = body as Record<string, unknown>;
    const withEventTags = b['includeEventTags'] === true || b['includeEventTags'] === 1 || b['includeEventTags'] === '1';
    return {
      status: 200,
      body: {
        response: {
          Attribute: list.map((a) => {
            const e = this.event(a.event_id);
            return {
              id: a.id,
              event_id: a.event_id,
              object_id: '0',
              object_relation: null,
              category: a.category,
              type: a.type,
              value: a.value,
              to_ids: a.to_ids,
              uuid: a.uuid,
              timestamp: a.timestamp,
              distribution: '5',
              sharing_group_id: '0',
              comment: a.comment ?? '',
              deleted: false,
              disable_correlation: false,
              first_seen: null,
              last_seen: null,
              Event: e
                ? {
                    org_id: '1',
                    distribution: '1',
                    id: e.id,
                    info: e.info,
                    orgc_id: '1',
                    uuid: e.uuid,
                    threat_level_id: e.threat_level_id,
                    analysis: e.analysis,
                    date: e.date,
                    published: e.published,
                  }
                : {},
              Tag: [...(a.tags ?? []), ...(withEventTags ? (e?.tags ?? []) : [])].map((name, i) => ({ id: String(i + 1), name, colour: '#0088cc', exportable: true })),
            };
          }),
        },
      },
    };
  }

  private eventSearch(req: FakeIncoming): FakeResponse {
    const body = this.parseBody(req);
    if ('status' in body && typeof body.status === 'number') return body as FakeResponse;
    const attrs = this.filtered({ ...(body as Record<string, unknown>), limit: undefined, page: undefined });
    if (typeof attrs === 'string') return { status: 400, body: { name: attrs, message: attrs, url: req.path } };
    const ids = new Set(attrs.map((a) => a.event_id));
    return {
      status: 200,
      body: {
        response: this.events
          .filter((e) => ids.has(e.id))
          .map((e) => ({
            Event: {
              id: e.id,
              uuid: e.uuid,
              info: e.info,
              threat_level_id: e.threat_level_id,
              analysis: e.analysis,
              date: e.date,
              published: e.published,
              Orgc: { name: e.orgc },
              Attribute: attrs.filter((a) => a.event_id === e.id).map((a) => ({ id: a.id, type: a.type, value: a.value, to_ids: a.to_ids, uuid: a.uuid, timestamp: a.timestamp })),
              Tag: e.tags.map((name) => ({ name })),
            },
          })),
      },
    };
  }
}

function toList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'object' && v !== null && Array.isArray((v as { OR?: unknown }).OR)) return (v as { OR: unknown[] }).OR.map(String);
  return [String(v)];
}

function likeToRegExp(v: string): RegExp {
  const escaped = v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

/** `timestamp`/`last`: epoch seconds, "1d"/"12h"/"30m", or [from, to]. */
function parseTimeFilter(v: unknown, nowS: number): [number, number] | string {
  const one = (x: unknown): number | undefined => {
    if (typeof x === 'number') return x;
    if (typeof x !== 'string') return undefined;
    if (/^\d+$/.test(x)) return Number(x);
    const m = /^(\d+)([dhms])$/.exec(x);
    if (!m) return undefined;
    const mult = { d: 86400, h: 3600, m: 60, s: 1 }[m[2] as 'd' | 'h' | 'm' | 's'];
    return nowS - Number(m[1]) * mult;
  };
  if (Array.isArray(v)) {
    const a = one(v[0]);
    const b = one(v[1]);
    if (a === undefined || b === undefined) return `Invalid timestamp range ${JSON.stringify(v)}`;
    return [a, b];
  }
  const a = one(v);
  if (a === undefined) return `Invalid timestamp ${JSON.stringify(v)}`;
  return [a, Number.MAX_SAFE_INTEGER];
}
