import type { Message } from 'kafkajs';
import type { FabricEvent } from '../../plugin-api/index.js';
import type { CollectorStatusEvent } from '../sink.js';
import type { DeadLetterRecord } from '../dead-letter.js';

/** Record header names. Consumers can route on them without parsing the JSON value. */
export const HEADERS = {
  eventType: 'fabric-event-type',
  severity: 'fabric-severity',
  collector: 'fabric-collector',
  schemaVersion: 'fabric-schema-version',
} as const;

/**
 * Key = the de-duplication fingerprint: repeats of one finding land on one partition, in order,
 * and a consumer can drop at-least-once duplicates by key + event.id.
 */
export function eventMessage(event: FabricEvent): Message {
  const fabric = event.fabric;
  return {
    key: fabric.fingerprint,
    value: JSON.stringify(event),
    headers: {
      [HEADERS.eventType]: event.event?.kind ?? 'event',
      [HEADERS.severity]: fabric.priority ?? 'info',
      [HEADERS.collector]: fabric.collector,
      [HEADERS.schemaVersion]: fabric.schema_version,
    },
  };
}

/** Key = collector id, so a compacted status topic keeps each collector's latest state. */
export function statusMessage(status: CollectorStatusEvent): Message {
  return {
    key: status.collector,
    value: JSON.stringify(status),
    headers: {
      [HEADERS.eventType]: 'collector_status',
      [HEADERS.severity]: statusSeverity(status.state),
      [HEADERS.collector]: status.collector,
      [HEADERS.schemaVersion]: status.schema_version,
    },
  };
}

/** Key = collector id; the header carries the reason code so a consumer can route without parsing. */
export function deadLetterMessage(record: DeadLetterRecord): Message {
  return {
    key: record.collector,
    value: JSON.stringify(record),
    headers: {
      [HEADERS.eventType]: 'dead_letter',
      [HEADERS.severity]: 'medium',
      [HEADERS.collector]: record.collector,
      [HEADERS.schemaVersion]: record.schema_version,
      'fabric-dead-letter-reason': String(record.reason.code),
    },
  };
}

function statusSeverity(state: string): string {
  if (state === 'failed') return 'high';
  if (state === 'degraded') return 'medium';
  return 'info';
}
