/** Correlation stage (issue 9): Sigma correlation rules over detections from every collector. */
export { createCorrelationStage, resolveCorrelationRules, BUILTIN_CORRELATION_RULES_DIR } from './stage.js';
export type { CorrelationStage, CorrelationStageContext } from './stage.js';
export { CorrelationConfigSchema } from './config.js';
export type { CorrelationConfig } from './config.js';
export {
  loadCorrelationRules,
  readCorrelationRules,
  parseCorrelationRules,
  checkRuleSet,
  withoutDisabled,
  parseTimespan,
  CorrelationRuleError,
  formatProblem,
} from './rule-loader.js';
export type { CorrelationRuleProblem } from './rule-loader.js';
export type { CorrelationRule, CorrelationType, CountCondition, SigmaLevel } from './rule.js';
export { CorrelationEngine } from './engine.js';
export type { EngineOptions, EngineSnapshot } from './engine.js';
export { alertId } from './alert.js';
