import { isIP } from 'node:net';
import type { SourceEvent } from '@reactive-fabric/core';
import { INGRESS_TOOL_TRANSFER, PASSWORD_GUESSING, PROXY, VALID_ACCOUNTS, techniquesForCommand, threatFor } from './attack.js';
import type { Technique } from './attack.js';

/** One line of Cowrie's JSON log (output_jsonlog). Only `eventid` and `timestamp` are always there. */
export interface CowrieRecord {
  eventid: string;
  timestamp: string;
  session?: string;
  src_ip?: string;
  src_port?: number;
  dst_ip?: string;
  dst_port?: number;
  sensor?: string;
  message?: string;
  protocol?: string;
  username?: string;
  password?: string;
  input?: string;
  url?: string;
  outfile?: string;
  destfile?: string;
  filename?: string;
  shasum?: string;
  version?: string;
  duration?: number | string;
  [key: string]: unknown;
}

/** Why a line could not become an event, for the operator's log. */
export class CowrieLineError extends Error {}

type EventShape = { category: string[]; type: string[]; outcome?: 'success' | 'failure' };

const SHAPES: Record<string, EventShape> = {
  'cowrie.session.connect': { category: ['network', 'session'], type: ['connection', 'start'] },
  'cowrie.session.closed': { category: ['network', 'session'], type: ['connection', 'end'] },
  'cowrie.client.version': { category: ['network'], type: ['protocol'] },
  'cowrie.client.kex': { category: ['network'], type: ['protocol'] },
  'cowrie.login.failed': { category: ['authentication'], type: ['start'], outcome: 'failure' },
  'cowrie.login.success': { category: ['authentication'], type: ['start'], outcome: 'success' },
  'cowrie.command.input': { category: ['process'], type: ['start'] },
  'cowrie.command.failed': { category: ['process'], type: ['start'], outcome: 'failure' },
  'cowrie.session.file_download': { category: ['file', 'network'], type: ['creation', 'connection'] },
  'cowrie.session.file_download.failed': { category: ['file', 'network'], type: ['creation', 'connection'], outcome: 'failure' },
  'cowrie.session.file_upload': { category: ['file'], type: ['creation'] },
  'cowrie.direct-tcpip.request': { category: ['network'], type: ['connection'] },
};

function techniquesFor(r: CowrieRecord): Technique[] {
  switch (r.eventid) {
    case 'cowrie.login.failed':
      return [PASSWORD_GUESSING];
    case 'cowrie.login.success':
      return [VALID_ACCOUNTS];
    case 'cowrie.command.input':
    case 'cowrie.command.failed':
      return typeof r.input === 'string' ? techniquesForCommand(r.input) : [];
    case 'cowrie.session.file_download':
    case 'cowrie.session.file_download.failed':
    case 'cowrie.session.file_upload':
      return [INGRESS_TOOL_TRANSFER];
    case 'cowrie.direct-tcpip.request':
      return [PROXY];
    default:
      return [];
  }
}

/** Parse one log line; throws CowrieLineError naming what is wrong. */
export function parseLine(line: string): CowrieRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new CowrieLineError('not JSON (is this the cowrie.json log, not cowrie.log?)');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CowrieLineError('not a JSON object');
  const r = value as Record<string, unknown>;
  if (typeof r.eventid !== 'string' || !r.eventid.startsWith('cowrie.'))
    throw new CowrieLineError(`field "eventid" missing or not a cowrie event id: ${JSON.stringify(r.eventid)?.slice(0, 80)}`);
  if (typeof r.timestamp !== 'string' || Number.isNaN(Date.parse(r.timestamp)))
    throw new CowrieLineError(`field "timestamp" missing or not a time: ${JSON.stringify(r.timestamp)?.slice(0, 80)}`);
  return r as CowrieRecord;
}

const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
const isIp = (v: unknown): v is string => typeof v === 'string' && isIP(v) !== 0;

/** Cowrie record → ECS event (nested objects), tagged with ATT&CK techniques. */
export function toEcs(r: CowrieRecord, options: { sensor?: string; original?: string } = {}): SourceEvent {
  const shape = SHAPES[r.eventid] ?? { category: [], type: ['info'] };
  const event: Record<string, unknown> = {
    kind: 'event',
    module: 'cowrie',
    dataset: 'cowrie.log',
    provider: 'cowrie',
    action: r.eventid,
    type: shape.type,
  };
  if (shape.category.length > 0) event.category = shape.category;
  if (shape.outcome) event.outcome = shape.outcome;
  if (options.original !== undefined) event.original = options.original;
  const duration = typeof r.duration === 'string' ? Number(r.duration) : r.duration;
  if (typeof duration === 'number' && Number.isFinite(duration)) event.duration = Math.round(duration * 1e9);

  const out: SourceEvent = { '@timestamp': new Date(r.timestamp).toISOString(), event, tags: ['honeypot', 'cowrie'] };
  if (typeof r.message === 'string') out.message = r.message;

  const source: Record<string, unknown> = {};
  if (isIp(r.src_ip)) source.ip = r.src_ip;
  if (isPort(r.src_port)) source.port = r.src_port;
  if (Object.keys(source).length > 0) out.source = source;

  const destination: Record<string, unknown> = {};
  if (isIp(r.dst_ip)) destination.ip = r.dst_ip;
  if (isPort(r.dst_port)) destination.port = r.dst_port;
  if (Object.keys(destination).length > 0) out.destination = destination;

  const network: Record<string, unknown> = { transport: 'tcp' };
  if (typeof r.protocol === 'string') network.protocol = r.protocol;
  out.network = network;

  const observerName = options.sensor ?? (typeof r.sensor === 'string' ? r.sensor : undefined);
  out.observer = { type: 'honeypot', product: 'Cowrie', vendor: 'Cowrie', ...(observerName ? { name: observerName } : {}) };

  if (typeof r.username === 'string') out.user = { name: r.username };
  if (typeof r.input === 'string') out.process = { command_line: r.input };
  if (typeof r.url === 'string') out.url = { full: r.url };
  if (typeof r.version === 'string') out.user_agent = { original: r.version };

  const fileName = typeof r.filename === 'string' ? r.filename : typeof r.destfile === 'string' ? r.destfile.split('/').pop() : undefined;
  if (typeof r.shasum === 'string' || typeof r.destfile === 'string' || fileName) {
    const file: Record<string, unknown> = {};
    if (typeof r.destfile === 'string') file.path = r.destfile;
    if (fileName) file.name = fileName;
    if (typeof r.shasum === 'string' && /^[0-9a-f]{64}$/i.test(r.shasum)) file.hash = { sha256: r.shasum.toLowerCase() };
    out.file = file;
  }

  const related: Record<string, string[]> = {};
  const ips = [r.src_ip, r.dst_ip].filter(isIp);
  if (ips.length > 0) related.ip = [...new Set(ips)];
  if (typeof r.username === 'string') related.user = [r.username];
  if (typeof r.shasum === 'string' && /^[0-9a-f]{64}$/i.test(r.shasum)) related.hash = [r.shasum.toLowerCase()];
  if (Object.keys(related).length > 0) out.related = related;

  // Cowrie-specific facts ECS has no field for; the attempted password is attacker intel, not ours.
  const cowrie: Record<string, unknown> = { eventid: r.eventid };
  if (typeof r.session === 'string') cowrie.session = r.session;
  if (typeof r.password === 'string') cowrie.password = r.password;
  if (typeof r.outfile === 'string') cowrie.outfile = r.outfile;
  out.cowrie = cowrie;

  const threat = threatFor(techniquesFor(r));
  if (threat) out.threat = threat;
  return out;
}
