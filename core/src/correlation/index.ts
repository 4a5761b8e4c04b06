/**
 * Correlation stage (issue 9): Sigma correlation rules over detections from every collector.
 * What the rest of core uses: the stage, its config section and its rules. The engine, its
 * checkpoint files and the rule checks stay behind the stage.
 */
export { createCorrelationStage, resolveCorrelationRules, BUILTIN_CORRELATION_RULES_DIR } from './stage.js';
export type { CorrelationStage, CorrelationStageContext } from './stage.js';
export { CorrelationConfigSchema } from './config.js';
export type { CorrelationConfig } from './config.js';
export { loadCorrelationRules, parseCorrelationRules } from './rule-loader.js';
export { withoutDisabled } from './rule-set.js';
export { CorrelationRuleError } from './rule-problem.js';
export type { CorrelationRuleProblem } from './rule-problem.js';
export type { CorrelationRule, CorrelationType, CountCondition, SigmaLevel } from './rule.js';
