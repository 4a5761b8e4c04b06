import type { PluginLogger } from '@reactive-fabric/core';

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown> | string;
  msg?: string;
}

/** A PluginLogger that keeps every record, so tests can assert on (and scan for secrets in) logs. */
export class RecordingLogger implements PluginLogger {
  readonly records: LogRecord[] = [];
  constructor(private readonly echo = false) {}
  debug(obj: Record<string, unknown> | string, msg?: string): void {
    this.push('debug', obj, msg);
  }
  info(obj: Record<string, unknown> | string, msg?: string): void {
    this.push('info', obj, msg);
  }
  warn(obj: Record<string, unknown> | string, msg?: string): void {
    this.push('warn', obj, msg);
  }
  error(obj: Record<string, unknown> | string, msg?: string): void {
    this.push('error', obj, msg);
  }

  private push(level: LogRecord['level'], obj: Record<string, unknown> | string, msg?: string): void {
    const record: LogRecord = msg === undefined ? { level, obj } : { level, obj, msg };
    this.records.push(record);
    if (this.echo) console.error(`[plugin ${level}]`, obj, msg ?? '');
  }
}
