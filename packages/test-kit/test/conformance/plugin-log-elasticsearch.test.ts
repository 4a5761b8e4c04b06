import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ElasticsearchFake, loghubDir, loghubEsDocs, readLoghub, spreadOverTime } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/log-elasticsearch/src/index.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../../..');
const fake = new ElasticsearchFake({ flavour: 'elasticsearch', credentials: { type: 'none' } });
const endpoint = (base: string) => {
  const u = new URL(base);
  return { host: u.hostname, port: Number(u.port), scheme: u.protocol.replace(':', '') };
};

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/log-elasticsearch/package.json', import.meta.url),
  async setup() {
    await fake.start();
    const now = Date.now();
    fake.addDocs(loghubEsDocs(spreadOverTime(readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log', 60), now - 4 * 60_000, now - 60_000), 'logs-ssh'));
    return () => fake.close();
  },
  validConfig: () => ({ host: '127.0.0.1', port: fake.port, scheme: 'http', indices: ['logs-*'] }),
  configForEndpoint: (base) => ({ ...endpoint(base), indices: ['logs-*'] }),
});
