import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbuseIpdbFake } from '@reactive-fabric/test-kit/fakes';
import { loadConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { ErrorCodes, PluginError, isRetriableCode } from '../src/plugin-api/index.js';
import { repoRoot, silentLogger, tempDir, until } from './helpers.js';

const fake = new AbuseIpdbFake();
const dirs: string[] = [];
beforeAll(() => fake.start());
afterAll(async () => {
  await fake.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('retriable flag of error codes', () => {
  it('refused credentials and bad configuration are not retriable; the table and PluginError agree', () => {
    expect(isRetriableCode('AUTH_FAILED')).toBe(false);
    expect(isRetriableCode('BAD_CONFIG')).toBe(false);
    expect(isRetriableCode('UNAVAILABLE')).toBe(true);
    expect(isRetriableCode('SOMETHING_NEW')).toBe(true);
    for (const code of Object.values(ErrorCodes)) expect(new PluginError(code, 'x').retriable, code).toBe(isRetriableCode(code));
  });

  it('an enricher whose key is refused reports AUTH_FAILED with retriable: false (API and status events)', async () => {
    const dir = tempDir('fabric-enrich-auth-');
    dirs.push(dir);
    writeFileSync(join(dir, 'auth.log'), 'Dec 10 06:55:01 web-01 sshd[101]: Failed password for root from 198.51.100.23 port 40001 ssh2\n');
    writeFileSync(
      join(dir, 'fabric.yaml'),
      `state_dir: ./state
orchestrator: { collection_interval_seconds: 0.1, health_check_interval_seconds: 60 }
enrichment: { lookup_documentation_ranges: true, deadline_ms: 1500 }
collectors:
  - id: auth
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [auth.log], format: syslog }
enrichers:
  - id: abuseipdb
    plugin: "@reactive-fabric/plugin-ti-abuseipdb"
    config: { api_key: "refused-key-0123456789abcdef", base_url: "${fake.url}/api/v2" }
`,
    );
    const orch = await composeFabric(loadConfig(join(dir, 'fabric.yaml'), {}), { cwd: repoRoot, logger: silentLogger() });
    await orch.start();
    try {
      await until(() => orch.getCollector('abuseipdb')?.state === 'degraded', 20_000);
      expect(orch.getCollector('abuseipdb')!.lastError).toMatchObject({ code: 'AUTH_FAILED', retriable: false });
    } finally {
      await orch.stop();
    }
    const statuses = readFileSync(join(dir, 'state/status.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { collector: string; state: string; error?: { code: string; retriable: boolean } });
    const degraded = statuses.find((s) => s.collector === 'abuseipdb' && s.state === 'degraded');
    expect(degraded?.error).toMatchObject({ code: 'AUTH_FAILED', retriable: false });
  }, 60_000);
});
