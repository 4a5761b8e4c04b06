import { VirusTotalFake, VT_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/ti-virustotal/src/index.js';

const fake = new VirusTotalFake({ quotas: { '*': {} } });

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/ti-virustotal/package.json', import.meta.url),
  async setup() {
    await fake.start();
    return () => fake.stop();
  },
  validConfig: () => ({ api_key: VT_FAKE_API_KEY, base_url: fake.url }),
  configForEndpoint: (origin) => ({ api_key: VT_FAKE_API_KEY, base_url: `${origin}/api/v3` }),
  indicators: [
    { type: 'ipv4', value: '198.51.100.66', expect: 'malicious' },
    { type: 'ipv4', value: '8.8.8.8', expect: 'clean' },
  ],
});
