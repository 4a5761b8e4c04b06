import { ErrorCodes, HttpClient, isPluginError, parseJsonBody, PluginError, type TimeRange, WindowCursor, type WindowCursorOptions } from '@reactive-fabric/core';
import type { CollectorDescription, HealthReport, PluginContext, PollRequest, PollResult, SourceEvent, SourceInstance } from '@reactive-fabric/core';
import type { ElasticsearchConfig } from './config.js';
import { assumedInfo, esReason, readClusterInfo, type ClusterInfo } from './cluster.js';
import { hitId, hitTimestamp, hitToEvent, type EsHit } from './mapping.js';

interface SearchResponse {
  pit_id?: string;
  hits?: { hits?: EsHit[] };
}

/** Builds the Authorization header; API keys given as "id:key" are encoded as ES expects. */
export function authorization(auth: ElasticsearchConfig['auth']): string | undefined {
  switch (auth.type) {
    case 'basic':
      return `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}`;
    case 'api_key': {
      const key = auth.api_key ?? '';
      return `ApiKey ${key.includes(':') ? Buffer.from(key).toString('base64') : key}`;
    }
    case 'bearer':
      return `Bearer ${auth.token ?? ''}`;
    default:
      return undefined;
  }
}

/** Config mistakes only visible in combination; reported with the field to fix. */
export function checkAuth(auth: ElasticsearchConfig['auth']): void {
  const need = (field: keyof ElasticsearchConfig['auth']) => {
    if (!auth[field]) throw new PluginError(ErrorCodes.BAD_CONFIG, `auth.type is "${auth.type}" but auth.${field} is not set: add it (use \${ENV_VAR} for secrets)`);
  };
  if (auth.type === 'basic') {
    need('username');
    need('password');
  } else if (auth.type === 'api_key') need('api_key');
  else if (auth.type === 'bearer') need('token');
}

export class ElasticsearchSource implements SourceInstance {
  private readonly http: HttpClient;
  private readonly baseUrl: string;
  private cluster: ClusterInfo | undefined;
  private readonly cursorOptions: WindowCursorOptions;

  constructor(
    private readonly config: ElasticsearchConfig,
    private readonly context: PluginContext,
  ) {
    checkAuth(config.auth);
    this.baseUrl = `${config.scheme}://${config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host}:${config.port}`;
    this.http = new HttpClient(
      { baseUrl: this.baseUrl, caFile: config.tls.ca_file, verify: config.tls.verify, timeoutMs: config.request_timeout_seconds * 1000, backend: 'Elasticsearch' },
      () => authorization(config.auth),
      esReason,
    );
    this.cursorOptions = { overlapMs: config.overlap_seconds * 1000, windowMs: config.query_window_minutes * 60_000, maxSeen: config.max_seen_ids };
  }

  async start(): Promise<void> {
    await this.http.open();
  }

  async stop(): Promise<void> {
    await this.http.close();
  }

  describe(): CollectorDescription {
    return {
      backend: this.cluster?.flavour ?? (this.config.flavour === 'auto' ? 'elasticsearch' : this.config.flavour),
      target: this.baseUrl,
      indices: this.config.indices.join(','),
      auth: this.config.auth.type,
      ...(this.cluster ? { version: this.cluster.version } : {}),
    };
  }

  async healthCheck(signal: AbortSignal): Promise<HealthReport> {
    try {
      this.cluster = await readClusterInfo(this.http, this.config.flavour, signal);
      return { status: 'healthy' };
    } catch (err) {
      const e = isPluginError(err) ? err : new PluginError(ErrorCodes.UNAVAILABLE, String(err));
      // A key limited to index reads may not call GET /: that is not a fault of the cluster.
      if (e.code === ErrorCodes.AUTH_FAILED && e.detail?.status === 403 && this.config.flavour !== 'auto') return { status: 'healthy' };
      return { status: e.code === ErrorCodes.AUTH_FAILED ? 'unhealthy' : 'degraded', reason: e.message, code: e.code };
    }
  }

  private async clusterInfo(signal: AbortSignal): Promise<ClusterInfo> {
    if (this.cluster) return this.cluster;
    try {
      this.cluster = await readClusterInfo(this.http, this.config.flavour, signal);
    } catch (err) {
      if (isPluginError(err) && err.code === ErrorCodes.AUTH_FAILED && err.detail?.status === 403) {
        const flavour = this.config.flavour === 'auto' ? 'elasticsearch' : this.config.flavour;
        this.context.logger.warn({ flavour }, 'GET / is forbidden for these credentials; assuming a current cluster of the configured flavour');
        this.cluster = assumedInfo(flavour);
      } else throw err;
    }
    return this.cluster;
  }

  private sort(cluster: ClusterInfo, usePit: boolean): unknown[] {
    const sort: unknown[] = [{ [this.config.timestamp_field]: { order: 'asc', unmapped_type: 'date' } }];
    if (this.config.tiebreaker_field) sort.push({ [this.config.tiebreaker_field]: 'asc' });
    else if (usePit && cluster.flavour === 'elasticsearch') {
      // ES appends _shard_doc inside a PIT: a total order for this poll's paging.
    } else if (cluster.idSortAllowed) sort.push({ _id: 'asc' });
    else {
      throw new PluginError(
        ErrorCodes.BAD_CONFIG,
        'this Elasticsearch refuses to sort on _id and use_pit is false, so pages cannot be ordered without gaps: set use_pit: true or tiebreaker_field to a unique keyword field',
      );
    }
    return sort;
  }

  private query(range: TimeRange): unknown {
    const filter: unknown[] = [
      { range: { [this.config.timestamp_field]: { gte: new Date(range.from).toISOString(), lt: new Date(range.to).toISOString(), format: 'strict_date_optional_time' } } },
    ];
    if (this.config.query) filter.push({ query_string: { query: this.config.query } });
    return { bool: { filter } };
  }

  async poll(request: PollRequest): Promise<PollResult> {
    const { signal } = request;
    const maxEvents = Math.max(1, request.maxEvents);
    const cluster = await this.clusterInfo(signal);
    const now = Date.now();
    const cursor = WindowCursor.resume(this.cursorOptions, request.checkpoint, now, () =>
      this.context.logger.warn({}, 'checkpoint is not one this plugin wrote; starting query_window_minutes back'),
    );
    const range = cursor.nextRange(now);
    let pitId = this.config.use_pit && cluster.pit ? await this.openPit(cluster, signal) : undefined;
    const sort = this.sort(cluster, pitId !== undefined);

    const events: SourceEvent[] = [];
    let lastTs = range.from;
    let exhausted = false;
    try {
      let searchAfter: unknown[] | undefined;
      while (events.length < maxEvents) {
        const size = this.config.max_results_per_query;
        const body: Record<string, unknown> = { size, query: this.query(range), sort, track_total_hits: false };
        if (searchAfter) body.search_after = searchAfter;
        if (pitId) body.pit = { id: pitId, keep_alive: this.config.pit_keep_alive };
        const path = pitId ? '/_search' : `/${this.config.indices.map(encodeURIComponent).join(',')}/_search`;
        const query = pitId ? undefined : { ignore_unavailable: true, allow_no_indices: true };
        const { body: res } = await this.search(path, body, query, signal);
        const hits = validateHits(res);
        if (res.pit_id) pitId = res.pit_id;
        let consumed = 0;
        for (const hit of hits) {
          consumed++;
          const id = hitId(hit);
          const ts = hitTimestamp(hit, this.config.timestamp_field);
          if (ts === undefined) throw new PluginError(ErrorCodes.BAD_RESPONSE, `hit ${id} has no usable ${this.config.timestamp_field} or sort value`);
          if (cursor.has(id)) continue;
          events.push(hitToEvent(hit, ts, cluster.flavour));
          cursor.add(id, ts);
          lastTs = ts;
          if (events.length >= maxEvents) break;
        }
        if (hits.length < size && consumed === hits.length) {
          exhausted = true;
          break;
        }
        const last = hits[consumed - 1];
        if (!last?.sort) throw new PluginError(ErrorCodes.BAD_RESPONSE, 'a sorted search answered hits without sort values');
        searchAfter = last.sort;
      }
    } finally {
      if (pitId) await this.closePit(cluster, pitId);
    }
    const hasMore = exhausted ? cursor.finish(range, now) : (cursor.pause(range, lastTs), true);
    return { events, checkpoint: cursor.toCheckpoint() as unknown as PollResult['checkpoint'], hasMore };
  }

  /** undefined when OpenSearch has no index to open it on (then the poll searches without one). */
  private async search(path: string, body: unknown, query: Record<string, boolean> | undefined, signal: AbortSignal): Promise<{ body: SearchResponse }> {
    const res = await this.http.send('POST', path, { body, signal, ...(query ? { query } : {}) });
    if (res.status === 404 && res.text.includes('search_context_missing_exception')) {
      throw new PluginError(
        ErrorCodes.UNAVAILABLE,
        `the point in time expired between two pages (${esReason(404, res.text)}); the next poll opens a new one; raise pit_keep_alive (now ${this.config.pit_keep_alive}) if this repeats`,
      );
    }
    if (res.status < 200 || res.status > 299) throw this.http.statusError(res, 'POST', path);
    return { body: parseJsonBody<SearchResponse>(res.text, `Elasticsearch POST ${path}`) };
  }

  private async openPit(cluster: ClusterInfo, signal: AbortSignal): Promise<string | undefined> {
    const indices = this.config.indices.map(encodeURIComponent).join(',');
    const keepAlive = this.config.pit_keep_alive;
    if (cluster.flavour === 'opensearch') {
      // OpenSearch 2.x refuses a PIT over patterns that match no index (400 "invalid id: [null]",
      // 404 for a missing name), where Elasticsearch opens an empty one.
      const res = await this.http.send('POST', `/${indices}/_search/point_in_time`, { query: { keep_alive: keepAlive }, signal });
      if (res.status === 400 || res.status === 404) {
        const reason = esReason(res.status, res.text) ?? '';
        if (/invalid id: \[null\]|index_not_found_exception/.test(reason)) {
          this.context.logger.debug({ reason }, 'no index matches yet; searching without a point in time');
          return undefined;
        }
      }
      if (res.status < 200 || res.status > 299) throw this.http.statusError(res, 'POST', '/{indices}/_search/point_in_time');
      const body = parseJsonBody<{ pit_id?: unknown }>(res.text, 'OpenSearch POST /{indices}/_search/point_in_time');
      if (typeof body?.pit_id !== 'string') throw new PluginError(ErrorCodes.BAD_RESPONSE, 'OpenSearch point_in_time answered without pit_id');
      return body.pit_id;
    }
    const { body } = await this.http.json<{ id?: unknown }>('POST', `/${indices}/_pit`, { query: { keep_alive: keepAlive, ignore_unavailable: true }, signal });
    if (typeof body?.id !== 'string') throw new PluginError(ErrorCodes.BAD_RESPONSE, 'Elasticsearch _pit answered without id');
    return body.id;
  }

  /** Best effort: a PIT left open expires after keep_alive anyway. */
  private async closePit(cluster: ClusterInfo, id: string): Promise<void> {
    try {
      const signal = AbortSignal.timeout(5000);
      if (cluster.flavour === 'opensearch') await this.http.send('DELETE', '/_search/point_in_time', { body: { pit_id: [id] }, signal });
      else await this.http.send('DELETE', '/_pit', { body: { id }, signal });
    } catch (err) {
      this.context.logger.debug({ err: (err as Error).message }, 'closing the point in time failed; it expires on its own');
    }
  }
}

function validateHits(res: SearchResponse): EsHit[] {
  if (res === null || typeof res !== 'object' || !res.hits || !Array.isArray(res.hits.hits)) {
    throw new PluginError(ErrorCodes.BAD_RESPONSE, 'search answered without hits.hits[]: not an Elasticsearch/OpenSearch search response');
  }
  for (const h of res.hits.hits) {
    if (h === null || typeof h !== 'object' || typeof h._index !== 'string' || typeof h._id !== 'string') {
      throw new PluginError(ErrorCodes.BAD_RESPONSE, 'search answered a hit without _index/_id');
    }
  }
  return res.hits.hits;
}
