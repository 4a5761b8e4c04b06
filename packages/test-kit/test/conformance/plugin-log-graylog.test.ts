import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraylogFake, loghubDir, loghubGraylogMessages, readLoghub, spreadOverTime } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/log-graylog/src/index.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../../..');
const TOKEN = 'graylog-conformance-token-0123456789';
const fake = new GraylogFake({ credentials: { tokens: [TOKEN], users: [] } });
const endpoint = (base: string) => {
  const u = new URL(base);
  return { host: u.hostname, port: Number(u.port), scheme: u.protocol.replace(':', '') };
};
const auth = { type: 'token', token: TOKEN };

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/log-graylog/package.json', import.meta.url),
  async setup() {
    await fake.start();
    const now = Date.now();
    fake.addMessages(loghubGraylogMessages(spreadOverTime(readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log', 60), now - 4 * 60_000, now - 60_000)));
    return () => fake.close();
  },
  validConfig: () => ({ host: '127.0.0.1', port: fake.port, scheme: 'http', auth }),
  configForEndpoint: (base) => ({ ...endpoint(base), auth }),
});
