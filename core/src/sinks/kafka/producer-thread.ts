import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { compiledWorkerPath } from '../../async/compiled-worker.js';
import type { KafkaSinkConfig } from './config.js';
import type { ProduceService } from './delivery.js';
import { type ErrorFacts, KafkaSinkSetupError, ProducerThreadError } from './errors.js';
import { type HostToThread, type ProducerThreadInit, type ThreadToHost, requestToWire, type WireKafkaError } from './producer-thread-protocol.js';
import type { ProduceRequest } from './request.js';

function threadFile(): string {
  const file = compiledWorkerPath(import.meta.url, 'producer-thread-main.js');
  if (!existsSync(file)) throw new Error(`Kafka producer thread ${file} is missing: build with "npx tsc -b" from the repository root`);
  return file;
}

type Call = { resolve: () => void; reject: (err: Error) => void };

/**
 * The producer session (session.ts) in a worker thread of its own. Encoding records, compressing
 * them and talking to the brokers was most of the sink's cost on the host's event loop, which the
 * pipeline needs; the host now only serialises events and hands over whole requests. Same
 * contract as ProducerSession: send() resolves when the brokers acknowledged the request.
 *
 * The thread starts on first use. If it dies, the calls it owed fail like a lost connection (the
 * delivery loop retries them with backoff) and the next call starts a new thread.
 */
export class ProducerThread implements ProduceService {
  private worker: Worker | undefined;
  private readonly calls = new Map<number, Call>();
  private nextId = 0;

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

  /** Disconnects the producer and ends the thread. Never rejects. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await this.call((id) => ({ op: 'close', id })).catch(() => {});
    if (this.worker === worker) this.worker = undefined;
    await worker.terminate().catch(() => {});
  }

  private call(message: (id: number) => HostToThread, transfer: ArrayBuffer[] = []): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const worker = this.worker ?? this.start();
      const id = this.nextId++;
      this.calls.set(id, { resolve, reject });
      worker.postMessage(message(id), transfer);
    });
  }

  private start(): Worker {
    const init: ProducerThreadInit = { config: this.config };
    const worker = new Worker(threadFile(), { workerData: init });
    this.worker = worker;
    worker.on('message', (m: ThreadToHost) => this.received(m));
    // An uncaught error ends the thread: 'exit' follows and fails what it owed.
    worker.on('error', (err) => this.logger.error({ err: err.message }, 'Kafka producer thread failed; a new one takes over'));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      const owed = [...this.calls.values()];
      this.calls.clear();
      const facts: ErrorFacts = { code: 'PRODUCER_THREAD_EXITED', types: [], fatal: false, connection: true, message: `the Kafka producer thread exited (code ${code})` };
      for (const c of owed) c.reject(new ProducerThreadError(facts.message, facts));
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

function errorFromWire(e: WireKafkaError): Error {
  if (e.setup) return new KafkaSinkSetupError(e.message, e.setup.code, e.setup.brokerCode);
  return new ProducerThreadError(e.message, e.facts);
}
