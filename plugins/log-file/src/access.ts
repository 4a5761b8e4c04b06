const MONTHS: Record<string, string> = { Jan: '01', Feb: '02', Mar: '03', Apr: '04', May: '05', Jun: '06', Jul: '07', Aug: '08', Sep: '09', Oct: '10', Nov: '11', Dec: '12' };

// Common/combined log format (Apache, nginx):
// 198.51.100.66 - frank [27/Nov/2026:10:08:21 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "Mozilla/5.0"
const ACCESS = /^(\S+) \S+ (\S+) \[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})\] "([^"]*)" (\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?/;

export interface AccessLine {
  timestamp: string;
  clientIp: string;
  user?: string;
  request: string;
  method?: string;
  url?: string;
  status: number;
  bytes?: number;
  referrer?: string;
  userAgent?: string;
}

/** A web server access-log line, or undefined when the line is not in common/combined format. */
export function parseAccessLine(line: string): AccessLine | undefined {
  const m = ACCESS.exec(line);
  if (!m) return undefined;
  const month = MONTHS[m[4]!];
  if (!month) return undefined;
  const ts = new Date(`${m[5]}-${month}-${m[3]}T${m[6]}${m[7]}:${m[8]}`);
  if (Number.isNaN(ts.getTime())) return undefined;
  const [method, url] = m[9]!.split(' ');
  return {
    timestamp: ts.toISOString(),
    clientIp: m[1]!,
    ...(m[2] !== '-' ? { user: m[2]! } : {}),
    request: m[9]!,
    ...(method && url ? { method, url } : {}),
    status: Number(m[10]),
    ...(m[11] !== '-' ? { bytes: Number(m[11]) } : {}),
    ...(m[12] && m[12] !== '-' ? { referrer: m[12] } : {}),
    ...(m[13] ? { userAgent: m[13] } : {}),
  };
}
