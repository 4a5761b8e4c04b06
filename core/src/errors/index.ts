export { FabricError, type FabricErrorOptions } from './fabric-error.js';
export {
  ERROR_AREAS,
  ERROR_CODES,
  ERROR_HANDLING,
  codesHandled,
  codesOf,
  errorCodeSpec,
  isRetriableCode,
  type CodesOf,
  type ErrorArea,
  type ErrorCodeSpec,
  type ErrorHandling,
  type FabricErrorCode,
} from './codes.js';
