import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import plugin from '../src/index.js';
import { stageScenarios } from '../../../test/support/threat-intel-plugins.js';

stageScenarios({
  id: 'abuseipdb',
  plugin,
  makeFake: () => new AbuseIpdbFake(),
  apiKey: ABUSEIPDB_FAKE_API_KEY,
  quotaBucket: 'check',
  knownStatus: 'malicious',
});
