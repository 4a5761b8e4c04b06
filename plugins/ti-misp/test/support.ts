import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EnricherInstance, PluginContext, PluginDefinition, TSchema } from '@reactive-fabric/core';
import { validateAgainstSchema } from '../../../core/src/plugins/validate.js';

export interface LogLine {
  level: string;
  obj: unknown;
  msg?: string;
}

/** Validate + default a config the way the host does, then create the instance. */
export async function instantiate(
  plugin: PluginDefinition<TSchema, 'enricher'>,
  config: Record<string, unknown>,
  logs: LogLine[] = [],
): Promise<EnricherInstance> {
  const { value, errors } = validateAgainstSchema(plugin.configSchema, config);
  if (errors.length > 0) throw new Error(`invalid config: ${JSON.stringify(errors)}`);
  const log = (level: string) => (obj: unknown, msg?: string) => {
    logs.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
  };
  const context: PluginContext = {
    collectorId: 'ti-test',
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    stateDir: mkdtempSync(path.join(tmpdir(), 'fabric-ti-')),
    signal: new AbortController().signal,
  };
  const instance = (await plugin.create(value as never, context)) as EnricherInstance;
  await instance.start?.();
  return instance;
}

export function configErrors(plugin: PluginDefinition<TSchema, 'enricher'>, config: Record<string, unknown>) {
  return validateAgainstSchema(plugin.configSchema, config).errors;
}

export const signal = (): AbortSignal => new AbortController().signal;

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Record<string, unknown> & Error> {
  try {
    await p;
  } catch (err) {
    return err as Record<string, unknown> & Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}
