/**
 * @reactive-fabric/core — the plugin API. Everything a plugin author needs, and nothing else:
 * host internals live behind `@reactive-fabric/core/runtime`.
 */
export * from './plugin-api/index.js';
