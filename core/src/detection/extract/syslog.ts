import { parseSyslogHeader } from '../../plugin-api/toolkit/syslog.js';
import type { ExtractionTarget } from './extractor.js';

/** The fields a parsed header adds (ECS `log.syslog.*` for PRI, version, msgid, structured data). */
export const SYSLOG_OUTPUTS = ['host.name', 'process.name', 'process.pid', 'message', 'log.syslog.'];

export function syslogExtract(text: string, out: ExtractionTarget): boolean {
  const h = parseSyslogHeader(text);
  if (!h) return false;
  if (h.host !== undefined) out.set('host.name', h.host);
  if (h.program !== undefined) out.set('process.name', h.program);
  if (h.pid !== undefined) out.set('process.pid', h.pid);
  out.set('message', h.message);
  if (h.priority !== undefined) {
    out.set('log.syslog.priority', h.priority);
    out.set('log.syslog.facility.code', h.priority >> 3);
    out.set('log.syslog.severity.code', h.priority & 7);
  }
  if (h.version !== undefined) out.set('log.syslog.version', String(h.version));
  if (h.msgid !== undefined) out.set('log.syslog.msgid', h.msgid);
  if (h.structuredData) {
    for (const [id, params] of Object.entries(h.structuredData)) {
      for (const [k, v] of Object.entries(params)) out.set(`log.syslog.structured_data.${id}.${k}`, v);
    }
  }
  return true;
}
