import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/ti-abuseipdb/src/index.js';

const fake = new AbuseIpdbFake();

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/ti-abuseipdb/package.json', import.meta.url),
  async setup() {
    await fake.start();
    return () => fake.stop();
  },
  validConfig: () => ({ api_key: ABUSEIPDB_FAKE_API_KEY, base_url: fake.url }),
  configForEndpoint: (origin) => ({ api_key: ABUSEIPDB_FAKE_API_KEY, base_url: `${origin}/api/v2` }),
  feed: true,
  indicators: [
    { type: 'ipv4', value: '198.51.100.66', expect: 'malicious' },
    { type: 'ipv4', value: '203.0.113.7', expect: 'suspicious' },
  ],
});
