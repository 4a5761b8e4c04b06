import { VirusTotalFake, VT_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import plugin from '../src/index.js';
import { stageScenarios } from '../../../test/support/threat-intel-plugins.js';

stageScenarios({
  id: 'virustotal',
  plugin,
  makeFake: () => new VirusTotalFake({ quotas: {} }),
  apiKey: VT_FAKE_API_KEY,
  quotaBucket: '*',
  knownStatus: 'malicious',
});
