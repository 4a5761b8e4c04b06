import { definePlugin, WindowCursorCheckpointSchema } from '@reactive-fabric/core';
import { GraylogConfigSchema } from './config.js';
import { GraylogSource } from './source.js';

export { GraylogConfigSchema, type GraylogConfig } from './config.js';
export { GraylogSource } from './source.js';
export type { WindowCursorCheckpoint as CursorCheckpoint } from '@reactive-fabric/core';

export default definePlugin({
  name: '@reactive-fabric/plugin-log-graylog',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  description: 'Pulls messages from Graylog 5.x/6.x with absolute-time searches (universal or scripting API)',
  configSchema: GraylogConfigSchema,
  checkpointSchema: WindowCursorCheckpointSchema,
  create: (config, context) => new GraylogSource(config, context),
});
