import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SplunkFake, loghubDir, loghubSplunkEvents, readLoghub, spreadOverTime } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/log-splunk/src/index.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../../..');
const TOKEN = 'eyJraWQiOiJzcGx1bmsuc2VjcmV0In0.conformance';
const fake = new SplunkFake({ credentials: { username: 'fabric', password: 'changeme-123', token: TOKEN }, jobDurationMs: 20 });
const endpoint = (base: string) => {
  const u = new URL(base);
  return { host: u.hostname, port: Number(u.port), scheme: u.protocol.replace(':', '') };
};
const auth = { type: 'token', token: TOKEN };

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/log-splunk/package.json', import.meta.url),
  async setup() {
    await fake.start();
    const now = Date.now();
    // Indexed a few seconds after they happened, all in the past: an index time of "now" could fall
    // in the current second, which the plugin's window [earliest, latest) has not reached yet.
    const timed = spreadOverTime(readLoghub(loghubDir(repoRoot), 'OpenSSH_2k.log', 60), now - 4 * 60_000, now - 60_000);
    fake.addEvents(timed.map((t) => ({ ...loghubSplunkEvents([t], { index: 'main' })[0]!, indexTime: Math.floor(t.timestamp / 1000) + 5 })));
    return () => fake.close();
  },
  validConfig: () => ({ host: '127.0.0.1', port: fake.port, scheme: 'http', index: 'main', auth, job_poll_interval_ms: 10 }),
  configForEndpoint: (base) => ({ ...endpoint(base), index: 'main', auth, job_poll_interval_ms: 10 }),
});
