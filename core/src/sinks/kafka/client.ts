import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import kafkajs from 'kafkajs';
import type { KafkaConfig, SASLOptions, logCreator } from 'kafkajs';
import type { Logger } from 'pino';
import type { KafkaSinkConfig } from './config.js';

const { logLevel } = kafkajs;

/** The part of a pino logger the producer session and the kafkajs log bridge use (the producer thread forwards it). */
export type KafkaLogger = Pick<Logger, 'info' | 'warn' | 'debug' | 'trace'>;

/** Every secret the config holds, so log lines and errors can be scrubbed of them. */
export function kafkaSecrets(config: KafkaSinkConfig): string[] {
  const out: string[] = [];
  if (config.sasl?.password) out.push(config.sasl.password);
  if (config.tls?.key && isPem(config.tls.key)) out.push(config.tls.key);
  return out;
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('[redacted]');
  return out;
}

function isPem(value: string): boolean {
  return value.includes('-----BEGIN');
}

function pem(value: string, field: string, baseDir: string): string {
  if (isPem(value)) return value;
  try {
    return readFileSync(resolve(baseDir, value), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`sink.tls.${field}: cannot read "${value}" (${code}); give a readable PEM file path or the PEM text itself`);
  }
}

/**
 * The config with its TLS files read (PEM text in place of paths), for a thread that must not
 * depend on the working directory. Throws, naming the field and path, when a file is unreadable.
 */
export function withPemText(config: KafkaSinkConfig, baseDir: string): KafkaSinkConfig {
  const tls = config.tls;
  if (!tls) return config;
  return {
    ...config,
    tls: {
      ...tls,
      ...(tls.ca ? { ca: pem(tls.ca, 'ca', baseDir) } : {}),
      ...(tls.cert ? { cert: pem(tls.cert, 'cert', baseDir) } : {}),
      ...(tls.key ? { key: pem(tls.key, 'key', baseDir) } : {}),
    },
  };
}

/**
 * kafkajs logs every failed connection attempt at ERROR: during a broker outage that is a line per
 * retry. The sink reports outages itself (rate-limited), so kafkajs lines go to debug, scrubbed of secrets.
 */
function pinoLogCreator(logger: KafkaLogger, secrets: readonly string[]): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      const line = redact(String(message), secrets);
      const fields = JSON.parse(redact(JSON.stringify(extra), secrets)) as Record<string, unknown>;
      if (level === logLevel.ERROR || level === logLevel.WARN) logger.debug({ kafkajs: fields }, `kafkajs: ${line}`);
      else logger.trace({ kafkajs: fields }, `kafkajs: ${line}`);
    };
}

/** `baseDir`: where relative TLS file paths resolve (the config file's folder). */
export function kafkaClientConfig(config: KafkaSinkConfig, logger: KafkaLogger, baseDir: string): KafkaConfig {
  const secrets = kafkaSecrets(config);
  const out: KafkaConfig = {
    clientId: config.client_id,
    brokers: config.brokers,
    connectionTimeout: config.retry.connection_timeout_ms,
    requestTimeout: config.retry.request_timeout_ms,
    // kafkajs retries briefly inside one request; longer outages are the sink's backoff loop, which keeps
    // health and metrics honest and never gives up on accepted events.
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger, secrets),
  };
  if (config.tls && config.tls.enabled) {
    out.ssl = {
      rejectUnauthorized: config.tls.reject_unauthorized,
      ...(config.tls.ca ? { ca: [pem(config.tls.ca, 'ca', baseDir)] } : {}),
      ...(config.tls.cert ? { cert: pem(config.tls.cert, 'cert', baseDir) } : {}),
      ...(config.tls.key ? { key: pem(config.tls.key, 'key', baseDir) } : {}),
    };
  }
  if (config.sasl) {
    out.sasl = { mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions;
  }
  return out;
}
