import { definePlugin, WindowCursorCheckpointSchema } from '@reactive-fabric/core';
import { ElasticsearchConfigSchema } from './config.js';
import { ElasticsearchSource } from './source.js';

export { ElasticsearchConfigSchema, type ElasticsearchConfig } from './config.js';
export { ElasticsearchSource } from './source.js';
export type { WindowCursorCheckpoint as CursorCheckpoint } from '@reactive-fabric/core';

export default definePlugin({
  name: '@reactive-fabric/plugin-log-elasticsearch',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  description: 'Pulls events from Elasticsearch (7.10+, 8, 9) and OpenSearch 2.x with time windows, point in time and search_after',
  configSchema: ElasticsearchConfigSchema,
  checkpointSchema: WindowCursorCheckpointSchema,
  create: (config, context) => new ElasticsearchSource(config, context),
});
