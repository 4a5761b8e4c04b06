import { ErrorCodes, indicatorEvent, PluginError, tlpAllowed } from '@reactive-fabric/core';
import type { Checkpoint, PluginLogger, PollRequest, PollResult, SourceEvent } from '@reactive-fabric/core';
import type { MispAttribute, MispClient } from './client.js';
import { indicatorOf, tagsOf, tlpOf } from './attributes.js';

/**
 * Position in the restSearch feed (attributes with `timestamp` >= since, paged by limit/page).
 * Like the OTX feed: one chain of pages per `since`; the checkpoint keeps the page being worked
 * on and the attributes finished on it; at the end the newest timestamp becomes `since`, and the
 * attributes at exactly that second go to `boundary` so MISP's inclusive filter repeats nothing.
 * Attributes are keyed by uuid and timestamp: an edited attribute comes out again.
 */
export interface MispCheckpoint {
  since: number;
  boundary: string[];
  chain?: { page: number; limit: number; high: number; highKeys: string[]; done: string[] };
}

export interface MispFeedOptions {
  baseUrl: string;
  pageSize: number;
  initialSince: number;
  toIdsOnly: boolean;
  maxTlp: string;
  collectorId: string;
}

export class MispFeed {
  private cachedPage: { key: string; attrs: MispAttribute[] } | undefined;

  constructor(
    private readonly client: MispClient,
    private readonly opts: MispFeedOptions,
    private readonly logger: PluginLogger,
  ) {}

  async poll(req: PollRequest): Promise<PollResult> {
    const cp = parseCheckpoint(req.checkpoint, this.opts);
    const chain = cp.chain ?? { page: 1, limit: this.opts.pageSize, high: cp.since, highKeys: [...cp.boundary], done: [] };
    const attrs = await this.fetchPage(cp.since, chain.page, chain.limit, req.signal);
    const boundary = new Set(cp.boundary);
    const done = new Set(chain.done);
    let { high, highKeys } = chain;
    const events: SourceEvent[] = [];
    const max = Math.max(1, req.maxEvents);
    let complete = true;
    let skipped = 0;
    for (const a of attrs) {
      const key = `${a.uuid}@${a.timestamp}`;
      if (boundary.has(key) || done.has(key)) continue;
      const ts = Number(a.timestamp);
      const indicator = indicatorOf(a);
      const tags = tagsOf(a);
      const allowed = tlpAllowed(tlpOf(tags), this.opts.maxTlp);
      if (indicator && allowed) {
        if (events.length >= max) {
          complete = false;
          break;
        }
        events.push(this.toEvent(a, indicator, tags));
      } else if (!allowed) {
        skipped++;
      }
      done.add(key);
      if (ts > high) {
        high = ts;
        highKeys = [key];
      } else if (ts === high) {
        highKeys.push(key);
      }
    }
    if (skipped > 0) this.logger.info({ skipped, feed_max_tlp: this.opts.maxTlp }, 'MISP attributes above feed_max_tlp not collected');
    if (!complete) {
      const next: MispCheckpoint = { since: cp.since, boundary: cp.boundary, chain: { ...chain, high, highKeys, done: [...done] } };
      return { events, checkpoint: next as unknown as Checkpoint, hasMore: true };
    }
    if (attrs.length >= chain.limit) {
      const next: MispCheckpoint = { since: cp.since, boundary: cp.boundary, chain: { page: chain.page + 1, limit: chain.limit, high, highKeys, done: [] } };
      return { events, checkpoint: next as unknown as Checkpoint, hasMore: true };
    }
    const next: MispCheckpoint = { since: high, boundary: highKeys };
    return { events, checkpoint: next as unknown as Checkpoint, hasMore: false };
  }

  private async fetchPage(since: number, page: number, limit: number, signal: AbortSignal): Promise<MispAttribute[]> {
    const key = `${since}/${page}/${limit}`;
    if (this.cachedPage?.key === key) return this.cachedPage.attrs;
    const body: Record<string, unknown> = { returnFormat: 'json', timestamp: since, limit, page, includeEventTags: true };
    if (this.opts.toIdsOnly) body['to_ids'] = true;
    const attrs = await this.client.searchAttributes(body, signal);
    const valid = attrs.filter((a) => /^\d+$/.test(String(a.timestamp)));
    this.cachedPage = { key, attrs: valid };
    return valid;
  }

  private toEvent(a: MispAttribute, indicator: NonNullable<ReturnType<typeof indicatorOf>>, tags: string[]): SourceEvent {
    const ts = new Date(Number(a.timestamp) * 1000).toISOString();
    const tlp = tlpOf(tags);
    const base = this.opts.baseUrl.replace(/\/+$/, '');
    return indicatorEvent({
      indicator,
      id: `misp:${a.uuid}:${a.timestamp}`,
      timestamp: ts,
      module: 'ti_misp',
      dataset: 'ti_misp.attribute',
      feedName: 'MISP',
      feedReference: base,
      provider: 'MISP',
      ...(a.Event?.info ? { description: a.Event.info } : {}),
      reference: `${base}/events/view/${a.event_id}`,
      modifiedAt: ts,
      confidence: a.to_ids ? 'High' : 'Medium',
      ...(tlp ? { tlp } : {}),
      ...(tags.length > 0 ? { tags } : {}),
      extra: {
        misp: {
          attribute: { id: a.id, uuid: a.uuid, type: a.type, category: a.category ?? null, to_ids: a.to_ids, ...(a.comment ? { comment: a.comment } : {}) },
          event: {
            id: a.event_id,
            ...(a.Event?.uuid ? { uuid: a.Event.uuid } : {}),
            ...(a.Event?.info ? { info: a.Event.info } : {}),
            ...(a.Event?.threat_level_id ? { threat_level_id: a.Event.threat_level_id } : {}),
          },
        },
      },
    });
  }
}

export function parseCheckpoint(raw: Checkpoint | undefined, opts: MispFeedOptions): MispCheckpoint {
  if (raw === undefined || raw === null) return { since: opts.initialSince, boundary: [] };
  const c = raw as Record<string, unknown>;
  const chain = c['chain'] as Record<string, unknown> | undefined;
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const int = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const ok =
    typeof c === 'object' &&
    !Array.isArray(c) &&
    int(c['since']) &&
    strings(c['boundary']) &&
    (chain === undefined || (typeof chain === 'object' && int(chain['page']) && int(chain['limit']) && int(chain['high']) && strings(chain['highKeys']) && strings(chain['done'])));
  if (!ok) {
    throw new PluginError(
      ErrorCodes.BAD_CONFIG,
      `collector "${opts.collectorId}": checkpoint ${JSON.stringify(raw).slice(0, 200)} is not a MISP feed position {since, boundary, chain?}; reset it (admin API DELETE /collectors/${opts.collectorId}/checkpoint) to start from feed_since`,
    );
  }
  // A copy: the host's checkpoint object is never mutated.
  return structuredClone(raw) as unknown as MispCheckpoint;
}
