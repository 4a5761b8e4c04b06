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
 * How far `zone`'s wall clock is ahead of UTC during one local minute (NaN for a day the month
 * does not have). Zones change offset on whole minutes, so every second of the minute shares it.
 * For a named zone, log lines come in runs from the same minute and a lookup through Intl costs
 * about five times the rest of the line's parsing, so the last answer is kept; the host's zone is
 * answered by Date itself, cheaply, and follows a change of TZ.
 */
function minuteOffset(zone: Zone, year: number, month: number, day: number, hour: number, minute: number): number {
  const named = zone.type !== 'system';
  const key = named ? `${year}-${month}-${day} ${hour}:${minute}` : '';
  if (!named || zone !== lastMinute.zone || key !== lastMinute.key) {
    const local = DateTime.fromObject({ year, month: month + 1, day, hour, minute }, { zone });
    lastMinute.zone = zone;
    lastMinute.key = key;
    lastMinute.offsetMs = local.isValid ? Date.UTC(year, month, day, hour, minute) - local.toMillis() : Number.NaN;
  }
  return lastMinute.offsetMs;
}
const lastMinute: { zone: Zone | undefined; key: string; offsetMs: number } = { zone: undefined, key: '', offsetMs: 0 };

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
  const day = Number(m[2]);
  const hour = Number(m[3]);
  const minute = Number(m[4]);
  const second = Number(m[5]);
  if (minute > 59 || second > 59) return undefined;
  const at = (y: number) => new Date(Date.UTC(y, month, day, hour, minute, second, millisecond) - minuteOffset(zone, y, month, day, hour, minute));
  const y = year ?? new Date(now.getTime() + zone.offset(now.getTime()) * 60_000).getUTCFullYear();
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
