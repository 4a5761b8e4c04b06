import { OtxFake, OTX_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import plugin from '../src/index.js';
import { stageScenarios } from '../../../test/support/threat-intel-plugins.js';

stageScenarios({
  id: 'otx',
  plugin,
  makeFake: () => new OtxFake(),
  apiKey: OTX_FAKE_API_KEY,
  quotaBucket: '*',
  knownStatus: 'malicious',
});
