/**
 * @reactive-fabric/test-kit — what a plugin author needs to test a plugin:
 * the conformance suite (`runConformance`), a tiny in-process host (`createTestHost`),
 * the ECS/config/secret checks they are built from, and local fakes of the vendor APIs.
 */
export { runConformance } from './conformance.js';
export { conformanceSuite, ConformanceError, randomIndicator } from './suite.js';
export type { AnyPlugin, ConformanceCheck, ConformanceOptions, ConformanceSuite, EndpointScenario, FailureCase } from './suite.js';
export {
  TestHost,
  createTestHost,
  assertPollContract,
  assertLookupContract,
  pollContractProblems,
  lookupContractProblems,
  checkpointProblems,
  classifyError,
} from './host.js';
export type { TestHostOptions, TestPollOptions } from './host.js';
export { RecordingLogger } from './logger.js';
export type { LogRecord } from './logger.js';
export { validateEcsEvent, ECS_EVENT_CATEGORIES, ECS_EVENT_KINDS, ECS_EVENT_OUTCOMES, ECS_EVENT_TYPES } from './checks/ecs.js';
export { checkDefinition, checkApiRange } from './checks/definition.js';
export { validateConfig, derivedInvalidConfigs, checkErrorAtPath } from './checks/config.js';
export type { InvalidConfigCase, FieldError } from './checks/config.js';
export { collectSecrets, findLeakedSecrets } from './checks/secrets.js';
export { checkPackageJson, readPackageJson } from './checks/package.js';
export { startScenarioServer, closedPortUrl } from './scenario-server.js';
export type { Scenario, ScenarioServer } from './scenario-server.js';
export * from './fakes/index.js';
