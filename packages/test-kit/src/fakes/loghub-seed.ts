import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Seeds for the log-store fakes: real sshd/syslog lines from LogPAI loghub
 * (https://github.com/logpai/loghub, see ../shared/datasets/loghub/CITATION), read by path and
 * never copied into the repo. Loghub lines carry no year, so callers place them on a time axis.
 */

export type LoghubFile = 'OpenSSH_2k.log' | 'Linux_2k.log';

export interface LoghubRecord {
  /** The line exactly as in the dataset: what a log store keeps as the raw event. */
  line: string;
  host: string;
  program: string;
  pid?: number;
  /** The text after `program[pid]: `. */
  message: string;
  /** ECS event.dataset a shipper would have set for this file. */
  dataset: string;
  /** 0-based line number in the dataset file. */
  lineNo: number;
}

/** `<repoRoot>/../shared/datasets/loghub`, where CI lays shared/ beside the clone. */
export function loghubDir(repoRoot: string): string {
  return resolve(repoRoot, '../shared/datasets/loghub');
}

const SYSLOG = /^(\w{3})\s+(\d{1,2})\s+(\d\d:\d\d:\d\d)\s+(\S+)\s+([^:[\s]+(?:\([^)]*\))?)(?:\[(\d+)\])?:\s?(.*)$/;

/** Parses one syslog-format loghub line; undefined when it does not have the syslog shape. */
export function parseLoghubLine(line: string, lineNo: number, dataset: string): LoghubRecord | undefined {
  const m = SYSLOG.exec(line);
  if (!m) return undefined;
  const rec: LoghubRecord = { line, host: m[4]!, program: m[5]!, message: m[7]!, dataset, lineNo };
  if (m[6] !== undefined) rec.pid = Number(m[6]);
  return rec;
}

/** Reads up to `limit` parseable lines of a loghub file. */
export function readLoghub(dir: string, file: LoghubFile, limit = Number.POSITIVE_INFINITY): LoghubRecord[] {
  const dataset = file === 'OpenSSH_2k.log' ? 'openssh.log' : 'system.syslog';
  const out: LoghubRecord[] = [];
  const lines = readFileSync(resolve(dir, file), 'utf8').split('\n');
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const line = lines[i]!.replace(/\s+$/, '');
    if (!line) continue;
    const rec = parseLoghubLine(line, i, dataset);
    if (rec) out.push(rec);
  }
  return out;
}

/** A loghub record placed at an event time (and, for stores that have one, an index time). */
export interface TimedRecord {
  record: LoghubRecord;
  /** Event time, epoch ms. */
  timestamp: number;
}

/** Spreads records evenly over [startMs, endMs), in dataset order. */
export function spreadOverTime(records: LoghubRecord[], startMs: number, endMs: number): TimedRecord[] {
  const step = records.length > 0 ? (endMs - startMs) / records.length : 0;
  return records.map((record, i) => ({ record, timestamp: Math.floor(startMs + i * step) }));
}
