// The producer thread: kafkajs (record encoding, compression, the connection) runs here, off the
// host's event loop. The host keeps the queue, retries, health and metrics (producer-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import kafkajs from 'kafkajs';
import { kafkaClientConfig, type KafkaLogger } from './client.js';
import { describeKafkaError, KafkaSinkSetupError } from './errors.js';
import { requestFromWire, type HostToThread, type LogLevel, type ProducerThreadInit, type ThreadToHost, type WireKafkaError } from './producer-thread-protocol.js';
import { ProducerSession } from './session.js';

const port = parentPort;
if (!port) throw new Error('producer-thread-main.js runs as a worker thread of the Kafka sink');
const init = workerData as ProducerThreadInit;
const post = (m: ThreadToHost) => port.postMessage(m);

// Every line goes to the host, whose logger filters by its level of the moment (it can change at
// run time). Few lines: kafkajs logs only warnings and errors here (kafkaClientConfig).
const logAt =
  (level: LogLevel) =>
  (fieldsOrMsg: unknown, msg?: string): void => {
    const fields = typeof fieldsOrMsg === 'object' && fieldsOrMsg !== null ? (fieldsOrMsg as Record<string, unknown>) : {};
    const text = msg ?? (typeof fieldsOrMsg === 'string' ? fieldsOrMsg : '');
    try {
      post({ op: 'log', level, fields, msg: text });
    } catch {
      // Fields that cannot be cloned: the line without them, rather than an error inside kafkajs.
      post({ op: 'log', level, fields: {}, msg: text });
    }
  };
const logger = { trace: logAt('trace'), debug: logAt('debug'), info: logAt('info'), warn: logAt('warn') } as unknown as KafkaLogger;

// The config's TLS files are PEM text already, so the base folder is never used.
const session = new ProducerSession(new kafkajs.Kafka(kafkaClientConfig(init.config, logger, '.')), init.config, logger);

function errorToWire(err: unknown): WireKafkaError {
  const facts = describeKafkaError(err);
  return {
    message: facts.message,
    facts,
    ...(err instanceof KafkaSinkSetupError ? { setup: { code: err.code, brokerCode: err.brokerCode } } : {}),
  };
}

function answer(id: number, work: Promise<void>): void {
  work.then(
    () => post({ op: 'done', id }),
    (err: unknown) => post({ op: 'failed', id, error: errorToWire(err) }),
  );
}

port.on('message', (m: HostToThread) => {
  switch (m.op) {
    case 'ready':
      answer(m.id, session.ready());
      break;
    case 'send':
      answer(
        m.id,
        Promise.resolve().then(() => session.send(requestFromWire(m.request))),
      );
      break;
    case 'afterFailure':
      session.afterFailure(m.facts, m.attempt);
      break;
    case 'close':
      answer(m.id, session.close());
      break;
  }
});
