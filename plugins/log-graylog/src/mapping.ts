import { ErrorCodes, PluginError } from '@reactive-fabric/core';
import type { SourceEvent } from '@reactive-fabric/core';

/** A Graylog message as a flat field map, whichever API it came from. */
export interface GraylogMessage {
  fields: Record<string, unknown>;
  index?: string;
}

/** `_id` is the message's id in the index; `gl2_message_id` (a ULID) when `_id` is not returned. */
export function messageId(m: GraylogMessage): string {
  const id = m.fields._id ?? m.fields.gl2_message_id;
  if (typeof id !== 'string' || !id) throw new PluginError(ErrorCodes.BAD_RESPONSE, 'a Graylog message has neither _id nor gl2_message_id');
  return id;
}

export function messageTime(m: GraylogMessage): number {
  const t = m.fields.timestamp;
  const ms = typeof t === 'string' ? Date.parse(t.includes('T') ? t : `${t.replace(' ', 'T')}Z`) : typeof t === 'number' ? t : Number.NaN;
  if (Number.isNaN(ms)) throw new PluginError(ErrorCodes.BAD_RESPONSE, `a Graylog message has no usable timestamp (got ${JSON.stringify(t)})`);
  return ms;
}

/**
 * Graylog's syslog inputs keep the tag in `message` ("sshd[24200]: Failed password…") and put the
 * program in `application_name`; ECS `message` is the text after the tag, which is what
 * detection rules match the start of.
 */
function withoutSyslogTag(message: string, app: unknown): string {
  if (typeof app !== 'string' || !app || !message.startsWith(app)) return message;
  const m = /^[^\s:[]+(?:\[\d+\])?: /.exec(message);
  return m && m[0].startsWith(app) ? message.slice(m[0].length) : message;
}

const SEVERITY = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'debug'];

/**
 * A Graylog message as ECS: `full_message` (the raw line a syslog input keeps) or the whole
 * message as JSON becomes `event.original`, `source` is the host, syslog fields map to
 * `log.syslog.*` / `process.*`, the store in `labels`.
 */
export function messageToEvent(m: GraylogMessage): SourceEvent {
  const f = m.fields;
  const ts = messageTime(m);
  const message = typeof f.message === 'string' ? withoutSyslogTag(f.message, f.application_name) : undefined;
  const ev: SourceEvent = {
    '@timestamp': new Date(ts).toISOString(),
    event: { id: messageId(m), original: typeof f.full_message === 'string' ? f.full_message : JSON.stringify(f) },
    labels: { log_store: 'graylog' },
  };
  if (message !== undefined) ev.message = message;
  if (typeof f.source === 'string') ev.host = { name: f.source };
  const process: Record<string, unknown> = {};
  if (typeof f.application_name === 'string') process.name = f.application_name;
  const pid = Number(f.process_id);
  if (f.process_id !== undefined && Number.isInteger(pid)) process.pid = pid;
  if (Object.keys(process).length > 0) ev.process = process;
  const syslog: Record<string, unknown> = {};
  if (typeof f.facility === 'string') syslog.facility = { name: f.facility };
  const level = Number(f.level);
  if (f.level !== undefined && Number.isInteger(level) && level >= 0 && level < 8) syslog.severity = { code: level, name: SEVERITY[level] };
  if (Object.keys(syslog).length > 0) ev.log = { syslog };
  if (typeof f.application_name === 'string') ev.event!.dataset = `graylog.${f.application_name}`;
  const labels = ev.labels as Record<string, string>;
  if (m.index) labels.graylog_index = m.index;
  if (Array.isArray(f.streams)) labels.graylog_streams = f.streams.map(String).join(',');
  return ev;
}
