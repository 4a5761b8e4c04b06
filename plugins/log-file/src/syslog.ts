const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

// Each header may sit behind a "<PRI>" (a listener that writes the raw packet, or a relay that keeps it).
// "Dec 10 06:55:46 LabSZ sshd[24200]: message" (RFC 3164, as written by rsyslog/syslog-ng to auth.log);
// fractional seconds ("06:55:46.123") as some relays write them.
const BSD = /^(?:<(\d{1,3})>)?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? (\S+) ([^:[\s]+)(?:\[(\d+)\])?: ?(.*)$/s;
// "2024-05-01T10:00:00.123+02:00 host sshd[1]: message" (rsyslog high-precision format)
const ISO = /^(?:<(\d{1,3})>)?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})) (\S+) ([^:[\s]+)(?:\[(\d+)\])?: ?(.*)$/s;
// RFC 5424: "<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]", "-" = nil.
const RFC5424 = /^<(\d{1,3})>([1-9]\d{0,2}) (-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) ([\s\S]*)$/;

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

function priority(raw: string | undefined): SyslogLine['syslog'] | undefined {
  if (raw === undefined) return undefined;
  const p = Number(raw);
  // RFC 5424 §6.2.1: facility 0–23, severity 0–7.
  if (!Number.isInteger(p) || p > 191) return undefined;
  return { priority: p, facility: { code: p >> 3 }, severity: { code: p & 7 } };
}

/** RFC 5424 SD-ELEMENTs at the start of `text`: the data and the rest (the MSG), or undefined when malformed. */
function structuredData(text: string): [Record<string, Record<string, string>>, string] | undefined {
  const sd: Record<string, Record<string, string>> = {};
  let i = 0;
  while (text[i] === '[') {
    const id = /^[^\s\]="]{1,32}/.exec(text.slice(i + 1))?.[0];
    if (id === undefined) return undefined;
    let j = i + 1 + id.length;
    const params: Record<string, string> = {};
    while (text[j] === ' ') {
      const name = /^([^\s\]="]{1,32})="/.exec(text.slice(j + 1));
      if (!name) return undefined;
      let k = j + 1 + name[0].length;
      let value = '';
      for (;;) {
        if (k >= text.length) return undefined;
        const c = text[k]!;
        if (c === '\\' && (text[k + 1] === '"' || text[k + 1] === '\\' || text[k + 1] === ']')) {
          value += text[k + 1];
          k += 2;
        } else if (c === '"') break;
        else {
          value += c;
          k++;
        }
      }
      params[name[1]!] = value;
      j = k + 1;
    }
    if (text[j] !== ']') return undefined;
    if (!Object.hasOwn(sd, id)) sd[id] = params;
    i = j + 1;
  }
  if (i < text.length && text[i] !== ' ') return undefined;
  return [sd, text.slice(i + 1)];
}

function parseRfc5424(line: string, now: Date): SyslogLine | undefined {
  const m = RFC5424.exec(line);
  if (!m) return undefined;
  const pri = priority(m[1]);
  if (!pri) return undefined;
  let message: string;
  let sd: Record<string, Record<string, string>> | undefined;
  const rest = m[8]!;
  if (rest[0] === '-') {
    if (rest.length > 1 && rest[1] !== ' ') return undefined;
    message = rest.slice(2);
  } else {
    const r = structuredData(rest);
    if (!r) return undefined;
    [sd, message] = r;
  }
  if (message.charCodeAt(0) === 0xfeff) message = message.slice(1);
  const ts = m[3] === '-' ? now : new Date(m[3]!);
  if (Number.isNaN(ts.getTime())) return undefined;
  const nil = (v: string) => (v === '-' ? undefined : v);
  const procid = nil(m[6]!);
  return {
    timestamp: ts,
    host: nil(m[4]!) ?? '',
    program: nil(m[5]!) ?? '',
    ...(procid !== undefined && /^\d+$/.test(procid) ? { pid: Number(procid) } : {}),
    message,
    syslog: {
      ...pri,
      version: m[2]!,
      ...(nil(m[7]!) !== undefined ? { msgid: m[7]! } : {}),
      ...(sd && Object.keys(sd).length ? { structured_data: sd } : {}),
    },
  };
}

/**
 * BSD syslog lines carry no year. We take `year` (default: this year) and step back a year when
 * that would put the line more than a day in the future — the December log read in January.
 * Returns undefined for a line with no syslog header (or a malformed one): it is then kept whole.
 */
export function parseSyslog(line: string, now: Date = new Date(), year?: number): SyslogLine | undefined {
  // "<PRI>1 " is RFC 5424; "<PRI>Mmm" or "<PRI>2024-" is a BSD or RFC 3339 header behind a PRI.
  if (/^<\d{1,3}>\d{1,3} /.test(line)) return parseRfc5424(line, now);
  let m = BSD.exec(line);
  if (m) {
    const month = MONTHS[m[2]!];
    if (month === undefined) return undefined;
    const pri = priority(m[1]);
    if (m[1] !== undefined && !pri) return undefined;
    const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
    const at = (y: number) => new Date(Date.UTC(y, month, Number(m![3]), Number(m![4]), Number(m![5]), Number(m![6]), ms));
    const y = year ?? now.getUTCFullYear();
    let ts = at(y);
    if (year === undefined && ts.getTime() - now.getTime() > 86_400_000) ts = at(y - 1);
    return { timestamp: ts, host: m[8]!, program: m[9]!, ...(m[10] ? { pid: Number(m[10]) } : {}), message: m[11] ?? '', ...(pri ? { syslog: pri } : {}) };
  }
  m = ISO.exec(line);
  if (m) {
    const pri = priority(m[1]);
    if (m[1] !== undefined && !pri) return undefined;
    const ts = new Date(m[2]!);
    if (Number.isNaN(ts.getTime())) return undefined;
    return { timestamp: ts, host: m[3]!, program: m[4]!, ...(m[5] ? { pid: Number(m[5]) } : {}), message: m[6] ?? '', ...(pri ? { syslog: pri } : {}) };
  }
  return undefined;
}
