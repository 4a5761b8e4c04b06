import { ErrorCodes, indicatorEvent, ipVersion, PluginError } from '@reactive-fabric/core';
import type { Checkpoint, PluginLogger, PollRequest, PollResult, SourceEvent } from '@reactive-fabric/core';
import type { AbuseIpdbClient, BlacklistAnswer } from './client.js';

/**
 * Position in the blacklist feed. The blacklist is a snapshot, so increments are entries whose
 * lastReportedAt is past `since`; `boundary` holds the addresses already emitted at exactly
 * `since`, so equal timestamps are neither repeated nor skipped.
 */
export interface BlacklistCheckpoint {
  since?: string;
  boundary: string[];
  /** When the snapshot in use was downloaded. */
  fetchedAt?: string;
  /** False while a snapshot is only partly emitted: a restart then downloads again at once. */
  complete: boolean;
}

type Entry = BlacklistAnswer['data'][number] & { t: number };

export interface BlacklistFeedOptions {
  confidenceMinimum: number;
  limit: number;
  intervalMs: number;
  collectorId: string;
}

export class BlacklistFeed {
  private snapshot: { fetchedAt: number; generatedAt: string; entries: Entry[] } | undefined;

  constructor(
    private readonly client: AbuseIpdbClient,
    private readonly opts: BlacklistFeedOptions,
    private readonly logger: PluginLogger,
  ) {}

  async poll(req: PollRequest): Promise<PollResult> {
    const cp = parseCheckpoint(req.checkpoint, this.opts.collectorId);
    let todo = this.snapshot ? pendingAfter(this.snapshot.entries, cp) : [];
    if (todo.length === 0) {
      const last = cp.fetchedAt ? Date.parse(cp.fetchedAt) : undefined;
      if (cp.complete && last !== undefined && Date.now() - last < this.opts.intervalMs) {
        return { events: [], checkpoint: cp as unknown as Checkpoint, hasMore: false };
      }
      const answer = await this.client.blacklist(this.opts.confidenceMinimum, this.opts.limit, req.signal);
      const entries = answer.data
        .filter((e) => typeof e.ipAddress === 'string' && typeof e.lastReportedAt === 'string' && !Number.isNaN(Date.parse(e.lastReportedAt)))
        .map((e) => ({ ...e, t: Date.parse(e.lastReportedAt!) }))
        .sort((a, b) => a.t - b.t || (a.ipAddress < b.ipAddress ? -1 : a.ipAddress > b.ipAddress ? 1 : 0));
      this.snapshot = { fetchedAt: Date.now(), generatedAt: answer.meta.generatedAt, entries };
      todo = pendingAfter(entries, cp);
      this.logger.debug({ entries: entries.length, new: todo.length, generatedAt: answer.meta.generatedAt }, 'AbuseIPDB blacklist downloaded');
    }
    const snapshot = this.snapshot!;
    const take = todo.slice(0, Math.max(1, req.maxEvents));
    let since = cp.since;
    let sinceT = since === undefined ? -Infinity : Date.parse(since);
    let boundary = [...cp.boundary];
    const events: SourceEvent[] = [];
    for (const e of take) {
      events.push(toEvent(e, snapshot.generatedAt));
      if (e.t > sinceT) {
        since = new Date(e.t).toISOString();
        sinceT = e.t;
        boundary = [e.ipAddress];
      } else {
        boundary.push(e.ipAddress);
      }
    }
    const hasMore = todo.length > take.length;
    const next: BlacklistCheckpoint = { ...(since === undefined ? {} : { since }), boundary, fetchedAt: new Date(snapshot.fetchedAt).toISOString(), complete: !hasMore };
    return { events, checkpoint: next as unknown as Checkpoint, hasMore };
  }
}

function pendingAfter(entries: Entry[], cp: BlacklistCheckpoint): Entry[] {
  if (cp.since === undefined) return entries;
  const sinceT = Date.parse(cp.since);
  const boundary = new Set(cp.boundary);
  return entries.filter((e) => e.t > sinceT || (e.t === sinceT && !boundary.has(e.ipAddress)));
}

function toEvent(e: Entry, generatedAt: string): SourceEvent {
  const ip = e.ipAddress;
  const lastReported = new Date(e.t).toISOString();
  return indicatorEvent({
    indicator: { type: ipVersion(ip) === 6 ? 'ipv6' : 'ipv4', value: ip },
    id: `abuseipdb:${ip}:${e.t}`,
    timestamp: lastReported,
    module: 'ti_abuseipdb',
    dataset: 'ti_abuseipdb.blacklist',
    feedName: 'AbuseIPDB blacklist',
    feedReference: 'https://www.abuseipdb.com/',
    provider: 'AbuseIPDB',
    reference: `https://www.abuseipdb.com/check/${ip}`,
    lastSeen: lastReported,
    confidence: e.abuseConfidenceScore >= 90 ? 'High' : e.abuseConfidenceScore >= 50 ? 'Medium' : 'Low',
    ...(e.countryCode ? { indicatorFields: { geo: { country_iso_code: e.countryCode } } } : {}),
    extra: { abuseipdb: { abuseConfidenceScore: e.abuseConfidenceScore, generatedAt } },
  });
}

export function parseCheckpoint(raw: Checkpoint | undefined, collectorId: string): BlacklistCheckpoint {
  if (raw === undefined || raw === null) return { boundary: [], complete: true };
  const c = raw as Record<string, unknown>;
  const ok =
    typeof c === 'object' &&
    !Array.isArray(c) &&
    Array.isArray(c['boundary']) &&
    (c['since'] === undefined || (typeof c['since'] === 'string' && !Number.isNaN(Date.parse(c['since'])))) &&
    (c['fetchedAt'] === undefined || typeof c['fetchedAt'] === 'string');
  if (!ok) {
    throw new PluginError(
      ErrorCodes.BAD_CONFIG,
      `collector "${collectorId}": checkpoint ${JSON.stringify(raw).slice(0, 200)} is not an AbuseIPDB blacklist position {since, boundary, fetchedAt}; reset it (admin API DELETE /collectors/${collectorId}/checkpoint) to start over`,
    );
  }
  return {
    boundary: (c['boundary'] as unknown[]).map(String),
    complete: c['complete'] !== false,
    ...(c['since'] ? { since: c['since'] as string } : {}),
    ...(c['fetchedAt'] ? { fetchedAt: c['fetchedAt'] as string } : {}),
  };
}
