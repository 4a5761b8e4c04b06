import { parseSyslogHeader } from '@reactive-fabric/core';
import { DateTime, IANAZone, SystemZone, type Zone } from 'luxon';

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
// "Dec 10 06:55:46[.frac]" as parseSyslogHeader hands it back (it has already checked the shape).
const BSD_TS = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

export interface SyslogLine {
  timestamp: Date;
  host: string;
  /** The tag or APP-NAME; '' when an RFC 5424 line leaves it nil ("-"). */
  program: string;
  pid?: number;
  message: string;
  /** ECS `log.syslog`: present when the line carried a <PRI> (and for RFC 5424, its header fields). */
  syslog?: {
    priority: number;
    facility: { code: number };
    severity: { code: number };
    version?: string;
    msgid?: string;
    /** SD-ID → param → value, escapes (\" \\ \]) undone. */
    structured_data?: Record<string, Record<string, string>>;
  };
}

/**
 * The zone BSD syslog times are read in: `name` (an IANA name such as "Europe/Berlin"), or the
 * host's zone (TZ, else /etc/localtime) when unset — the zone syslogd wrote them in. Undefined
 * when `name` is not a time zone the runtime knows.
 */
export function syslogZone(name?: string): Zone | undefined {
  if (name === undefined) return SystemZone.instance;
  const zone = IANAZone.create(name);
  return zone.isValid ? zone : undefined;
}

/**
 * BSD syslog lines carry no year and no zone. We read the wall time in `zone`, take `year`
 * (default: this year in that zone) and step back a year when that would put the line more than a
 * day in the future — the December log read in January. A wall time the zone skips (spring
 * forward) is moved forward by the gap; one it repeats (fall back) is read as the second of the
 * two (luxon's choice): the line does not say which, and an hour's error beats dropping it.
 */
function bsdTime(text: string, now: Date, year: number | undefined, zone: Zone): Date | undefined {
  const m = BSD_TS.exec(text);
  const month = m ? MONTHS[m[1]!] : undefined;
  // luxon would carry hour 24 into the next day; a clock never shows it.
  if (!m || month === undefined || Number(m[3]) > 23) return undefined;
  const millisecond = m[6] ? Number(m[6].slice(0, 3).padEnd(3, '0')) : 0;
  const at = (y: number) =>
    DateTime.fromObject({ year: y, month: month + 1, day: Number(m[2]), hour: Number(m[3]), minute: Number(m[4]), second: Number(m[5]), millisecond }, { zone }).toJSDate();
  const y = year ?? DateTime.fromJSDate(now, { zone }).year;
  const ts = at(y);
  return year === undefined && ts.getTime() - now.getTime() > 86_400_000 ? at(y - 1) : ts;
}

/**
 * The line's syslog header (the one parser: parseSyslogHeader from the plugin toolkit) turned into
 * what an event carries; a BSD time is read in `zone` (syslogZone). Returns undefined for a line with no syslog header (or a malformed one):
 * it is then kept whole.
 */
export function parseSyslog(line: string, now: Date = new Date(), year?: number, zone: Zone = SystemZone.instance): SyslogLine | undefined {
  const h = parseSyslogHeader(line);
  if (!h) return undefined;
  let timestamp: Date | undefined;
  if (h.version !== undefined) timestamp = h.timestamp === '' ? now : new Date(h.timestamp);
  else if (/^\d/.test(h.timestamp)) timestamp = new Date(h.timestamp);
  else timestamp = bsdTime(h.timestamp, now, year, zone);
  if (!timestamp || Number.isNaN(timestamp.getTime())) return undefined;
  const p = h.priority;
  return {
    timestamp,
    host: h.host ?? '',
    program: h.program ?? '',
    ...(h.pid !== undefined ? { pid: h.pid } : {}),
    message: h.message,
    ...(p !== undefined
      ? {
          syslog: {
            priority: p,
            facility: { code: p >> 3 },
            severity: { code: p & 7 },
            ...(h.version !== undefined ? { version: String(h.version) } : {}),
            ...(h.msgid !== undefined ? { msgid: h.msgid } : {}),
            ...(h.structuredData ? { structured_data: h.structuredData } : {}),
          },
        }
      : {}),
  };
}
