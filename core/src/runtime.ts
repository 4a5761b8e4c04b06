/**
 * @reactive-fabric/core/runtime — the host side: config, plugin loading, orchestrator, sinks.
 * For embedding Reactive Fabric, for the CLI, and for the test kit.
 */
export * from './host.js';
export {
  FabricError,
  ERROR_CODES,
  ERROR_AREAS,
  ERROR_HANDLING,
  errorCodeSpec,
  codesOf,
  codesHandled,
  type FabricErrorCode,
  type ErrorCodeSpec,
  type ErrorArea,
  type ErrorHandling,
  type FabricErrorOptions,
} from './errors/index.js';
export * from './config/schema.js';
export type { Sink, SinkHealth, CollectorStatusEvent } from './sinks/sink.js';
export { EVENT_SCHEMA_VERSION, RECORD_SCHEMA_VERSION } from './sinks/sink.js';
export { ECS_VERSION, alertTypeOf, isCorrelationAlert, isDetection, type AlertType } from './events/ecs.js';
export type { PipelineStage } from './pipeline/stage.js';
export { validateAgainstSchema, secretValues } from './config/validate.js';
export {
  createDetectionStage,
  buildEngineSpec,
  loadRules,
  selectRules,
  DetectionEngine,
  DetectionPool,
  annotateDetection,
  type DetectionStage,
  type DetectionConfig,
  type SigmaRule,
  type RuleInfo,
} from './detection/index.js';
export {
  createKafkaSink,
  resolveKafkaSinkConfig,
  KafkaSinkConfigSchema,
  KafkaSinkClosedError,
  KafkaSinkSetupError,
  KAFKA_HEADERS,
  type KafkaSinkConfig,
} from './sinks/kafka/index.js';
export {
  createCorrelationStage,
  loadCorrelationRules,
  resolveCorrelationRules,
  CorrelationRuleError,
  CorrelationConfigSchema,
  type CorrelationStage,
  type CorrelationConfig,
  type CorrelationRule,
} from './correlation/index.js';
export {
  createEnrichmentStage,
  resolveEnrichmentConfig,
  EnrichmentConfigError,
  EnrichmentConfigSchema,
  FalsePositiveStore,
  Warninglists,
  WarninglistError,
  type EnrichmentStage,
  type EnrichmentConfig,
  type EnricherBinding,
  type EnrichmentContext,
  type SourceHealth,
} from './enrichment/index.js';
export {
  startAdminServer,
  buildAdminApp,
  resolveAdminConfig,
  AdminConfigSchema,
  AdminErrorCodes,
  AdminClient,
  AdminClientError,
  locateAdmin,
  TokenConfigError,
  type AdminConfig,
  type AdminServer,
  type AdminServerOptions,
  type AdminLocation,
} from './admin/index.js';
export { WorkerPlugin, type WorkerLimits, type WorkerResources } from './isolation/worker-plugin.js';
export { IsolationErrorCodes, isInstanceLost } from './isolation/codes.js';
export { readPluginPackage, type PluginPackage } from './plugins/loader.js';
export { RefusedEvent, RejectCodes, type RejectCode } from './events/sanitize.js';
