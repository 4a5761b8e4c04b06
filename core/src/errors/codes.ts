/**
 * Every error code of Reactive Fabric, in one table. For each code: what it means, whether the same
 * operation repeated unchanged can succeed later (`retriable`), the HTTP status the admin API answers
 * it with (only codes the admin API sends have one), and what the runtime does with it (`handling`).
 *
 * Codes are stable: supervision, metric labels, the admin API's clients, dashboards and plugin
 * authors switch on them, never on messages. Adding a code is compatible; renaming or removing one
 * is a breaking change. The lists other modules export (the plugin API's `ErrorCodes`,
 * `IsolationErrorCodes`, `AdminErrorCodes`, the dead-letter `RejectCodes`) are slices of this table,
 * and `docs/errors.md` is generated from it (core/test/errors.test.ts keeps them in step).
 *
 * This module imports nothing: the plugin API, which runs inside plugin workers, depends on it.
 */

/** Where a code comes from; `docs/errors.md` has one section per area. */
export const ERROR_AREAS = {
  plugin: 'Plugin errors: a plugin throws `PluginError` with one of these (the plugin API exports them as `ErrorCodes`)',
  isolation: "Isolation: how a plugin's worker thread is lost",
  collector: 'Collector: errors the collector raises itself',
  event: 'Events refused one by one (dead-letter reasons)',
  detection: 'Detection',
  enrichment: 'Enrichment lookups',
  sink: 'Sinks',
  cluster: 'Cluster mode',
  config: 'Configuration',
  'plugin-load': 'Loading plugins',
  rules: 'Rules and logsource files',
  host: 'Host operations (answered by the admin API under its own codes)',
  'admin-api': 'Admin API answers',
  cli: 'Command line',
} as const;
export type ErrorArea = keyof typeof ERROR_AREAS;

/** What the runtime does when it meets a code. */
export const ERROR_HANDLING = {
  degrade: 'the collector is degraded at once and keeps polling at its interval, so a fix (or the wait) recovers it',
  retry: 'retried at the next poll; the collector is degraded after `orchestrator.degraded_after_errors` consecutive errors',
  restart: 'the plugin instance is gone: the collector is restarted with exponential backoff, and `failed` past its restart budget',
  reread: 'nothing is committed past the batch: it is read again from the last written checkpoint',
  resend:
    "the sink keeps the events and sends them again with capped backoff for as long as it takes; writes wait meanwhile (backpressure) and the sink's health goes degraded, then down",
  'dead-letter': 'the event goes to the dead-letter queue; the rest of its batch goes on',
  skip: 'the event is delivered undetected (`fabric.detection.skipped`); the rest of its batch is evaluated again',
  unanswered: 'the lookup is given up; the verdict lists the source as unanswered',
  refuse: 'refused before anything runs: `fabric` prints one line naming the file and the fix, and exits 1',
  answer: 'answered to the admin API client with the HTTP status; nothing is supervised',
  cli: 'the CLI prints one line and exits with its own code',
} as const;
export type ErrorHandling = keyof typeof ERROR_HANDLING;

export interface ErrorCodeSpec {
  readonly area: ErrorArea;
  readonly meaning: string;
  /** The same operation, repeated unchanged, can succeed later (no config or request change needed). */
  readonly retriable: boolean;
  readonly handling: ErrorHandling;
  /** The HTTP status the admin API answers this code with. Only codes the admin API sends have one. */
  readonly status?: number;
  /** Other statuses the admin API uses for this code in particular cases (named in `meaning`). */
  readonly alsoStatus?: readonly number[];
}

export const ERROR_CODES = {
  // Plugin errors. Order and names are part of the published plugin API.
  AUTH_FAILED: {
    area: 'plugin',
    meaning: 'credentials were refused (HTTP 401/403); an enricher fails its queued lookups fast for a while before it tries again',
    retriable: false,
    handling: 'degrade',
  },
  RATE_LIMITED: {
    area: 'plugin',
    meaning:
      'the backend asked to slow down (HTTP 429): the next poll waits for `retryAfterMs`. The admin API answers it to a client past its change budget (`admin.rate_limit`) or failed-login limit (`admin.auth_failure_limit`), with `retry-after`',
    retriable: true,
    handling: 'degrade',
    status: 429,
  },
  QUOTA_EXHAUSTED: { area: 'plugin', meaning: 'a daily or monthly quota is used up: degraded, not failed, until `retryAfterMs` (the reset)', retriable: true, handling: 'degrade' },
  UNAVAILABLE: { area: 'plugin', meaning: 'the backend is unreachable (connection refused, DNS) or answered 5xx', retriable: true, handling: 'retry' },
  BAD_RESPONSE: { area: 'plugin', meaning: 'the backend answered something that cannot be parsed', retriable: true, handling: 'retry' },
  TIMEOUT: { area: 'plugin', meaning: 'the operation exceeded its deadline (a request timeout, `orchestrator.poll_timeout_seconds`)', retriable: true, handling: 'retry' },
  BAD_CONFIG: {
    area: 'plugin',
    meaning:
      "the plugin's config is wrong in a way only visible at run time (404 on the configured index, a folder instead of a file), or the stored checkpoint does not match the plugin's `checkpointSchema`",
    retriable: false,
    handling: 'degrade',
  },
  PLUGIN_CRASHED: { area: 'plugin', meaning: 'the plugin threw something that was not a `PluginError` (the host wraps it)', retriable: true, handling: 'retry' },
  CONTRACT_VIOLATION: {
    area: 'plugin',
    meaning:
      'the plugin broke the contract: a malformed poll result (events without `@timestamp`, more than `maxEvents`, a checkpoint that is not JSON), a missing method; nothing of that poll is taken',
    retriable: true,
    handling: 'retry',
  },
  ABORTED: { area: 'plugin', meaning: 'the operation was aborted because its collector (or the enrichment stage) is stopping', retriable: true, handling: 'retry' },

  // Isolation: each becomes the collector's error code, then a restart.
  UNRESPONSIVE: {
    area: 'isolation',
    meaning: "no heartbeat from the plugin's worker for `orchestrator.unresponsive_after_seconds`: its event loop is blocked",
    retriable: true,
    handling: 'restart',
  },
  MEMORY_LIMIT: { area: 'isolation', meaning: "the worker's heap reached `max_heap_mb` and V8 stopped it", retriable: true, handling: 'restart' },
  CRASHED: { area: 'isolation', meaning: 'the plugin threw outside any call (a timer, an unhandled rejection)', retriable: true, handling: 'restart' },
  EXITED: { area: 'isolation', meaning: 'the worker ended by itself (`process.exit()` in the plugin)', retriable: true, handling: 'restart' },

  // Collector.
  START_FAILED: {
    area: 'collector',
    meaning: "the plugin's `start()` failed with no code of its own; a start that throws counts as a restart",
    retriable: true,
    handling: 'restart',
  },
  CHECKPOINT_WRITE_FAILED: {
    area: 'collector',
    meaning:
      'the checkpoint could not be written (disk full, unwritable `state_dir`): events read since the last saved position are read again after a restart; the next write that lands recovers the collector',
    retriable: false,
    handling: 'degrade',
  },
  BATCH_NOT_ACKNOWLEDGED: {
    area: 'collector',
    meaning: 'the sink did not take a batch: the collector rewinds to its last written checkpoint',
    retriable: true,
    handling: 'reread',
  },
  CHECKPOINT_UNREADABLE: {
    area: 'collector',
    meaning: 'a checkpoint file cannot be read as one (permissions, not JSON, not a checkpoint); the message names the file',
    retriable: false,
    handling: 'refuse',
  },

  // Events refused one by one: the `reason` label of fabric_events_dead_lettered_total.
  NOT_AN_OBJECT: { area: 'event', meaning: 'the event is not a JSON object (null, a string, an array, …)', retriable: false, handling: 'dead-letter' },
  INVALID_TIMESTAMP: { area: 'event', meaning: '`@timestamp` is missing or not a parseable date', retriable: false, handling: 'dead-letter' },
  TOO_DEEP: { area: 'event', meaning: 'nested deeper than `pipeline.max_event_depth`', retriable: false, handling: 'dead-letter' },
  TOO_LARGE: { area: 'event', meaning: 'larger than `pipeline.max_event_bytes` (keys and values counted)', retriable: false, handling: 'dead-letter' },
  CYCLE: { area: 'event', meaning: 'an object that contains itself', retriable: false, handling: 'dead-letter' },
  NOT_JSON: { area: 'event', meaning: 'a value JSON has no form for (`BigInt`)', retriable: false, handling: 'dead-letter' },
  UNREADABLE: { area: 'event', meaning: 'reading the event threw: a getter, a `toJSON`, a revoked Proxy', retriable: false, handling: 'dead-letter' },
  NOT_SERIALISABLE: { area: 'event', meaning: "the sink could not serialise the event after the pipeline's stages changed it", retriable: false, handling: 'dead-letter' },

  // Detection.
  DETECTION_TIMEOUT: {
    area: 'detection',
    meaning: 'a detection worker spent more than `detection.task_timeout_ms` on one event (a pathological line or user extractor)',
    retriable: false,
    handling: 'skip',
  },
  DETECTION_WORKER_FAILED: {
    area: 'detection',
    meaning: 'a detection worker died while evaluating; retriable when it was stopped for another task, so nothing in this one is to blame',
    retriable: false,
    handling: 'skip',
  },
  DETECTION_WORKERS_DOWN: {
    area: 'detection',
    meaning:
      'no detection worker could start (the build under `dist/` is missing or broken, or no memory for a thread): at start-up `fabric` exits 1 with the cause; if it happens later, each batch passes undetected (`fabric_detection_failed_batches_total{reason="start"}`) and the next one starts workers again',
    retriable: true,
    handling: 'refuse',
  },

  // Enrichment.
  QUEUE_FULL: {
    area: 'enrichment',
    meaning: 'more than `max_queue_per_source` indicators waited for one source: the oldest lowest-priority one is given up',
    retriable: true,
    handling: 'unanswered',
  },

  // Sinks.
  SINK_CLOSED: {
    area: 'sink',
    meaning: 'the Kafka sink closed before the broker acknowledged these events: their writes are rejected and their checkpoints stay uncommitted',
    retriable: true,
    handling: 'reread',
  },
  SLOT_FENCED: {
    area: 'cluster',
    meaning:
      "another instance took this slot and fenced this one's transactional producer (this instance stalled past the session timeout): its open transaction was aborted and nothing of it is visible",
    retriable: false,
    handling: 'reread',
  },
  SLOT_NOT_OWNED: {
    area: 'cluster',
    meaning: 'a write for a collector whose slot this instance does not own (it moved during a rebalance): refused, so only the owner commits its checkpoints',
    retriable: true,
    handling: 'reread',
  },
  CLUSTER_SETUP: {
    area: 'cluster',
    meaning:
      'the Kafka cluster cannot hold the cluster state (an internal topic has the wrong partition count, or creating it was refused): the message names the topic and the fix',
    retriable: false,
    handling: 'refuse',
  },
  KAFKA_PRODUCE_FAILED: {
    area: 'sink',
    meaning:
      "a produce request failed in the Kafka sink's producer thread (a broker error, a lost connection, or the thread itself exited): the `code` label of fabric_kafka_sink_errors_total names the cause, `PRODUCER_THREAD_EXITED` for the thread",
    retriable: true,
    handling: 'resend',
  },
  TOPIC_MISSING: { area: 'sink', meaning: 'Kafka topics are missing and `sink.create_topics.enabled` is false', retriable: false, handling: 'refuse' },
  TOPIC_CREATE_DENIED: { area: 'sink', meaning: 'the Kafka cluster refused to create the missing topics (ACLs)', retriable: false, handling: 'refuse' },
  INVALID_REPLICATION_FACTOR: { area: 'sink', meaning: '`sink.create_topics.replication_factor` is more than the brokers the cluster has', retriable: false, handling: 'refuse' },
  KAFKA_REFUSED: {
    area: 'sink',
    meaning:
      "the Kafka cluster refused this client: SASL credentials or mechanism, ACLs, a TLS certificate (on either side), topic settings. `brokerCode` has the broker's error type or `TLS_<code>`, also the `code` label of fabric_kafka_sink_errors_total",
    retriable: false,
    handling: 'refuse',
  },

  // Configuration.
  CONFIG_INVALID: {
    area: 'config',
    meaning: 'the config file does not match the schema; every problem is listed with file, line, field and fix',
    retriable: false,
    handling: 'refuse',
  },
  CONFIG_NOT_FOUND: { area: 'config', meaning: 'the config file does not exist, is a folder, or cannot be read', retriable: false, handling: 'refuse' },
  CONFIG_SYNTAX: { area: 'config', meaning: 'the config file is not valid YAML (or its aliases expand to too much data)', retriable: false, handling: 'refuse' },
  CONFIG_ENV_MISSING: { area: 'config', meaning: 'the config names `${VAR}` environment variables that are not set', retriable: false, handling: 'refuse' },
  CONFIG_TOO_LARGE: { area: 'config', meaning: 'the config file is larger than 1 MiB', retriable: false, handling: 'refuse' },
  CONFIG_PLUGINS: {
    area: 'config',
    meaning: "a collector's or enricher's plugin cannot be loaded, or its `config:` block does not match the plugin's schema",
    retriable: false,
    handling: 'refuse',
  },
  ENRICHMENT_CONFIG_INVALID: { area: 'config', meaning: 'the `enrichment:` section or an enricher binding is invalid', retriable: false, handling: 'refuse' },
  WARNINGLIST_INVALID: {
    area: 'config',
    meaning: 'a MISP warninglist folder or file cannot be used (missing, not JSON, unsupported type, bad entry)',
    retriable: false,
    handling: 'refuse',
  },
  ADMIN_TOKEN_INVALID: { area: 'config', meaning: 'the admin token is too short, or its file cannot be read or written', retriable: false, handling: 'refuse' },

  // Loading plugins (PluginLoadError); at run time a plugin that fails to import in its worker is retried within its restart budget.
  PLUGIN_NOT_INSTALLED: { area: 'plugin-load', meaning: 'no package of that name is installed where the host looks for plugins', retriable: false, handling: 'refuse' },
  PLUGIN_API_MISMATCH: { area: 'plugin-load', meaning: "the plugin's API range does not include this host's `PLUGIN_API_VERSION`", retriable: false, handling: 'refuse' },
  PLUGIN_INVALID: {
    area: 'plugin-load',
    meaning: 'the package is not a usable plugin: no API range, an import failure, no `definePlugin` default export, an unknown kind',
    retriable: false,
    handling: 'refuse',
  },
  PLUGIN_CONFIG_INVALID: {
    area: 'plugin-load',
    meaning: "a plugin's config block does not match its schema (kept for the `PluginLoadCode` type; config checks report `CONFIG_PLUGINS`)",
    retriable: false,
    handling: 'refuse',
  },
  PLUGIN_KIND_MISMATCH: {
    area: 'plugin-load',
    meaning: 'a plugin is used as the wrong kind (kept for the `PluginLoadCode` type; config checks report `CONFIG_PLUGINS`)',
    retriable: false,
    handling: 'refuse',
  },

  // Rules and logsource files.
  RULE_REFUSED: {
    area: 'rules',
    meaning: 'a Sigma rule or field extractor uses something this engine cannot evaluate faithfully (or in linear time): refused, never guessed',
    retriable: false,
    handling: 'refuse',
  },
  CORRELATION_RULE_INVALID: {
    area: 'rules',
    meaning: 'correlation rules were refused; every problem is listed with file, document and rule',
    retriable: false,
    handling: 'refuse',
  },
  LOGSOURCE_FILE_INVALID: {
    area: 'rules',
    meaning: 'a logsource mapping file cannot be used; the message names the file, the entry and the fix',
    retriable: false,
    handling: 'refuse',
  },

  // Host operations behind the admin API (HostError).
  NOT_FOUND: {
    area: 'host',
    meaning: 'no collector (or plugin) of that name; the admin API answers `COLLECTOR_NOT_FOUND` or `PLUGIN_NOT_FOUND`',
    retriable: false,
    handling: 'answer',
  },
  EXISTS: {
    area: 'host',
    meaning: 'a collector or enricher of that id already exists; the admin API answers `COLLECTOR_EXISTS`',
    retriable: false,
    handling: 'answer',
  },
  INVALID: {
    area: 'host',
    meaning: 'the request cannot be carried out as given; the admin API answers `INVALID_REQUEST`, or `VALIDATION_FAILED` with the fields of a refused checkpoint',
    retriable: false,
    handling: 'answer',
  },

  // Admin API answers (AdminErrorCodes).
  UNAUTHORIZED: {
    area: 'admin-api',
    meaning: 'no or a wrong bearer token, or no dashboard session; 403 for a dashboard request without its CSRF header or from another origin',
    retriable: false,
    handling: 'answer',
    status: 401,
    alsoStatus: [403],
  },
  VALIDATION_FAILED: { area: 'admin-api', meaning: 'the request does not match the API schema; `details[]` names every field', retriable: false, handling: 'answer', status: 400 },
  INVALID_JSON: { area: 'admin-api', meaning: 'the request body is not valid JSON', retriable: false, handling: 'answer', status: 400 },
  UNSUPPORTED_MEDIA_TYPE: { area: 'admin-api', meaning: 'the request body is not `application/json`', retriable: false, handling: 'answer', status: 415 },
  BODY_TOO_LARGE: { area: 'admin-api', meaning: 'the request body exceeds `admin.body_limit_bytes`', retriable: false, handling: 'answer', status: 413 },
  HEADERS_TOO_LARGE: { area: 'admin-api', meaning: 'the URL and headers exceed 16 KiB', retriable: false, handling: 'answer', status: 431 },
  HOST_NOT_ALLOWED: {
    area: 'admin-api',
    meaning: 'the Host header does not name this admin API (`admin.allowed_hosts`): DNS-rebinding defence',
    retriable: false,
    handling: 'answer',
    status: 421,
  },
  TOO_MANY_STREAMS: {
    area: 'admin-api',
    meaning: 'too many `/events` or `/feed` streams: 429 past `admin.sse_max_clients_per_token` for one token or session, 503 past `admin.sse_max_clients` in total',
    retriable: true,
    handling: 'answer',
    status: 429,
    alsoStatus: [503],
  },
  ROUTE_NOT_FOUND: { area: 'admin-api', meaning: 'no such route (or dashboard asset); `GET /openapi.json` lists every route', retriable: false, handling: 'answer', status: 404 },
  METHOD_NOT_ALLOWED: { area: 'admin-api', meaning: 'the route exists but not with this method (reserved: not sent today)', retriable: false, handling: 'answer', status: 405 },
  COLLECTOR_NOT_FOUND: { area: 'admin-api', meaning: 'no collector with that id', retriable: false, handling: 'answer', status: 404 },
  PLUGIN_NOT_FOUND: { area: 'admin-api', meaning: 'no plugin of that name is installed', retriable: false, handling: 'answer', status: 404 },
  FALSE_POSITIVE_NOT_FOUND: { area: 'admin-api', meaning: 'that indicator is not marked as a false positive', retriable: false, handling: 'answer', status: 404 },
  TRANSITION_NOT_ALLOWED: {
    area: 'admin-api',
    meaning: "the collector's state machine does not allow this command now; the body has its `state`",
    retriable: false,
    handling: 'answer',
    status: 409,
  },
  CHECKPOINT_CONFLICT: {
    area: 'admin-api',
    meaning: 'a checkpoint can be changed only while its collector cannot poll (stopped, idle or failed)',
    retriable: false,
    handling: 'answer',
    status: 409,
  },
  CONFLICT: { area: 'admin-api', meaning: "the collector's state does not allow the operation (also a `HostError` code)", retriable: false, handling: 'answer', status: 409 },
  COLLECTOR_EXISTS: {
    area: 'admin-api',
    meaning: '`POST /collectors` names an id a collector or enricher already has; change it with `PUT /collectors/:id/config` instead',
    retriable: false,
    handling: 'answer',
    status: 409,
  },
  CONFIG_REFUSED: {
    area: 'admin-api',
    meaning:
      'a collector config (`PUT /collectors/:id/config`, `POST /collectors`) or the re-read config file (`POST /reload`, SIGHUP) is invalid, checked as `fabric validate` checks a file; `details[]` names every field; nothing was applied and the running config stays',
    retriable: false,
    handling: 'answer',
    status: 400,
  },
  ENRICHER_NOT_FOUND: { area: 'admin-api', meaning: 'no enricher with that id (`GET /enrichers` lists them)', retriable: false, handling: 'answer', status: 404 },
  NOT_SUPPORTED: {
    area: 'admin-api',
    meaning: 'this instance does not offer the operation (e.g. runtime config changes of an instance embedded without a config file)',
    retriable: false,
    handling: 'answer',
    status: 501,
  },
  INVALID_REQUEST: {
    area: 'admin-api',
    meaning: "a malformed request (bad URL encoding, a refused value); Fastify's other client errors keep their own 4xx status",
    retriable: false,
    handling: 'answer',
    status: 400,
  },
  NOT_READY: { area: 'admin-api', meaning: 'the instance is not ready (reserved: `/ready` answers 503 with its checks instead)', retriable: true, handling: 'answer', status: 503 },
  INTERNAL_ERROR: {
    area: 'admin-api',
    meaning: 'an unexpected failure; the answer says only "see the server log, request id X"',
    retriable: false,
    handling: 'answer',
    status: 500,
  },

  // Command line.
  USAGE: { area: 'cli', meaning: 'wrong arguments or flags; the message ends with the usage (exit 2)', retriable: false, handling: 'cli' },
  ADMIN_UNREACHABLE: {
    area: 'cli',
    meaning: "the running instance's admin API cannot be reached, or the config naming it cannot be read (exit 3)",
    retriable: true,
    handling: 'cli',
  },
  SINK_UNREACHABLE: {
    area: 'cli',
    meaning:
      '`fabric run --once` could not connect to the sink within its connection timeout, or the sink refused the connection (credentials, TLS): nothing was read and no checkpoint moved (exit 1)',
    retriable: true,
    handling: 'cli',
  },
  ADMIN_REQUEST_FAILED: { area: 'cli', meaning: 'the admin API answered an error; `apiCode` and `status` are what it answered (exit 1)', retriable: false, handling: 'cli' },
  STARTUP_FAILED: {
    area: 'cli',
    meaning: '`fabric start` could not start (admin port taken, sink or stages failed to start): everything started so far was stopped, nothing was polled or committed (exit 1)',
    retriable: true,
    handling: 'cli',
  },
  STATE_DIR_LOCKED: {
    area: 'cli',
    meaning: 'another `fabric start` or `fabric run` holds the lock on this state_dir; the message names its pid (exit 1)',
    retriable: true,
    handling: 'cli',
  },
} as const satisfies Record<string, ErrorCodeSpec>;

export type FabricErrorCode = keyof typeof ERROR_CODES;

/** The codes of one area, in table order. */
export type CodesOf<A extends ErrorArea> = { [K in FabricErrorCode as (typeof ERROR_CODES)[K]['area'] extends A ? K : never]: K };

/** `{ CODE: 'CODE', … }` for one area: the shape the per-module code lists have always had. */
export function codesOf<A extends ErrorArea>(area: A): Readonly<CodesOf<A>> {
  const out: Record<string, string> = {};
  for (const [code, spec] of Object.entries(ERROR_CODES) as Array<[string, ErrorCodeSpec]>) if (spec.area === area) out[code] = code;
  return Object.freeze(out) as unknown as Readonly<CodesOf<A>>;
}

/** The table's entry for `code`, or undefined for a code it does not know (a plugin's own). */
export function errorCodeSpec(code: string): ErrorCodeSpec | undefined {
  return Object.hasOwn(ERROR_CODES, code) ? (ERROR_CODES as Record<string, ErrorCodeSpec>)[code] : undefined;
}

/**
 * Whether an error with this code is worth retrying without a config change, from the table.
 * Codes it does not know (a plugin's own) are retriable: a plugin that means otherwise says
 * `retriable: false`. Hosts use it wherever they only have a code (a health report), so the
 * answer matches `new PluginError(code, …).retriable`.
 */
export function isRetriableCode(code: string): boolean {
  return errorCodeSpec(code)?.retriable ?? true;
}

/** Codes the runtime handles this way (e.g. every code that degrades a collector at once). */
export function codesHandled(handling: ErrorHandling): ReadonlySet<string> {
  return new Set(
    Object.entries(ERROR_CODES as Record<string, ErrorCodeSpec>)
      .filter(([, s]) => s.handling === handling)
      .map(([c]) => c),
  );
}
