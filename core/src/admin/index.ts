/** The admin API: see and control every collector's state machine over HTTP. */
export { startAdminServer } from './server.js';
export type { AdminServer, AdminServerOptions } from './server.js';
export { buildAdminApp, resolveAdminConfig } from './app.js';
export type { AdminApp, AdminAppOptions } from './app.js';
export { AdminConfigSchema, MIN_TOKEN_LENGTH } from './config.js';
export type { AdminConfig } from './config.js';
export { AdminErrorCodes } from './errors.js';
export type { AdminErrorBody, AdminErrorCode } from './errors.js';
export { TOKEN_ENV, TOKEN_FILE_NAME, URL_FILE_NAME, TokenConfigError, resolveToken } from './token.js';
export { AdminClient, AdminClientError, locateAdmin } from './client.js';
export type { AdminLocation } from './client.js';
