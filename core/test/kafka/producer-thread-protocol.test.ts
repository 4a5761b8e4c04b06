import { describe, expect, it } from 'vitest';
import type { Message } from 'kafkajs';
import { requestFromWire, requestToWire } from '../../src/sinks/kafka/producer-thread-protocol.js';
import { deadLetterMessage, eventMessage, statusMessage } from '../../src/sinks/kafka/messages.js';
import { produceRequest } from '../../src/sinks/kafka/request.js';
import { resolveKafkaSinkConfig } from '../../src/sinks/kafka/index.js';
import { collectorStatus, detection } from './helpers.js';

const config = resolveKafkaSinkConfig({ type: 'kafka', brokers: ['127.0.0.1:1'] });

/** What the producer thread gets: the request after a structured clone with its buffers moved, as postMessage does it. */
const overTheWire = (records: Array<{ topic: string; message: Message }>) => {
  const request = produceRequest(records, config);
  const { wire, transfer } = requestToWire(request);
  return { request, received: requestFromWire(structuredClone(wire, { transfer })) };
};

/** A record as the broker will store it: values and header values as text. */
const asStored = (m: Message) => ({
  key: m.key == null ? null : Buffer.from(m.key as never).toString(),
  value: Buffer.from(m.value as never).toString(),
  headers: Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]),
  partition: m.partition,
});

describe('producer thread requests', () => {
  it('reach the thread with the same records, in the same order, topic by topic', () => {
    const events = Array.from({ length: 50 }, (_, i) => detection('wire', i, { fingerprints: 7 }));
    const records = [
      ...events.slice(0, 20).map((e) => ({ topic: 'detections', message: eventMessage(e) })),
      { topic: 'status', message: statusMessage(collectorStatus('c1', 'running', 'starting')) },
      ...events.slice(20).map((e) => ({ topic: 'detections', message: eventMessage(e) })),
      {
        topic: 'dead',
        message: deadLetterMessage({
          schema_version: '1.0.0',
          '@timestamp': '2026-12-06T00:00:00.000Z',
          collector: 'c1',
          plugin: 'p',
          stage: 'normalize',
          reason: { code: 'TOO_DEEP', message: 'deeper than 64' },
          original: { x: 1 },
        } as never),
      },
    ];
    const { request, received } = overTheWire(records);
    expect(received.topicMessages.map((t) => [t.topic, t.messages.map(asStored)])).toEqual(request.topicMessages.map((t) => [t.topic, t.messages.map(asStored)]));
    // Multi-byte text keeps its bytes.
    const { received: text } = overTheWire([
      { topic: 't', message: { key: 'k', value: 'é—😀', headers: { h: 'ü' } } },
      { topic: 't', message: { key: 'k2', value: '', headers: { h: '' } } },
    ]);
    expect(text.topicMessages[0]!.messages.map(asStored)).toEqual([
      { key: 'k', value: 'é—😀', headers: [['h', 'ü']], partition: undefined },
      { key: 'k2', value: '', headers: [['h', '']], partition: undefined },
    ]);
    expect(received.topicMessages.map((t) => [t.topic, t.messages.length])).toEqual([
      ['detections', 50],
      ['status', 1],
      ['dead', 1],
    ]);
    // Header order is part of the record: kept.
    expect(Object.keys(received.topicMessages[0]!.messages[0]!.headers!)).toEqual(Object.keys(request.topicMessages[0]!.messages[0]!.headers!));
  });

  it('records that do not fit the columns (other header names, a Buffer, a partition, no key, no headers) arrive unchanged', () => {
    const cases: Message[][] = [
      [
        { key: 'a', value: 'x', headers: { h1: '1', h2: '2' } },
        { key: 'b', value: 'y', headers: { h2: '2', h1: '1' } },
      ],
      [
        { key: 'a', value: 'x', headers: { h1: '1' } },
        { key: 'b', value: 'y', headers: { h1: '1', h2: '2' } },
      ],
      [{ key: 'a', value: Buffer.from('bytes'), headers: { h1: '1' } }],
      [{ key: 'a', value: 'x', partition: 2 }],
      [{ key: null, value: 'x' }, { value: 'y' }],
      [{ key: 'a', value: 'x', headers: { h1: Buffer.from('b') } }],
      [{ key: 'a', value: 'x', headers: JSON.parse('{"__proto__":"p","h":"1"}') as Record<string, string> }],
    ];
    for (const messages of cases) {
      const { request, received } = overTheWire(messages.map((message) => ({ topic: 't', message })));
      expect(received.topicMessages[0]!.messages.length).toBe(messages.length);
      expect(received.topicMessages[0]!.messages.map(asStored)).toEqual(request.topicMessages[0]!.messages.map(asStored));
      // Bytes stay Buffers (kafkajs writes a Uint8Array header as text): a clone alone would not keep them.
      for (const [i, m] of received.topicMessages[0]!.messages.entries()) {
        const sent = messages[i]!;
        if (Buffer.isBuffer(sent.value)) expect(Buffer.isBuffer(m.value)).toBe(true);
        for (const [k, v] of Object.entries(sent.headers ?? {})) if (Buffer.isBuffer(v)) expect(Buffer.isBuffer(m.headers![k])).toBe(true);
      }
    }
  });

  it('keeps acks, compression and the request timeout', () => {
    const { request, received } = overTheWire([{ topic: 't', message: { key: 'k', value: 'v' } }]);
    expect({ acks: received.acks, compression: received.compression, timeout: received.timeout }).toEqual({
      acks: request.acks,
      compression: request.compression,
      timeout: request.timeout,
    });
  });
});
