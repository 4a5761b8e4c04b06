import { FabricError } from '../../errors/fabric-error.js';

export type KafkaSetupCode = 'TOPIC_MISSING' | 'TOPIC_CREATE_DENIED' | 'INVALID_REPLICATION_FACTOR' | 'KAFKA_REFUSED';

/** Raised when the sink cannot work with this config or cluster; retrying will not help. */
export class KafkaSinkSetupError extends FabricError {
  declare readonly code: KafkaSetupCode;
  /**
   * With KAFKA_REFUSED: the broker's error type (SASL_AUTHENTICATION_FAILED, TOPIC_AUTHORIZATION_FAILED…)
   * or TLS_<code>. It stays the metrics label, as specific as the cluster said.
   */
  readonly brokerCode: string | undefined;
  constructor(message: string, code: KafkaSetupCode, brokerCode?: string) {
    super(code, message);
    this.brokerCode = brokerCode;
  }
}

/** Rejects writes that were accepted but not acknowledged when the sink closed. */
export class KafkaSinkClosedError extends FabricError {
  declare readonly code: 'SINK_CLOSED';
  constructor(message: string) {
    super('SINK_CLOSED', message);
  }
}

/**
 * A kafkajs error as it reaches the host from the producer thread: its message and what
 * describeKafkaError made of it there (the error object itself does not cross threads).
 */
export class ProducerThreadError extends FabricError {
  declare readonly code: 'KAFKA_PRODUCE_FAILED';
  constructor(
    message: string,
    readonly facts: ErrorFacts,
  ) {
    super('KAFKA_PRODUCE_FAILED', message);
  }
}

/** Broker error types that mean "fix the config or the cluster", not "wait and retry". */
const FATAL_TYPES = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_PARTITIONS',
  'INVALID_TOPIC_EXCEPTION',
  'POLICY_VIOLATION',
  'INVALID_CONFIG',
]);

const TLS_CODE = /^(ERR_SSL_|ERR_TLS_CERT|ERR_OSSL|CERT_|UNABLE_TO_(VERIFY|GET)|SELF_SIGNED|DEPTH_ZERO_SELF_SIGNED|HOSTNAME_MISMATCH)/;

export interface ErrorFacts {
  /** Stable code for metrics labels and health: a broker error type or the kafkajs error name. */
  code: string;
  types: string[];
  fatal: boolean;
  connection: boolean;
  message: string;
}

/** Walk kafkajs' nested errors (cause, originalError, aggregate errors) for what went wrong. */
export function describeKafkaError(err: unknown): ErrorFacts {
  if (err instanceof ProducerThreadError) return err.facts;
  const types: string[] = [];
  const names: string[] = [];
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 6) return;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (typeof o.type === 'string') types.push(o.type);
    if (typeof o.name === 'string') names.push(o.name);
    if (typeof o.code === 'string') codes.push(o.code);
    visit(o.cause, depth + 1);
    visit(o.originalError, depth + 1);
    if (Array.isArray(o.errors)) for (const x of o.errors) visit(x, depth + 1);
  };
  visit(err, 0);
  // A certificate the other side refuses (or we refuse) will be refused again: that is config, not an outage.
  const tlsCode = codes.find((c) => TLS_CODE.test(c));
  const fatal = err instanceof KafkaSinkSetupError || names.includes('KafkaJSSASLAuthenticationError') || types.some((t) => FATAL_TYPES.has(t)) || tlsCode !== undefined;
  const connection = names.some((n) => /Connection|BrokerNotFound|NoBrokerAvailable|RequestTimeout/.test(n));
  const code =
    err instanceof KafkaSinkSetupError
      ? (err.brokerCode ?? err.code)
      : tlsCode
        ? `TLS_${tlsCode}`
        : (types.find((t) => FATAL_TYPES.has(t)) ?? types[0] ?? (connection ? 'CONNECTION' : (names[names.length - 1] ?? 'UNKNOWN')));
  return { code, types, fatal, connection, message: err instanceof Error ? err.message : String(err) };
}
