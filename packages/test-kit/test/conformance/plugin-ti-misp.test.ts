import { MispFake, MISP_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/ti-misp/src/index.js';

const fake = new MispFake();

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/ti-misp/package.json', import.meta.url),
  async setup() {
    await fake.start();
    return () => fake.stop();
  },
  // The seeded attributes are from 2025; the default look-back would start the feed after them.
  validConfig: () => ({ api_key: MISP_FAKE_API_KEY, base_url: fake.url, feed_since: '2025-01-01T00:00:00Z' }),
  configForEndpoint: (origin) => ({ api_key: MISP_FAKE_API_KEY, base_url: `${origin}` }),
  feed: true,
  indicators: [
    { type: 'ipv4', value: '198.51.100.66', expect: 'malicious' },
    { type: 'ipv6', value: '2001:db8::bad', expect: 'malicious' },
  ],
});
