import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { loadConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import pino from 'pino';
import { repoRoot, silentLogger, tempDir, until } from './helpers.js';
import { isDetection } from '../src/events/ecs.js';

const fake = new AbuseIpdbFake();
beforeAll(() => fake.start());
afterAll(() => fake.stop());

const failed = (i: number, ip: string) => `Dec 10 06:55:${String(i % 60).padStart(2, '0')} web-01 sshd[${100 + i}]: Failed password for root from ${ip} port ${40000 + i} ssh2`;

describe('orchestrator with an enricher', () => {
  // Recovery after the key is fixed waits out the stage's 60 s auth pause: covered with a manual
  // clock in core/test/enrichment and per plugin; here, the wiring from stage to collector state.
  it('a refused API key makes the enricher collector degraded with AUTH_FAILED, and detections are still published', async () => {
    const dir = tempDir('fabric-enrich-');
    const log = join(dir, 'auth.log');
    writeFileSync(log, `${failed(1, '198.51.100.23')}\n`);
    const wrongKey = 'not-the-right-key-0123456789';
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
    config: { api_key: "${wrongKey}", base_url: "${fake.url}/api/v2" }
`,
    );
    const orch = await composeFabric(loadConfig(join(dir, 'fabric.yaml'), {}), { cwd: repoRoot, logger: process.env.DEBUG_ENRICH ? pino({ level: 'debug' }) : silentLogger() });
    await orch.start();
    try {
      const state = (id: string) => orch.listCollectors().find((c) => c.id === id)?.state;
      await until(() => state('abuseipdb') === 'degraded', 20_000);
      expect(orch.getCollector('abuseipdb')!.lastError).toMatchObject({ code: 'AUTH_FAILED' });
      expect(JSON.stringify(orch.getCollector('abuseipdb'))).not.toContain(wrongKey);
      // GET /enrichers' view: its collector's state, the stage's view of the source, quota and cache.
      const [view] = orch.enrichers();
      expect(view).toMatchObject({
        id: 'abuseipdb',
        state: 'degraded',
        health: 'degraded',
        lastErrorCode: 'AUTH_FAILED',
        sourceHealth: { status: 'degraded', code: 'AUTH_FAILED' },
      });
      expect(view!.quota).toMatchObject({ usedToday: expect.any(Number), perMinute: expect.any(Number) });
      expect(view!.cache).toMatchObject({ entries: 0 });
      expect(JSON.stringify(view)).not.toContain(wrongKey);
      expect(orch.clearEnricherCache('abuseipdb')).toBe(0);
      expect(() => orch.clearEnricherCache('auth')).toThrow(/no enricher "auth"/);
      // The detection was still published, saying which source did not answer.
      await until(() => orch.snapshot().total.eventsPublished >= 1, 20_000);
      expect(state('auth')).toBe('running');
    } finally {
      await orch.stop();
    }
    const events = readFileSync(join(dir, 'state/events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const first = events.find((e) => e.source?.ip === '198.51.100.23' && isDetection(e));
    expect(first.fabric.reputation.sources_answered).toEqual([]);
    expect(JSON.stringify(first.fabric.reputation.sources_unanswered)).toContain('abuseipdb');
    expect(ABUSEIPDB_FAKE_API_KEY).not.toBe(wrongKey);
    const statuses = readFileSync(join(dir, 'state/status.jsonl'), 'utf8');
    expect(statuses).toContain('"collector":"abuseipdb","plugin":"@reactive-fabric/plugin-ti-abuseipdb","state":"degraded"');
    expect(statuses).not.toContain(wrongKey);
  }, 60_000);
});
