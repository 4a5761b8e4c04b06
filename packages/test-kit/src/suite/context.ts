import { checkDefinition } from '../checks/definition.js';
import { createTestHost } from '../host.js';
import type { TestHost, TestHostOptions } from '../host.js';
import type { AnyPlugin, ConformanceCheck, ConformanceOptions, Lazy } from './types.js';

/** Thrown when a plugin breaks the contract; the message says what and how to fix it. */
export class ConformanceError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length > 0 ? `${message}\n  - ${problems.join('\n  - ')}` : message);
    this.name = 'ConformanceError';
  }
}

export function fail(message: string, problems: string[] = []): never {
  throw new ConformanceError(message, problems);
}

export function expectNone(message: string, problems: string[]): void {
  if (problems.length > 0) fail(message, problems);
}

export const resolveLazy = async <T>(lazy: Lazy<T>): Promise<T> => (typeof lazy === 'function' ? await (lazy as () => T | Promise<T>)() : lazy);

/**
 * What every check group shares. Checks are built before setup() runs, so `config` and `secrets`
 * must be read inside a check's run(), never when the check is built.
 */
export interface SuiteContext {
  readonly plugin: AnyPlugin;
  readonly options: ConformanceOptions;
  readonly kind: unknown;
  /** Deadline of each start/poll/lookup. */
  readonly timeoutMs: number;
  /** The valid config (options.validConfig resolved by setup()). */
  config: unknown;
  /** Values that must never leak: the config's Secret() fields and options.secrets (set by setup()). */
  secrets: string[];
  /** Every host a check created: teardown disposes them, the secrets group reads their logs. */
  readonly hosts: TestHost[];
  /** What the plugin threw during the suite: the errors group checks each was a coded PluginError. */
  readonly thrown: unknown[];
  check(group: string, name: string, run: () => Promise<void>): ConformanceCheck;
  host(config: unknown, extra?: TestHostOptions): Promise<TestHost>;
  /** Fails the check when the definition is too broken to create instances. */
  definitionOk(): void;
}

export function suiteContext(plugin: AnyPlugin, options: ConformanceOptions): SuiteContext {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const checkTimeout = timeoutMs * 3 + 10_000;
  const hosts: TestHost[] = [];
  return {
    plugin,
    options,
    kind: (plugin as { kind?: unknown } | undefined)?.kind,
    timeoutMs,
    config: undefined,
    secrets: [],
    hosts,
    thrown: [],
    check: (group, name, run) => ({ group, name, run, timeoutMs: checkTimeout }),
    async host(config, extra = {}) {
      const h = await createTestHost(plugin, config, { timeoutMs, ...extra });
      hosts.push(h as TestHost);
      return h as TestHost;
    },
    // Only problems that make instances impossible to create block the behaviour checks; a wrong
    // name or API range is reported by its own check while the rest still runs.
    definitionOk() {
      const blocking = checkDefinition(plugin).filter((p) => /^(the plugin module|kind:|configSchema: must be a TypeBox|create:)/.test(p));
      if (blocking.length > 0) fail('the plugin definition is invalid, so its instances cannot be tested', blocking);
    },
  };
}
