import { OtxFake, OTX_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/ti-otx/src/index.js';

const fake = new OtxFake();

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/ti-otx/package.json', import.meta.url),
  async setup() {
    await fake.start();
    return () => fake.stop();
  },
  validConfig: () => ({ api_key: OTX_FAKE_API_KEY, base_url: fake.url }),
  configForEndpoint: (origin) => ({ api_key: OTX_FAKE_API_KEY, base_url: `${origin}/api/v1` }),
  feed: true,
  indicators: [{ type: 'ipv4', value: '198.51.100.66', expect: 'malicious' }],
});
