import { ErrorCodes, PluginError } from '@reactive-fabric/core';
import type { SourceEvent } from '@reactive-fabric/core';

export type SplunkRow = Record<string, unknown>;

function str(row: SplunkRow, field: string): string | undefined {
  const v = row[field];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/**
 * The identity of a raw event: `_bkt` (index~bucket~guid) + `_cd` (bucket:offset) is the same in
 * every search and on every replica. `_serial` is only the row number in one result set.
 */
export function rowId(row: SplunkRow): string {
  const cd = str(row, '_cd');
  if (!cd) throw new PluginError(ErrorCodes.BAD_RESPONSE, 'a Splunk result row has no _cd: is the search returning raw events (no transforming commands)?');
  const bkt = str(row, '_bkt') ?? `${str(row, 'splunk_server') ?? ''}~${str(row, 'index') ?? ''}`;
  return `${bkt}/${cd}`;
}

/** Index time in epoch ms: what the windows run on. */
export function rowIndexTime(row: SplunkRow): number {
  const v = str(row, '_indextime');
  const n = v === undefined ? Number.NaN : Number(v);
  if (!Number.isFinite(n)) throw new PluginError(ErrorCodes.BAD_RESPONSE, `a Splunk result row has no numeric _indextime (got ${JSON.stringify(row._indextime)})`);
  return Math.floor(n) * 1000;
}

function eventTime(row: SplunkRow): string {
  const t = str(row, '_time');
  if (t !== undefined) {
    const ms = /^\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : Date.parse(t);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  throw new PluginError(ErrorCodes.BAD_RESPONSE, `a Splunk result row has no usable _time (got ${JSON.stringify(row._time)})`);
}

/** A raw Splunk event as ECS: `_raw` is the original, sourcetype the dataset, the store in labels. */
export function rowToEvent(row: SplunkRow): SourceEvent {
  const raw = str(row, '_raw') ?? '';
  const indexTime = rowIndexTime(row);
  const ev: SourceEvent = {
    '@timestamp': eventTime(row),
    message: raw,
    event: { id: rowId(row), original: raw, ingested: new Date(indexTime).toISOString() },
    labels: { log_store: 'splunk' },
  };
  const sourcetype = str(row, 'sourcetype');
  if (sourcetype) ev.event!.dataset = sourcetype;
  const host = str(row, 'host');
  if (host) ev.host = { name: host };
  const source = str(row, 'source');
  if (source) ev.log = { file: { path: source } };
  const labels = ev.labels as Record<string, string>;
  const index = str(row, 'index');
  if (index) labels.splunk_index = index;
  if (sourcetype) labels.splunk_sourcetype = sourcetype;
  const server = str(row, 'splunk_server');
  if (server) labels.splunk_server = server;
  return ev;
}
