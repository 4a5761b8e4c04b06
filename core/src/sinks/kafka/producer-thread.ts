import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { requireCompiledWorker } from '../../async/compiled-worker.js';
import { kafkaSecrets, redact } from './client.js';
import type { KafkaSinkConfig } from './config.js';
import type { ProduceService } from './delivery.js';
import { type ErrorFacts, KafkaSinkSetupError, ProducerThreadError } from './errors.js';
import { type HostToThread, type ProducerThreadInit, type ThreadToHost, requestToWire, type WireKafkaError } from './producer-thread-protocol.js';
import type { ProduceRequest } from './request.js';

function threadFile(): string {
  return requireCompiledWorker(import.meta.url, 'producer-thread-main.js', 'Kafka producer thread');
}

/** A producer that does not disconnect within this is ended with its thread (the sink waits 5 s in all). */
const CLOSE_WAIT_MS = 4000;

type Call = { worker: Worker; resolve: () => void; reject: (err: Error) => void };

/**
 * The producer session (session.ts) in a worker thread of its own. Encoding records, compressing
 * them and talking to the brokers was most of the sink's cost on the host's event loop, which the
 * pipeline needs; the host now only serialises events and hands over whole requests. Same
 * contract as ProducerSession: send() resolves when the brokers acknowledged the request.
 *
 * The thread starts on first use. If it dies, the calls it owed fail like a lost connection (the
 * delivery loop retries them with backoff) and the next call starts a new thread. After close(),
 * calls fail and no thread starts again: a closed sink must not leave one keeping the process up.
 */
export class ProducerThread implements ProduceService {
  private worker: Worker | undefined;
  private readonly calls = new Map<number, Call>();
  private nextId = 0;
  private closed = false;

  /** `config`: with its TLS files read (withPemText). */
  constructor(
    private readonly config: KafkaSinkConfig,
    private readonly logger: Logger,
  ) {}

  /** Connects (again) if needed and makes sure the topics exist. */
  ready(): Promise<void> {
    return this.call((id) => ({ op: 'ready', id }));
  }

  /** Resolves when the brokers acknowledged the whole request. */
  send(request: ProduceRequest): Promise<void> {
    // Each attempt sends the same records in the same order (the request is built once).
    const { wire, transfer } = requestToWire(request);
    return this.call((id) => ({ op: 'send', id, request: wire }), transfer);
  }

  afterFailure(facts: ErrorFacts, attempt: number): void {
    this.worker?.postMessage({ op: 'afterFailure', facts, attempt } satisfies HostToThread);
  }

  /** Disconnects the producer and ends the thread for good. Never rejects. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker) await Promise.race([this.call((id) => ({ op: 'close', id })).catch(() => {}), sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
    this.closed = true;
    this.worker = undefined;
    await worker?.terminate().catch(() => {});
  }

  private call(message: (id: number) => HostToThread, transfer: ArrayBuffer[] = []): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) {
        reject(threadError('SINK_CLOSED', 'the Kafka sink is closed'));
        return;
      }
      const worker = this.worker ?? this.start();
      const id = this.nextId++;
      this.calls.set(id, { worker, resolve, reject });
      try {
        worker.postMessage(message(id), transfer);
      } catch (err) {
        // A record that cannot be cloned: this attempt fails, and nothing is left owed.
        this.calls.delete(id);
        throw err;
      }
    });
  }

  private start(): Worker {
    const init: ProducerThreadInit = { config: this.config };
    const worker = new Worker(threadFile(), { workerData: init });
    this.worker = worker;
    worker.on('message', (m: ThreadToHost) => this.received(m));
    // An uncaught error ends the thread: 'exit' follows and fails what it owed.
    worker.on('error', (err) => this.logger.error({ err: redact(err.message, kafkaSecrets(this.config)) }, 'Kafka producer thread failed; a new one takes over'));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      // Only this thread's calls: a new thread may already hold others.
      for (const [id, c] of this.calls) {
        if (c.worker !== worker) continue;
        this.calls.delete(id);
        c.reject(threadError('PRODUCER_THREAD_EXITED', `the Kafka producer thread exited (code ${code})`));
      }
    });
    return worker;
  }

  private received(m: ThreadToHost): void {
    if (m.op === 'log') {
      this.logger[m.level](m.fields, m.msg);
      return;
    }
    const call = this.calls.get(m.id);
    if (!call) return;
    this.calls.delete(m.id);
    if (m.op === 'done') call.resolve();
    else call.reject(errorFromWire(m.error));
  }
}

/** Counted and retried like a lost connection. */
function threadError(code: string, message: string): ProducerThreadError {
  const facts: ErrorFacts = { code, types: [], fatal: false, connection: true, message };
  return new ProducerThreadError(message, facts);
}

function errorFromWire(e: WireKafkaError): Error {
  if (e.setup) return new KafkaSinkSetupError(e.message, e.setup.code, e.setup.brokerCode);
  return new ProducerThreadError(e.message, e.facts);
}
