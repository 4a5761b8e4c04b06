import type { Checkpoint, ErrorCode, Indicator, PluginDefinition, VerdictStatus } from '@reactive-fabric/core';
import type { InvalidConfigCase } from '../checks/config.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPlugin = PluginDefinition<any, any>;
export type Lazy<T> = T | (() => T | Promise<T>);

export interface FailureCase {
  name: string;
  /** A config under which start()/poll()/lookup() must fail. */
  config: Lazy<unknown>;
  /** Acceptable error codes (the first error thrown must carry one of them). */
  codes: ErrorCode[];
}

export interface ConformanceOptions {
  /** A config that works: pointing at a fake started in `setup`, or a temp file. A function is called after setup. */
  validConfig: Lazy<unknown>;
  /** Extra configs the schema must refuse, each with the field path the error must name. */
  invalidConfigs?: InvalidConfigCase[];
  /** Values that must never appear in describe(), logs or errors (Secret() fields are found automatically). */
  secrets?: string[];
  /** Runs before the suite (start fakes, write sample files); may return a teardown. */
  setup?: () => Promise<void | (() => unknown)> | void | (() => unknown);
  /**
   * For plugins that talk HTTP: a valid config whose backend base URL is `baseUrl`. With it the
   * suite points the plugin at misbehaving servers: one that never answers (abort/timeout),
   * 401 (AUTH_FAILED), 429 with Retry-After (RATE_LIMITED/QUOTA_EXHAUSTED), 500 (UNAVAILABLE),
   * a non-JSON 200 (BAD_RESPONSE) and a closed port (UNAVAILABLE).
   */
  configForEndpoint?: (baseUrl: string) => unknown;
  /** Override the expected codes of the HTTP scenarios (key: hang, 401, 429, 500, garbage, closed). */
  endpointCodes?: Partial<Record<EndpointScenario, ErrorCode[]>>;
  /** Plugin-specific configs that must fail with a coded PluginError. */
  failures?: FailureCase[];
  /** Enrichers: the instance also has a poll() feed; run the source checks on it too. */
  feed?: boolean;
  /** Sources and feeds: fewest events the valid config must yield across the polls (default 1). */
  minEvents?: number;
  /** Sources: most polls when draining (default 20). */
  maxPolls?: number;
  /** Sources: returns <0, 0, >0 like a sort comparator; checkpoints must never go backwards. */
  compareCheckpoints?: (a: Checkpoint, b: Checkpoint) => number;
  /** Enrichers: indicators the backend knows, optionally with the status each must get. */
  indicators?: Array<Indicator & { expect?: VerdictStatus }>;
  /** Enrichers: indicators the backend has never seen (default: random ones of each supported type). */
  unknownIndicators?: Indicator[];
  /** Deadline of each start/poll/lookup (default 10 s). */
  timeoutMs?: number;
  /** The plugin's package.json (path or file: URL, e.g. new URL('../package.json', import.meta.url)): checked against the definition. */
  packageJson?: string | URL;
  /** Name shown in the test report (default: the plugin's name). */
  name?: string;
}

export type EndpointScenario = 'hang' | '401' | '429' | '500' | 'garbage' | 'closed';

export interface ConformanceCheck {
  group: string;
  name: string;
  run(): Promise<void>;
  /** Per-check timeout for the test runner. */
  timeoutMs: number;
}

export interface ConformanceSuite {
  name: string;
  checks: ConformanceCheck[];
  setup(): Promise<void>;
  teardown(): Promise<void>;
}
