/**
 * The one syslog header parser: the log-file plugin reads its lines with it, and the detection
 * engine's syslog extractor uses it on messages that still carry a header (events from log stores
 * or relays). Hand-written rather than a regex because every raw line passes here; the RFC examples
 * and loghub lines are its tests (core/test/detection/syslog-headers.test.ts,
 * plugins/log-file/test/syslog-headers.test.ts).
 */
/**
 * Syslog headers as they reach files and relays, without a regex on the hot path (every raw line
 * passes here):
 *   - BSD / RFC 3164   "Dec 10 06:55:46 host prog[pid]: msg" (also "Dec 10 06:55:46.123 …")
 *   - RFC 3339 header  "2024-05-01T10:00:00.123+02:00 host prog[pid]: msg" (rsyslog high precision)
 *   - either of those behind a "<PRI>" (what a network listener writes when it keeps the raw packet)
 *   - RFC 5424         "<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD…] MSG", "-" = nil, BOM stripped
 * Returns false when the line has none of these headers (the text then stays the message).
 */
export interface SyslogHeader {
  host?: string;
  program?: string;
  pid?: number;
  message: string;
  /** Timestamp text as written (BSD timestamps carry no year). */
  timestamp: string;
  priority?: number;
  version?: number;
  msgid?: string;
  /** RFC 5424 structured data: SD-ID → param → value (escapes undone). */
  structuredData?: Record<string, Record<string, string>>;
}

const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);
const ISO_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?$/;

const isDigit = (c: number) => c >= 48 && c <= 57;

/** "<PRI>" at `text[0]`: [priority, index after ">"], or undefined. */
function readPri(text: string): [number, number] | undefined {
  if (text.charCodeAt(0) !== 60) return undefined;
  let i = 1;
  let n = 0;
  while (i < text.length && i <= 4 && isDigit(text.charCodeAt(i))) n = n * 10 + text.charCodeAt(i++) - 48;
  // RFC 5424 §6.2.1: 1–3 digits, at most 191 (facility 23, severity 7).
  if (i === 1 || i > 4 || text.charCodeAt(i) !== 62 || n > 191) return undefined;
  return [n, i + 1];
}

/** BSD timestamp "Mmm dd hh:mm:ss[.frac]" at `at`: index after it, or -1. */
function bsdTimestampEnd(text: string, at: number): number {
  if (!MONTHS.has(text.slice(at, at + 3)) || text.charCodeAt(at + 3) !== 32) return -1;
  const d1 = text.charCodeAt(at + 4);
  // "Dec 10", "Dec  1" (RFC 3164 pads with a space) and "Dec 1" (some relays do not pad).
  let t: number;
  if ((d1 === 32 || isDigit(d1)) && isDigit(text.charCodeAt(at + 5)) && text.charCodeAt(at + 6) === 32) t = at + 7;
  else if (isDigit(d1) && text.charCodeAt(at + 5) === 32) t = at + 6;
  else return -1;
  for (const k of [0, 1, 3, 4, 6, 7]) if (!isDigit(text.charCodeAt(t + k))) return -1;
  if (text.charCodeAt(t + 2) !== 58 || text.charCodeAt(t + 5) !== 58) return -1;
  let end = t + 8;
  if (text.charCodeAt(end) === 46) {
    let j = end + 1;
    while (isDigit(text.charCodeAt(j))) j++;
    if (j === end + 1) return -1;
    end = j;
  }
  return text.charCodeAt(end) === 32 ? end : -1;
}

/** "host tag: msg" after the timestamp (at points at the space). */
function readBsdRest(text: string, at: number, timestamp: string, priority: number | undefined): SyslogHeader | undefined {
  const hostStart = at + 1;
  const hostEnd = text.indexOf(' ', hostStart);
  if (hostEnd <= hostStart) return undefined;
  const tagEnd = text.indexOf(':', hostEnd + 1);
  if (tagEnd <= hostEnd + 1) return undefined;
  // "prog: msg": a colon inside the first word with no space after it ("10.0.0.1:22 …") is no tag.
  if (tagEnd + 1 < text.length && text.charCodeAt(tagEnd + 1) !== 32) return undefined;
  const tag = text.slice(hostEnd + 1, tagEnd);
  if (tag.includes(' ') || tag.includes('\t')) return undefined;
  const msgStart = Math.min(tagEnd + 2, text.length);
  const out: SyslogHeader = { host: text.slice(hostStart, hostEnd), message: text.slice(msgStart), timestamp, ...(priority !== undefined ? { priority } : {}) };
  const br = tag.indexOf('[');
  if (br > 0 && tag.charCodeAt(tag.length - 1) === 93) {
    out.program = tag.slice(0, br);
    const pid = Number(tag.slice(br + 1, -1));
    if (Number.isInteger(pid) && pid >= 0) out.pid = pid;
  } else if (br === -1) out.program = tag;
  else return undefined;
  return out;
}

/** RFC 5424 SD-ELEMENTs starting at `at` ("[" …): the parsed data and the index after it, or undefined. */
function readStructuredData(text: string, at: number): [Record<string, Record<string, string>>, number] | undefined {
  const sd: Record<string, Record<string, string>> = {};
  let i = at;
  while (text.charCodeAt(i) === 91) {
    let j = i + 1;
    while (j < text.length && !' ]='.includes(text[j]!) && text.charCodeAt(j) !== 34) j++;
    const id = text.slice(i + 1, j);
    if (id === '' || id.length > 32) return undefined;
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    while (text.charCodeAt(j) === 32) {
      const eq = text.indexOf('="', j + 1);
      if (eq === -1) return undefined;
      const name = text.slice(j + 1, eq);
      if (name === '' || name.length > 32 || /[\s\]"=]/.test(name)) return undefined;
      let k = eq + 2;
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
      params[name] = value;
      j = k + 1;
    }
    if (text.charCodeAt(j) !== 93) return undefined;
    // An SD-ID is unique per message (§6.3.2); a repeat is malformed, keep the first.
    if (!(id in sd)) sd[id] = { ...params };
    i = j + 1;
  }
  return [sd, i];
}

function readRfc5424(text: string, at: number, priority: number): SyslogHeader | undefined {
  // VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
  const parts: string[] = [];
  let i = at;
  for (let n = 0; n < 6; n++) {
    const sp = text.indexOf(' ', i);
    if (sp === -1 || sp === i) return undefined;
    parts.push(text.slice(i, sp));
    i = sp + 1;
  }
  const [version, timestamp, host, app, procid, msgid] = parts as [string, string, string, string, string, string];
  if (!/^[1-9]\d{0,2}$/.test(version)) return undefined;
  if (timestamp !== '-' && !ISO_TS.test(timestamp)) return undefined;
  let sd: Record<string, Record<string, string>> | undefined;
  if (text.charCodeAt(i) === 45) i++;
  else {
    const r = readStructuredData(text, i);
    if (!r) return undefined;
    [sd, i] = r;
  }
  if (i < text.length && text.charCodeAt(i) !== 32) return undefined;
  let message = text.slice(i + 1);
  if (message.charCodeAt(0) === 0xfeff) message = message.slice(1);
  const nil = (v: string) => (v === '-' ? undefined : v);
  const out: SyslogHeader = { message, timestamp: nil(timestamp) ?? '', priority, version: Number(version) };
  if (nil(host)) out.host = host;
  if (nil(app)) out.program = app;
  if (nil(msgid)) out.msgid = msgid;
  if (nil(procid)) {
    const pid = Number(procid);
    if (/^\d+$/.test(procid) && Number.isSafeInteger(pid)) out.pid = pid;
  }
  if (sd && Object.keys(sd).length) out.structuredData = sd;
  return out;
}

export function parseSyslogHeader(text: string): SyslogHeader | undefined {
  let at = 0;
  let priority: number | undefined;
  const pri = readPri(text);
  if (pri) {
    [priority, at] = pri;
    // "<PRI>1 " is RFC 5424; "<PRI>Mmm" or "<PRI>2024-" is a BSD/RFC 3339 header behind a PRI.
    if (isDigit(text.charCodeAt(at)) && text.charCodeAt(at + 1) === 32) return readRfc5424(text, at, priority);
  }
  const bsd = bsdTimestampEnd(text, at);
  if (bsd !== -1) return readBsdRest(text, bsd, text.slice(at, bsd), priority);
  if (isDigit(text.charCodeAt(at)) && text.charCodeAt(at + 4) === 45 && text.charCodeAt(at + 10) === 84) {
    const sp = text.indexOf(' ', at);
    if (sp === -1 || !ISO_TS.test(text.slice(at, sp))) return undefined;
    return readBsdRest(text, sp, text.slice(at, sp), priority);
  }
  return undefined;
}
