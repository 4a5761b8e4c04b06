import { MispFake, MISP_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import plugin from '../src/index.js';
import { stageScenarios } from '../../../test/support/threat-intel-plugins.js';

stageScenarios({
  id: 'misp',
  plugin,
  makeFake: () => new MispFake(),
  apiKey: MISP_FAKE_API_KEY,
  quotaBucket: 'restSearch',
  knownStatus: 'malicious',
});
