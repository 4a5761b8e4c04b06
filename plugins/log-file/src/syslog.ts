const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

// "Dec 10 06:55:46 LabSZ sshd[24200]: message" (RFC 3164, as written by rsyslog/syslog-ng to auth.log)
const BSD = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\S+) ([^:[\s]+)(?:\[(\d+)\])?: ?(.*)$/s;
// "2024-05-01T10:00:00.123+02:00 host sshd[1]: message" (rsyslog high-precision format)
const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})) (\S+) ([^:[\s]+)(?:\[(\d+)\])?: ?(.*)$/s;

export interface SyslogLine {
  timestamp: Date;
  host: string;
  program: string;
  pid?: number;
  message: string;
}

/**
 * BSD syslog lines carry no year. We take `year` (default: this year) and step back a year when
 * that would put the line more than a day in the future — the December log read in January.
 */
export function parseSyslog(line: string, now: Date = new Date(), year?: number): SyslogLine | undefined {
  let m = BSD.exec(line);
  if (m) {
    const month = MONTHS[m[1]!];
    if (month === undefined) return undefined;
    const y = year ?? now.getUTCFullYear();
    let ts = new Date(Date.UTC(y, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
    if (year === undefined && ts.getTime() - now.getTime() > 86_400_000) ts = new Date(Date.UTC(y - 1, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
    return { timestamp: ts, host: m[6]!, program: m[7]!, ...(m[8] ? { pid: Number(m[8]) } : {}), message: m[9]! };
  }
  m = ISO.exec(line);
  if (m) {
    const ts = new Date(m[1]!);
    if (Number.isNaN(ts.getTime())) return undefined;
    return { timestamp: ts, host: m[2]!, program: m[3]!, ...(m[4] ? { pid: Number(m[4]) } : {}), message: m[5]! };
  }
  return undefined;
}
