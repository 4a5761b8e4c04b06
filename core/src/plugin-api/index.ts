export * from './events.js';
export * from './errors.js';
export * from './schema.js';
export * from './indicators.js';
export * from './plugin.js';
export * from './toolkit/index.js';
// The product's one IP parser, so a plugin classifies an address as enrichment and detection do.
export { canonicalIp, ipVersion, parseIp, type ParsedIp } from '../net/ip.js';
