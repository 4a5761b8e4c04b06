import type { SourceEvent } from '@reactive-fabric/core';

export interface EsHit {
  _index: string;
  _id: string;
  _source?: Record<string, unknown>;
  sort?: unknown[];
}

/** The identity of a document: stable across searches, PITs and restarts. */
export function hitId(hit: EsHit): string {
  return `${hit._index}/${hit._id}`;
}

/**
 * A hit becomes an ECS event: `_source` as it is (documents in these stores are usually ECS
 * already), `event.original` preserved (the shipper's, or the whole `_source` as fetched),
 * `event.id` from `_index/_id`, the store in `labels`. `fabric.*` belongs to the host.
 */
export function hitToEvent(hit: EsHit, timestampMs: number, backend: 'elasticsearch' | 'opensearch'): SourceEvent {
  const source = hit._source ?? {};
  const ev = structuredClone(source) as Record<string, unknown>;
  delete ev.fabric;
  // @timestamp stays the event time even when the windows run on another field (event.ingested).
  const eventTime = source['@timestamp'];
  ev['@timestamp'] = typeof eventTime === 'string' && !Number.isNaN(Date.parse(eventTime)) ? eventTime : new Date(timestampMs).toISOString();

  const event = isObject(ev.event) ? ev.event : {};
  event.id = hitId(hit);
  if (typeof event.original !== 'string') event.original = JSON.stringify(source);
  if (typeof event.dataset !== 'string') {
    const ds = lookup(source, 'data_stream.dataset');
    event.dataset = typeof ds === 'string' ? ds : hit._index;
  }
  ev.event = event;

  if (typeof ev.host === 'string') ev.host = { name: ev.host };
  const host = isObject(ev.host) ? ev.host : {};
  if (typeof host.name !== 'string') {
    const name = host.hostname ?? lookup(source, 'agent.hostname') ?? lookup(source, 'agent.name') ?? source.hostname;
    if (typeof name === 'string') host.name = name;
  }
  if (Object.keys(host).length > 0) ev.host = host;

  const labels = isObject(ev.labels) ? ev.labels : {};
  labels.log_store = backend;
  labels.log_store_index = hit._index;
  ev.labels = labels;
  return ev as SourceEvent;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function lookup(obj: Record<string, unknown>, path: string): unknown {
  if (path in obj) return obj[path];
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Event time of a hit in epoch ms: the first sort value (date sort values are epoch ms). */
export function hitTimestamp(hit: EsHit, timestampField: string): number | undefined {
  const s = hit.sort?.[0];
  if (typeof s === 'number' && Number.isFinite(s)) return s;
  if (typeof s === 'string' && /^\d+$/.test(s)) return Number(s);
  const v = hit._source ? lookup(hit._source, timestampField) : undefined;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  if (typeof v === 'number') return v;
  return undefined;
}
