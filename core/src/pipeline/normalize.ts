import { createHash } from 'node:crypto';
import { setField, type FabricEvent, type Priority, type SourceEvent } from '../plugin-api/index.js';
import { EVENT_SCHEMA_VERSION } from '../sinks/sink.js';
import { PRIORITY_ORDER } from './priority.js';

export interface Provenance {
  collector: string;
  plugin: string;
}

export type NormalizeResult = { ok: true; event: FabricEvent } | { ok: false; reason: string };

/**
 * Turn what a plugin emitted into a pipeline event: nested ECS (dotted keys expanded), an
 * `event.id`, provenance, and a content fingerprint that is the same whichever collector read
 * the line — so the same event pulled twice is de-duplicated, and a replay after a crash
 * carries the same id.
 */
export function normalizeEvent(input: unknown, from: Provenance): NormalizeResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { ok: false, reason: `event is ${Array.isArray(input) ? 'an array' : typeof input}, expected an object` };
  const src = input as Record<string, unknown>;
  const ts = src['@timestamp'];
  if (typeof ts !== 'string' || Number.isNaN(Date.parse(ts))) return { ok: false, reason: `event has no valid "@timestamp" (got ${JSON.stringify(ts)?.slice(0, 40)})` };

  const event: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(src)) {
    if (key !== '@timestamp' && key.includes('.')) setField(event, key, value);
    else if (value !== null && typeof value === 'object' && !Array.isArray(value) && event[key] && typeof event[key] === 'object') Object.assign(event[key] as object, value);
    else event[key] = value;
  }
  const ev = (event.event && typeof event.event === 'object' ? event.event : (event.event = {})) as Record<string, unknown>;
  const fingerprint = fingerprintOf(event);
  if (typeof ev.id !== 'string' || ev.id === '') ev.id = `${from.collector}-${fingerprint.slice(0, 24)}`;
  const fabric = (event.fabric && typeof event.fabric === 'object' ? event.fabric : {}) as Record<string, unknown>;
  event.fabric = { ...fabric, collector: from.collector, plugin: from.plugin, fingerprint, schema_version: EVENT_SCHEMA_VERSION };
  return { ok: true, event: event as FabricEvent };
}

export function fingerprintOf(event: Record<string, unknown>): string {
  const ev = (event.event ?? {}) as Record<string, unknown>;
  const host = (event.host as Record<string, unknown> | undefined)?.name;
  const body = typeof ev.original === 'string' ? ev.original : typeof event.message === 'string' ? event.message : stableJson({ ...event, fabric: undefined, event: { ...ev, id: undefined, ingested: undefined } });
  return createHash('sha1').update(`${String(event['@timestamp'])}\n${String(host ?? '')}\n${body}`).digest('hex');
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
}


export function priorityOf(event: FabricEvent): Priority {
  const p = event.fabric.priority;
  return p && p in PRIORITY_ORDER ? p : 'info';
}
