import type { Message, TopicMessages } from 'kafkajs';
import type { KafkaSinkConfig } from './config.js';
import type { ErrorFacts, KafkaSetupCode } from './errors.js';
import type { ProduceRequest } from './request.js';

/** What the producer thread is started with. */
export interface ProducerThreadInit {
  /** TLS files already read (withPemText): the thread does not resolve paths. */
  config: KafkaSinkConfig;
}

export type HostToThread =
  | { op: 'ready'; id: number }
  | { op: 'send'; id: number; request: WireRequest }
  | { op: 'afterFailure'; facts: ErrorFacts; attempt: number }
  | { op: 'close'; id: number };

/** An error as it crosses the thread boundary: setup errors keep their class and codes. */
export interface WireKafkaError {
  message: string;
  facts: ErrorFacts;
  setup?: { code: KafkaSetupCode; brokerCode: string | undefined };
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn';

export type ThreadToHost =
  | { op: 'done'; id: number }
  | { op: 'failed'; id: number; error: WireKafkaError }
  | { op: 'log'; level: LogLevel; fields: Record<string, unknown>; msg: string };

/**
 * One topic's records as columns: keys and values UTF-8 encoded back to back in one buffer that is
 * moved to the thread, not copied, and each header as a list of its distinct values and an index
 * per record. A request crosses the thread boundary by structured clone, where an object per
 * record and a string per header cost as much as kafkajs takes to encode them; bytes encoded here
 * are bytes kafkajs copies instead of encoding (and hashes for the partition as it would have).
 * Records whose key, value or headers are not all strings under the same header names go as they
 * are (`messages`).
 */
export type WireTopic =
  | {
      topic: string;
      /** Keys then values, record by record. */
      bytes: ArrayBuffer;
      /** Per record: key length (-1: no key), value length. */
      lengths: Int32Array;
      headerNames: string[];
      headerValues: string[][];
      /** Per header name, per record: index in headerValues. */
      headerIndex: Uint32Array[];
    }
  | { topic: string; messages: Message[] };

export interface WireRequest extends Omit<ProduceRequest, 'topicMessages'> {
  topics: WireTopic[];
}

/** The request as it is posted, and the buffers to move with it (postMessage's transfer list). */
export function requestToWire(request: ProduceRequest): { wire: WireRequest; transfer: ArrayBuffer[] } {
  const { topicMessages, ...rest } = request;
  const topics = topicMessages.map(toWireTopic);
  const transfer: ArrayBuffer[] = [];
  for (const t of topics) if ('bytes' in t) transfer.push(t.bytes, t.lengths.buffer as ArrayBuffer, ...t.headerIndex.map((x) => x.buffer as ArrayBuffer));
  return { wire: { ...rest, topics }, transfer };
}

export function requestFromWire(wire: WireRequest): ProduceRequest {
  const { topics, ...rest } = wire;
  return { ...rest, topicMessages: topics.map(fromWireTopic) };
}

function toWireTopic({ topic, messages }: TopicMessages): WireTopic {
  const first = messages[0]?.headers;
  const headerNames = first ? Object.keys(first) : [];
  if (headerNames.includes('__proto__')) return { topic, messages };
  const lengths = new Int32Array(messages.length * 2);
  const headerValues = headerNames.map((): string[] => []);
  const headerSeen = headerNames.map(() => new Map<string, number>());
  const headerIndex = headerNames.map(() => new Uint32Array(messages.length));
  let size = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const key = m.key ?? null;
    if ((key !== null && typeof key !== 'string') || typeof m.value !== 'string' || m.partition !== undefined || m.timestamp !== undefined) return { topic, messages };
    const keyBytes = key === null ? -1 : Buffer.byteLength(key);
    const valueBytes = Buffer.byteLength(m.value);
    lengths[2 * i] = keyBytes;
    lengths[2 * i + 1] = valueBytes;
    size += Math.max(0, keyBytes) + valueBytes;
    const headers = m.headers ?? {};
    let n = 0;
    for (const name in headers) {
      const v = headers[name];
      if (name !== headerNames[n] || typeof v !== 'string') return { topic, messages };
      const seen = headerSeen[n]!;
      let at = seen.get(v);
      if (at === undefined) {
        at = headerValues[n]!.push(v) - 1;
        seen.set(v, at);
      }
      headerIndex[n++]![i] = at;
    }
    if (n !== headerNames.length) return { topic, messages };
  }
  if (size > 0x7fffffff) return { topic, messages };
  // Its own ArrayBuffer (not the shared pool's), so it can be moved.
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const m of messages) {
    if (typeof m.key === 'string') at += bytes.write(m.key, at);
    at += bytes.write(m.value as string, at);
  }
  return { topic, bytes: bytes.buffer as ArrayBuffer, lengths, headerNames, headerValues, headerIndex };
}

/** A structured clone turns a Buffer into a plain Uint8Array, which kafkajs would not take for bytes. */
const asBuffer = <T>(v: T): T | Buffer => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v);

function fromWireTopic(t: WireTopic): TopicMessages {
  if ('messages' in t) {
    const messages = t.messages.map((m): Message => {
      const out: Message = { ...m, key: asBuffer(m.key) as Message['key'], value: asBuffer(m.value) as Message['value'] };
      if (m.headers) out.headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(asBuffer) : asBuffer(v)])) as Message['headers'];
      return out;
    });
    return { topic: t.topic, messages };
  }
  const messages = new Array<Message>(t.lengths.length / 2);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const headers: Record<string, string> = {};
    for (let h = 0; h < t.headerNames.length; h++) headers[t.headerNames[h]!] = t.headerValues[h]![t.headerIndex[h]![i]!]!;
    const keyBytes = t.lengths[2 * i]!;
    let key: Buffer | null = null;
    if (keyBytes >= 0) {
      key = Buffer.from(t.bytes, at, keyBytes);
      at += keyBytes;
    }
    const valueBytes = t.lengths[2 * i + 1]!;
    messages[i] = { key, value: Buffer.from(t.bytes, at, valueBytes), headers };
    at += valueBytes;
  }
  return { topic: t.topic, messages };
}
