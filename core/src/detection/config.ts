import Type from 'typebox';
import type { Static } from 'typebox';
import { timerLimit } from '../plugin-api/schema.js';

/**
 * A Sigma-style selection used by extractors (`when`) and logsource gates (`when`):
 * a map is AND, a list of maps is OR, field keys may carry modifiers (`process.name|contains`).
 */
const Selection = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Record(Type.String(), Type.Unknown()))]);

const Level = Type.Union([Type.Literal('informational'), Type.Literal('low'), Type.Literal('medium'), Type.Literal('high'), Type.Literal('critical')]);

export const LogsourceMappingSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Label used in messages and docs (e.g. "windows-sysmon-process_creation").' })),
    product: Type.Optional(Type.String({ description: 'Sigma logsource.product this mapping applies to (omit: any product).' })),
    service: Type.Optional(Type.String({ description: 'Sigma logsource.service (omit: rules without a service).' })),
    category: Type.Optional(Type.String({ description: 'Sigma logsource.category (omit: rules without a category).' })),
    when: Type.Optional(Selection),
    fields: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Sigma field name → event field (dotted ECS path).' })),
    field_prefix: Type.Optional(
      Type.String({
        description: 'Prefix for Sigma fields not listed in `fields` and without a dot, e.g. "auditd." for auditd key=value fields, "winlog.event_data." for Windows event data.',
      }),
    ),
    field_case: Type.Optional(
      Type.Literal('snake_case', {
        description: 'Write unmapped names in snake_case before the prefix (ResultDescription → result_description), as Elastic integrations name cloud fields.',
      }),
    ),
    produces: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'Fields that events of this source carry when they come as structured documents (ECS from Elasticsearch, Splunk, Graylog): exact paths or "prefix.*". The targets of `fields` count too. Used to warn about rules that can never fire.',
      }),
    ),
  },
  { additionalProperties: false },
);

/** A logsource file: a list of mappings, or `defaults` merged into each of `logsources`. */
export const LogsourceFileSchema = Type.Union([
  Type.Array(LogsourceMappingSchema),
  Type.Object(
    {
      description: Type.Optional(Type.String()),
      defaults: Type.Optional(Type.Partial(LogsourceMappingSchema)),
      logsources: Type.Array(LogsourceMappingSchema),
    },
    { additionalProperties: false },
  ),
]);

export const ExtractorConfigSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    type: Type.Union([Type.Literal('regex'), Type.Literal('kv'), Type.Literal('json')]),
    when: Type.Optional(Selection),
    source: Type.Optional(Type.Array(Type.String(), { description: 'Fields to read the text from; the first present one is used.' })),
    patterns: Type.Optional(
      Type.Array(
        Type.Object(
          {
            regex: Type.String({ minLength: 1, description: 'Named groups become fields; "__" in a group name stands for "." (source__ip → source.ip).' }),
            set: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    prefix: Type.Optional(Type.String({ description: 'kv/json: prefix for every key (e.g. "app.").' })),
    fields: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Rename extracted keys to ECS paths.' })),
    null_values: Type.Optional(Type.Array(Type.String(), { description: 'Extracted values treated as absent, e.g. "-" in access logs.' })),
    match: Type.Optional(Type.Union([Type.Literal('first'), Type.Literal('all')], { description: 'regex: stop at the first matching pattern (default) or apply all.' })),
  },
  { additionalProperties: false },
);

/** `detection:` section. Owned by the detection engine (issue 3). */
export const DetectionConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Run Sigma rules over every event.' }),
    builtin_rules: Type.Boolean({ default: true, description: 'Load the shipped rf_* rules from core/rules.' }),
    rules: Type.Array(Type.String(), {
      default: [],
      description: 'Extra Sigma rule files or folders, relative to the config file. A rule whose name or id equals a built-in one replaces it.',
    }),
    disabled_rules: Type.Array(Type.String(), { default: [], description: 'Rule names or ids to skip.' }),
    overrides: Type.Record(Type.String(), Type.Object({ level: Type.Optional(Level), tags: Type.Optional(Type.Array(Type.String())) }, { additionalProperties: false }), {
      default: {},
      description: 'Per rule name or id: replace its level or ATT&CK tags.',
    }),
    logsources: Type.Array(
      Type.Union([
        LogsourceMappingSchema,
        Type.String({ minLength: 1, description: 'A YAML file of mappings (a list, or `defaults` + `logsources`), relative to the config file.' }),
      ]),
      {
        default: [],
        description:
          'Extra logsource mappings (inline, or file paths), tried in order before the built-in ones (core/logsources): a mapping for the same product/service/category overrides the built-in one.',
      },
    ),
    builtin_extractors: Type.Boolean({ default: true, description: 'syslog header, sshd, sudo, su, pam_unix, auditd, web access logs.' }),
    extractors: Type.Array(ExtractorConfigSchema, { default: [], description: 'Extra extractors, run after the built-in ones.' }),
    keyword_fields: Type.Array(Type.String(), {
      default: ['*'],
      description:
        'Fields Sigma keywords search: "*" (default) is every value of the event, the original line included, as the Sigma specification says; a list narrows the search to those fields.',
    }),
    pool_size: Type.Integer({ minimum: 0, maximum: 256, default: 0, description: 'Piscina workers (threads); 0 = one per CPU core.' }),
    batch_size: Type.Integer({ minimum: 1, default: 2000, description: 'Events per worker task.' }),
    max_queue: Type.Integer({ minimum: 1, default: 64, description: 'Queued tasks before needsDrain reports backpressure.' }),
    max_line_bytes: Type.Integer({ minimum: 256, default: 65536, description: 'Longer text is cut to this length before extraction and matching.' }),
    task_timeout_ms: Type.Integer({
      minimum: 100,
      default: 10000,
      ...timerLimit('ms'),
      description:
        'How long one event may keep a detection worker busy. Past it the event is delivered undetected, marked fabric.detection.skipped and counted (fabric_detection_skipped_events_total); the rest of its batch is evaluated.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export type DetectionConfig = Static<typeof DetectionConfigSchema>;
export type LogsourceMapping = Static<typeof LogsourceMappingSchema>;
export type LogsourceFile = Static<typeof LogsourceFileSchema>;
export type ExtractorConfig = Static<typeof ExtractorConfigSchema>;
