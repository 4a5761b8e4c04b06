/** The enrichment stage: indicators → cached, rate-limited lookups → one reputation per detection. */
export { createEnrichmentStage, resolveEnrichmentConfig, EnrichmentConfigError, BUDGETS_FILE } from './stage.js';
export type { SharedEnrichmentState } from './shared.js';
export type { EnrichmentStage, EnricherBinding, EnrichmentContext } from './stage.js';
export { EnrichmentConfigSchema } from './config.js';
export type { EnrichmentConfig } from './config.js';
export { FalsePositiveStore, FALSE_POSITIVES_FILE } from './false-positives.js';
export { Warninglists, WarninglistError } from './warninglists.js';
export { extractIndicators } from './extract.js';
export type { ExtractedIndicator } from './extract.js';
export { normalizeIndicator, isNonPublic } from './indicator.js';
export { aggregate, STATUS_SCORE } from './aggregate.js';
export type { Reputation, IndicatorAnswers, SourceAnswer } from './aggregate.js';
export { verdictCacheKey, sourceNamespace } from './cache.js';
export type { Clock } from './clock.js';
export { systemClock } from './clock.js';
export type { SourceHealth, LookupOutcome } from './source.js';
