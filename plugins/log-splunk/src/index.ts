import { definePlugin, WindowCursorCheckpointSchema } from '@reactive-fabric/core';
import { SplunkConfigSchema } from './config.js';
import { SplunkSource } from './source.js';

export { SplunkConfigSchema, type SplunkConfig } from './config.js';
export { SplunkSource } from './source.js';
export type { WindowCursorCheckpoint as CursorCheckpoint } from '@reactive-fabric/core';

export default definePlugin({
  name: '@reactive-fabric/plugin-log-splunk',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  description: 'Pulls raw events from Splunk Enterprise with index-time windows (export stream or search jobs)',
  configSchema: SplunkConfigSchema,
  checkpointSchema: WindowCursorCheckpointSchema,
  create: (config, context) => new SplunkSource(config, context),
});
