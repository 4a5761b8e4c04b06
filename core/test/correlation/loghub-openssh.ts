// The loghub OpenSSH_2k dataset and its labelling (https://github.com/logpai/loghub; see
// ../shared/datasets/loghub/CITATION), read the same way by the single-process correlation test and
// the cluster one, so both compare against one expected set computed from the labels.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const datasets = path.resolve(repoRoot, '../shared/datasets/loghub');
export const YEAR = 2025;
/** Labels of failed authentication attempts: "Failed none|password for [invalid user] <*> from <*> port <*> ssh2". */
export const FAILED_ATTEMPT_EVENT_IDS = new Set(['E8', 'E9', 'E10']);
/**
 * Every line the loghub labelling marks as a failed authentication, with the <*> holding the remote
 * address: the attempts above, "Invalid user", "message repeated … [ Failed password …]", and
 * pam_unix "authentication failure … rhost=". The detection engine's rf_failed_authentication is
 * meant to match exactly these (one detection per line).
 */
export const FAILED_AUTH_ADDRESS_SLOT: Record<string, number> = { E8: 2, E9: 2, E10: 2, E13: 2, E14: 2, E19: 3, E20: 3 };
export const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
export function syslogTime(month: string, day: string, time: string): number {
  const [h, m, s] = time.split(':').map(Number);
  return Date.UTC(YEAR, MONTHS[month]!, Number(day), h!, m!, s!);
}

export interface Labelled {
  lineId: number;
  t: number;
  eventId: string;
  content: string;
  template: string;
}

export function parseStructuredCsv(text: string): Labelled[] {
  const rows: Labelled[] = [];
  for (const line of text.split(/\r?\n/).slice(1)) {
    if (!line.trim()) continue;
    const parts = line.split(',');
    // Content and template may contain commas: EventId is the E<n> field nearest the right end.
    let e = parts.length - 1;
    while (e > 6 && !/^E\d+$/.test(parts[e]!)) e--;
    rows.push({
      lineId: Number(parts[0]),
      t: syslogTime(parts[1]!, parts[2]!, parts[3]!),
      content: parts.slice(6, e).join(','),
      eventId: parts[e]!,
      template: parts.slice(e + 1).join(','),
    });
  }
  return rows;
}

/** Value of the n-th <*> of a loghub template in the line's content. */
export function templateValue(template: string, content: string, n: number): string {
  const rx = new RegExp(
    `^${template
      .split('<*>')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('(.*?)')}$`,
  );
  const m = rx.exec(content);
  if (!m) throw new Error(`template "${template}" does not match "${content}"`);
  return m[n]!;
}

/** Addresses with ≥ n timestamps within any span of `spanMs` (inclusive), by brute force over all pairs. */
export function addressesWithBurst(byIp: Map<string, number[]>, n: number, spanMs: number): Set<string> {
  const out = new Set<string>();
  for (const [ip, times] of byIp) {
    for (const start of times) {
      if (times.filter((t) => t >= start && t <= start + spanMs).length >= n) {
        out.add(ip);
        break;
      }
    }
  }
  return out;
}

/**
 * IPv4 addresses the built-in brute-force rule (≥ n failed authentications within spanMs) must fire
 * for, from the labelled lines: every line the labelling marks as a failed authentication, with
 * the address its template holds (what rf_failed_authentication matches, one detection per line).
 */
export function expectedBruteForce(labelled: Labelled[], n: number, spanMs: number): { expected: Set<string>; byAddress: Map<string, number[]> } {
  const byAddress = new Map<string, number[]>();
  for (const row of labelled) {
    const slot = FAILED_AUTH_ADDRESS_SLOT[row.eventId];
    if (slot === undefined) continue;
    // pam_unix pads rhost with spaces ("rhost=104.192.3.34 ", "rhost=… ␠user=uucp").
    const address = templateValue(row.template, row.content, slot).trim();
    byAddress.set(address, [...(byAddress.get(address) ?? []), row.t]);
  }
  // pam_unix names some hosts (rhost=ec2-….amazonaws.com.cn): compare on IP addresses only.
  return { expected: new Set([...addressesWithBurst(byAddress, n, spanMs)].filter((a) => IPV4.test(a))), byAddress };
}
