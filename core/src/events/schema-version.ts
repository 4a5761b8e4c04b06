/**
 * `fabric.schema_version` of every published event (core/schemas/threat-detected.v2.json,
 * docs/events.md). 2.0.0: rule matches and correlations are ECS `event.kind: "alert"`, `ecs.version`,
 * only ECS fields under `rule`, the product's own under `fabric.*`.
 */
export const EVENT_SCHEMA_VERSION = '2.0.0';

/**
 * `schema_version` of collector status records (core/schemas/honeypot-status.v1.json) and
 * dead-letter records (docs/dead-letters.md). Versioned apart from events: their shape did not
 * change with the event schema's 2.0, and their consumers must not think it did.
 */
export const RECORD_SCHEMA_VERSION = '1.0.0';
