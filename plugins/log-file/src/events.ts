import { createHash } from 'node:crypto';
import type { SourceEvent } from '@reactive-fabric/core';
import type { Zone } from 'luxon';
import { parseSyslog } from './syslog.js';
import { parseAccessLine } from './access.js';

export type LineFormat = 'auto' | 'syslog' | 'json' | 'access' | 'plain';

export interface LinePosition {
  path: string;
  dev: number;
  ino: number;
  offset: number;
}

/** One log line → one ECS event. The raw line is always kept in `event.original`. */
export function lineToEvent(line: string, pos: LinePosition, format: LineFormat, opts: { year?: number; zone?: Zone; truncated?: boolean; now?: Date }): SourceEvent {
  const id = createHash('sha1').update(`${pos.dev}:${pos.ino}:${pos.offset}:${pos.path}`).digest('hex').slice(0, 24);
  const now = opts.now ?? new Date();
  const base = {
    event: { id, original: line, kind: 'event' as const, ingested: now.toISOString() },
    log: { file: { path: pos.path }, offset: pos.offset, ...(opts.truncated ? { flags: ['truncated'] } : {}) },
  };
  const trimmed = line.trimStart();
  if ((format === 'json' || format === 'auto') && trimmed.startsWith('{')) {
    try {
      const doc = JSON.parse(trimmed) as Record<string, unknown>;
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
        const ts = pickTimestamp(doc) ?? now.toISOString();
        const ev = (doc.event && typeof doc.event === 'object' ? doc.event : {}) as Record<string, unknown>;
        return { ...doc, '@timestamp': ts, event: { ...ev, ...base.event, id: typeof ev.id === 'string' ? ev.id : id }, log: { ...((doc.log as object) ?? {}), ...base.log } };
      }
    } catch {
      if (format === 'json') return { '@timestamp': now.toISOString(), message: line, ...base, event: { ...base.event }, tags: ['_jsonparsefailure'] };
    }
  }
  if (format === 'syslog' || format === 'auto') {
    const s = parseSyslog(line, now, opts.year, opts.zone);
    if (s) {
      return {
        '@timestamp': s.timestamp.toISOString(),
        message: s.message,
        host: { name: s.host },
        process: { name: s.program, ...(s.pid !== undefined ? { pid: s.pid } : {}) },
        ...base,
      };
    }
  }
  if (format === 'access' || format === 'auto') {
    const a = parseAccessLine(line);
    if (a) {
      return {
        '@timestamp': a.timestamp,
        message: line,
        source: { ip: a.clientIp },
        ...(a.user ? { user: { name: a.user } } : {}),
        ...(a.url ? { url: { original: a.url } } : {}),
        http: { ...(a.method ? { request: { method: a.method } } : {}), response: { status_code: a.status, ...(a.bytes !== undefined ? { body: { bytes: a.bytes } } : {}) } },
        ...(a.userAgent ? { user_agent: { original: a.userAgent } } : {}),
        ...base,
        event: { ...base.event, category: ['web'], type: ['access'] },
      };
    }
  }
  return { '@timestamp': now.toISOString(), message: line, ...base };
}

function pickTimestamp(doc: Record<string, unknown>): string | undefined {
  for (const key of ['@timestamp', 'timestamp', 'time', 'ts']) {
    const v = doc[key];
    if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
    if (typeof v === 'number' && Number.isFinite(v)) return new Date(v > 1e12 ? v : v * 1000).toISOString();
  }
  return undefined;
}
