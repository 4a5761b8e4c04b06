export * from './events.js';
export * from './errors.js';
export * from './schema.js';
export * from './indicators.js';
export * from './plugin.js';
export * from './toolkit/index.js';
