import { ErrorCodes, indicatorEvent, PluginError, tlpAllowed } from '@reactive-fabric/core';
import type { Checkpoint, Indicator, IndicatorType, PluginLogger, PollRequest, PollResult, SourceEvent } from '@reactive-fabric/core';
import type { OtxClient } from './client.js';

/**
 * Position in the subscribed-pulse feed.
 *
 * A "chain" is one walk over `/pulses/subscribed?modified_since=<since>` following `next`. While a
 * chain runs, the checkpoint holds the page being worked on, the pulses finished on it and how
 * far into a half-emitted pulse we got, so a restart resumes exactly there. When the chain ends,
 * the newest `modified` seen becomes the next `since`. OTX's filter includes `since` itself, so the
 * pulses seen at exactly that time are kept in `boundary` and skipped, not repeated. Pulses are
 * keyed by id and `modified`: a pulse edited later comes out again, with its new indicators.
 */
export interface OtxCheckpoint {
  since: string;
  boundary: string[];
  chain?: {
    page: string;
    high: string;
    highKeys: string[];
    done: string[];
    partial?: { key: string; offset: number };
  };
}

interface Pulse {
  id: string;
  name: string;
  author_name?: string;
  created?: string;
  modified: string;
  tlp?: string;
  tags?: string[];
  references?: string[];
  malware_families?: unknown[];
  attack_ids?: unknown[];
  indicators?: Array<{ id?: number | string; indicator?: string; type?: string; created?: string; title?: string; expiration?: string | null; is_active?: number }>;
}

const OTX_TYPES: Record<string, IndicatorType> = {
  IPv4: 'ipv4',
  IPv6: 'ipv6',
  domain: 'domain',
  hostname: 'domain',
  URL: 'url',
  'FileHash-MD5': 'md5',
  'FileHash-SHA1': 'sha1',
  'FileHash-SHA256': 'sha256',
};

/** OTX times are ISO 8601, usually without a zone (UTC) and with microseconds. */
export function otxTime(s: string): number {
  const hasZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(s);
  return Date.parse(hasZone ? s : `${s.replace(/(\.\d{3})\d+$/, '$1')}Z`);
}

export interface OtxFeedOptions {
  baseUrl: string;
  pageSize: number;
  initialSince: string;
  maxTlp: string;
  collectorId: string;
}

export class OtxFeed {
  private cachedPage: { path: string; body: { results: Pulse[]; next: string | null } } | undefined;

  constructor(
    private readonly client: OtxClient,
    private readonly opts: OtxFeedOptions,
    private readonly logger: PluginLogger,
  ) {}

  async poll(req: PollRequest): Promise<PollResult> {
    const cp = parseCheckpoint(req.checkpoint, this.opts);
    const chain = cp.chain ?? {
      page: `/pulses/subscribed?${new URLSearchParams({ limit: String(this.opts.pageSize), modified_since: cp.since }).toString()}`,
      high: cp.since,
      highKeys: [...cp.boundary],
      done: [],
    };
    let page = await this.fetchPage(chain.page, req.signal);
    if (page === 'invalid-page') {
      // The feed shrank under us (pulses unsubscribed or deleted): pages shifted, so start the chain
      // over rather than risk skipping pulses. Repeats carry the same event.id and are de-duplicated.
      this.logger.warn({ page: chain.page.split('?')[1] }, 'OTX feed page no longer exists; restarting this pass from page 1');
      chain.page = `/pulses/subscribed?${new URLSearchParams({ limit: String(this.opts.pageSize), modified_since: cp.since }).toString()}`;
      chain.done = [];
      delete chain.partial;
      page = await this.fetchPage(chain.page, req.signal);
      if (page === 'invalid-page') throw new PluginError(ErrorCodes.BAD_RESPONSE, 'AlienVault OTX answered "Invalid page." for the first page of /pulses/subscribed');
    }
    const boundary = new Set(cp.boundary);
    const done = new Set(chain.done);
    let high = chain.high;
    let highT = otxTime(high);
    let highKeys = [...chain.highKeys];
    let partial: { key: string; offset: number } | undefined = chain.partial;
    const events: SourceEvent[] = [];
    const max = Math.max(1, req.maxEvents);
    let complete = true;
    let skippedTlp = 0;

    outer: for (const pulse of page.results) {
      const key = `${pulse.id}@${pulse.modified}`;
      if (boundary.has(key) || done.has(key)) continue;
      const emit = tlpAllowed(pulse.tlp, this.opts.maxTlp) ? indicatorsOf(pulse) : [];
      if (emit.length === 0 && !tlpAllowed(pulse.tlp, this.opts.maxTlp)) skippedTlp++;
      const start = partial?.key === key ? partial.offset : 0;
      for (let i = start; i < emit.length; i++) {
        if (events.length >= max) {
          partial = { key, offset: i };
          complete = false;
          break outer;
        }
        events.push(toEvent(pulse, emit[i]!));
      }
      partial = undefined;
      done.add(key);
      const t = otxTime(pulse.modified);
      if (t > highT) {
        high = pulse.modified;
        highT = t;
        highKeys = [key];
      } else if (t === highT) {
        highKeys.push(key);
      }
    }
    if (skippedTlp > 0) this.logger.info({ skipped: skippedTlp, feed_max_tlp: this.opts.maxTlp }, 'OTX pulses above feed_max_tlp not collected');

    if (!complete) {
      const next: OtxCheckpoint = { since: cp.since, boundary: cp.boundary, chain: { page: chain.page, high, highKeys, done: [...done], ...(partial ? { partial } : {}) } };
      return { events, checkpoint: next as unknown as Checkpoint, hasMore: true };
    }
    if (page.next) {
      const next: OtxCheckpoint = { since: cp.since, boundary: cp.boundary, chain: { page: this.relative(page.next), high, highKeys, done: [] } };
      return { events, checkpoint: next as unknown as Checkpoint, hasMore: true };
    }
    const next: OtxCheckpoint = { since: high, boundary: highKeys };
    return { events, checkpoint: next as unknown as Checkpoint, hasMore: false };
  }

  private async fetchPage(path: string, signal: AbortSignal): Promise<{ results: Pulse[]; next: string | null } | 'invalid-page'> {
    // A poll cut short by maxEvents asks for the same page again next time: serve it from memory.
    if (this.cachedPage?.path === path) return this.cachedPage.body;
    const answer = await this.client.get(path, signal);
    if (!answer.found && /invalid page/i.test(answer.reason)) return 'invalid-page';
    if (!answer.found) throw new PluginError(ErrorCodes.BAD_RESPONSE, `AlienVault OTX refused the subscribed-pulse page ${path.split('?')[0]}: ${answer.reason}`);
    const results = answer.body['results'];
    const next = answer.body['next'];
    if (!Array.isArray(results) || (next !== null && next !== undefined && typeof next !== 'string')) {
      throw new PluginError(ErrorCodes.BAD_RESPONSE, `AlienVault OTX answered ${path.split('?')[0]} without results[] and next: ${JSON.stringify(answer.body).slice(0, 200)}`);
    }
    const pulses = results.filter(
      (p): p is Pulse =>
        typeof p === 'object' && p !== null && typeof (p as Pulse).id === 'string' && typeof (p as Pulse).modified === 'string' && !Number.isNaN(otxTime((p as Pulse).modified)),
    );
    const body = { results: pulses, next: (next as string | null | undefined) ?? null };
    this.cachedPage = { path, body };
    return body;
  }

  /** `next` is absolute; keep it relative to base_url, and refuse to send the key anywhere else. */
  private relative(next: string): string {
    const base = new URL(this.opts.baseUrl.replace(/\/+$/, ''));
    let u: URL;
    try {
      u = new URL(next, base);
    } catch {
      throw new PluginError(ErrorCodes.BAD_RESPONSE, `AlienVault OTX sent an unusable next link: ${next.slice(0, 200)}`);
    }
    const basePath = base.pathname.replace(/\/+$/, '');
    if (u.origin !== base.origin || !u.pathname.startsWith(`${basePath}/`)) {
      throw new PluginError(
        ErrorCodes.BAD_RESPONSE,
        `AlienVault OTX next link ${u.origin}${u.pathname} is outside base_url ${base.origin}${basePath}; not following it with the API key`,
      );
    }
    return u.pathname.slice(basePath.length) + u.search;
  }
}

function indicatorsOf(pulse: Pulse): Array<{ indicator: Indicator; raw: NonNullable<Pulse['indicators']>[number] }> {
  const out: Array<{ indicator: Indicator; raw: NonNullable<Pulse['indicators']>[number] }> = [];
  for (const raw of pulse.indicators ?? []) {
    const type = raw.type ? OTX_TYPES[raw.type] : undefined;
    if (!type || typeof raw.indicator !== 'string' || raw.indicator.length === 0) continue;
    const value = type === 'url' ? raw.indicator : raw.indicator.toLowerCase();
    out.push({ indicator: { type, value }, raw });
  }
  return out;
}

function iso(s: string | undefined): string | undefined {
  if (!s) return undefined;
  const t = otxTime(s);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

function toEvent(pulse: Pulse, { indicator, raw }: ReturnType<typeof indicatorsOf>[number]): SourceEvent {
  const modified = iso(pulse.modified)!;
  const attack = (pulse.attack_ids ?? []).map((a) => (typeof a === 'string' ? a : ((a as { id?: string }).id ?? ''))).filter((s) => s.length > 0);
  const families = (pulse.malware_families ?? [])
    .map((a) => (typeof a === 'string' ? a : ((a as { display_name?: string; id?: string }).display_name ?? (a as { id?: string }).id ?? '')))
    .filter((s) => s.length > 0);
  const firstSeen = iso(raw.created);
  const expires = iso(raw.expiration ?? undefined);
  return indicatorEvent({
    indicator,
    id: `otx:${pulse.id}:${raw.id ?? indicator.value}:${otxTime(pulse.modified)}`,
    timestamp: modified,
    module: 'ti_otx',
    dataset: 'ti_otx.pulse',
    feedName: 'AlienVault OTX',
    feedReference: 'https://otx.alienvault.com/',
    provider: pulse.author_name ?? 'AlienVault OTX',
    description: pulse.name,
    reference: `https://otx.alienvault.com/pulse/${pulse.id}`,
    modifiedAt: modified,
    ...(firstSeen ? { firstSeen } : {}),
    ...(pulse.tlp ? { tlp: pulse.tlp } : {}),
    ...(pulse.tags && pulse.tags.length > 0 ? { tags: pulse.tags } : {}),
    threatFields: {
      ...(attack.length > 0 ? { technique: { id: attack } } : {}),
      ...(families.length > 0 ? { software: { name: families } } : {}),
    },
    extra: {
      otx: {
        pulse: { id: pulse.id, name: pulse.name },
        indicator: { id: raw.id ?? null, type: raw.type, ...(expires ? { expiration: expires } : {}), ...(raw.title ? { title: raw.title } : {}) },
      },
    },
  });
}

export function parseCheckpoint(raw: Checkpoint | undefined, opts: OtxFeedOptions): OtxCheckpoint {
  if (raw === undefined || raw === null) return { since: opts.initialSince, boundary: [] };
  const c = raw as Record<string, unknown>;
  const chain = c['chain'] as Record<string, unknown> | undefined;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const ok =
    typeof c === 'object' &&
    !Array.isArray(c) &&
    typeof c['since'] === 'string' &&
    !Number.isNaN(otxTime(c['since'])) &&
    strings(c['boundary']) &&
    (chain === undefined ||
      (typeof chain === 'object' &&
        typeof chain['page'] === 'string' &&
        chain['page'].startsWith('/pulses/subscribed') &&
        typeof chain['high'] === 'string' &&
        strings(chain['highKeys']) &&
        strings(chain['done'])));
  if (!ok) {
    throw new PluginError(
      ErrorCodes.BAD_CONFIG,
      `collector "${opts.collectorId}": checkpoint ${JSON.stringify(raw).slice(0, 200)} is not an OTX feed position {since, boundary, chain?}; reset it (admin API DELETE /collectors/${opts.collectorId}/checkpoint) to start from feed_since`,
    );
  }
  // A copy: the host's checkpoint object is never mutated.
  return structuredClone(raw) as unknown as OtxCheckpoint;
}
