/** `schema_version` of every event, status and dead-letter record Reactive Fabric writes (docs/kafka.md). */
export const EVENT_SCHEMA_VERSION = '1.0.0';
