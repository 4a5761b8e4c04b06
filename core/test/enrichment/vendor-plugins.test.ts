import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY, MispFake, MISP_FAKE_API_KEY, OtxFake, OTX_FAKE_API_KEY, VirusTotalFake, VT_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import type { EnricherInstance, PluginDefinition, TSchema } from '../../src/plugin-api/index.js';
import { validateAgainstSchema } from '../../src/config/validate.js';
import { createEnrichmentStage, resolveEnrichmentConfig } from '../../src/enrichment/index.js';
import type { EnrichmentStage, SourceHealth } from '../../src/enrichment/index.js';
// Relative to their sources so the test needs no build; core/src itself never imports a plugin.
import virustotal from '../../../plugins/ti-virustotal/src/index.js';
import abuseipdb from '../../../plugins/ti-abuseipdb/src/index.js';
import otx from '../../../plugins/ti-otx/src/index.js';
import misp from '../../../plugins/ti-misp/src/index.js';
import { detection, reputation, silentLogger, tempStateDir } from './helpers.js';

const vt = new VirusTotalFake();
const abuse = new AbuseIpdbFake();
const alienvault = new OtxFake();
const mispFake = new MispFake();

beforeAll(async () => {
  await Promise.all([vt.start(), abuse.start(), alienvault.start(), mispFake.start()]);
});
const tiDirs: string[] = [];
afterAll(async () => {
  await Promise.all([vt.stop(), abuse.stop(), alienvault.stop(), mispFake.stop()]);
  for (const d of tiDirs) rmSync(d, { recursive: true, force: true });
});

async function instance(plugin: PluginDefinition<TSchema, 'enricher'>, raw: Record<string, unknown>): Promise<{ instance: EnricherInstance; config: Record<string, unknown> }> {
  const { value, errors } = validateAgainstSchema(plugin.configSchema, raw);
  if (errors.length > 0) throw new Error(JSON.stringify(errors));
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'fabric-ti-'));
  tiDirs.push(stateDir);
  const inst = (await plugin.create(value as never, { collectorId: 'x', logger: silentLogger, stateDir, signal: new AbortController().signal })) as EnricherInstance;
  await inst.start?.();
  return { instance: inst, config: value as Record<string, unknown> };
}

describe('enrichment with the four vendor plugins against their fakes', () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  let stage: EnrichmentStage | undefined;
  const health: Array<{ id: string } & SourceHealth> = [];
  beforeEach(async () => {
    state = await tempStateDir();
    health.length = 0;
    for (const f of [vt, abuse, alienvault, mispFake]) {
      f.requests.length = 0;
      f.resetQuota();
    }
  });
  afterEach(async () => {
    await stage?.stop();
    stage = undefined;
    await state.cleanup();
  });

  async function build(vtKey = VT_FAKE_API_KEY): Promise<EnrichmentStage> {
    const bindings = [
      { id: 'virustotal', plugin: '@reactive-fabric/plugin-ti-virustotal', ...(await instance(virustotal as never, { api_key: vtKey, base_url: vt.url })) },
      { id: 'abuseipdb', plugin: '@reactive-fabric/plugin-ti-abuseipdb', ...(await instance(abuseipdb as never, { api_key: ABUSEIPDB_FAKE_API_KEY, base_url: abuse.url })) },
      { id: 'otx', plugin: '@reactive-fabric/plugin-ti-otx', ...(await instance(otx as never, { api_key: OTX_FAKE_API_KEY, base_url: alienvault.url })) },
      { id: 'misp', plugin: '@reactive-fabric/plugin-ti-misp', ...(await instance(misp as never, { api_key: MISP_FAKE_API_KEY, base_url: mispFake.url })) },
    ];
    stage = await createEnrichmentStage(resolveEnrichmentConfig({ lookup_documentation_ranges: true, deadline_ms: 5000 }), bindings, {
      logger: silentLogger,
      metrics: new Registry(),
      stateDir: state.dir,
      configDir: state.dir,
      onSourceHealth: (id, h) => health.push({ id, ...h }),
    });
    return stage;
  }

  it("one detection gets every source's evidence and one verdict", async () => {
    const s = await build();
    const e = detection({ source: { ip: '198.51.100.66' }, dns: { question: { name: 'malware.example.test' } } }, 'medium');
    await s.process([e]);
    const rep = reputation(e);
    expect(rep.sources_answered).toEqual(['abuseipdb', 'misp', 'otx', 'virustotal']);
    expect(rep.sources_unanswered).toEqual([]);
    expect(rep.verdict).toBe('malicious');
    expect(rep.score).toBeGreaterThanOrEqual(0.7);
    const providers = (e.threat as { enrichments: Array<{ indicator: { provider: string; type: string } }> }).enrichments.map((x) => `${x.indicator.provider}:${x.indicator.type}`);
    expect(providers).toEqual(
      expect.arrayContaining(['abuseipdb:ipv4-addr', 'misp:ipv4-addr', 'otx:ipv4-addr', 'virustotal:ipv4-addr', 'virustotal:domain-name', 'otx:domain-name', 'misp:domain-name']),
    );
    expect(providers).not.toContain('abuseipdb:domain-name');
    expect(e.fabric.priority).not.toBe('medium');
    for (const id of ['abuseipdb', 'misp', 'otx', 'virustotal']) expect(rep.explanation).toContain(id);
  });

  it("a burst keeps to VirusTotal's 4/min: the fake never answers 429 and the other sources answer everything", async () => {
    const s = await build();
    const ips = ['198.51.100.66', '203.0.113.7', '198.51.100.23', '198.51.100.7', '203.0.113.50', '192.0.2.10', '198.51.100.67', '2001:db8::bad'];
    const events = ips.map((ip) => detection({ source: { ip } }));
    await s.process(events);
    expect(vt.requests.length).toBe(4);
    expect(vt.requests.every((r) => r.status === 200)).toBe(true);
    expect(
      events.filter((ev) => reputation(ev).sources_unanswered.some((u: { source: string; reason: string }) => u.source === 'virustotal' && u.reason === 'DEADLINE')),
    ).toHaveLength(4);
    for (const ev of events) expect(reputation(ev).sources_answered).toEqual(expect.arrayContaining(['abuseipdb', 'misp', 'otx']));
  });

  it("a refused VirusTotal key degrades that source only, and a new key is not served the old key's answers", async () => {
    let s = await build();
    const first = detection({ source: { ip: '203.0.113.7' } });
    await s.process([first]);
    expect(reputation(first).sources_answered).toContain('virustotal');
    await s.stop();
    stage = undefined;

    s = await build('wrong-key-000000000000000000000000000000000000000000000000000000000');
    const before = vt.requests.length;
    const e = detection({ source: { ip: '203.0.113.7' } });
    await s.process([e]);
    expect(vt.requests.length).toBe(before + 1);
    expect(reputation(e).sources_unanswered).toEqual([{ source: 'virustotal', reason: 'AUTH_FAILED', indicators: 1 }]);
    expect(reputation(e).sources_answered).toEqual(['abuseipdb', 'misp', 'otx']);
    expect(health).toContainEqual(expect.objectContaining({ id: 'virustotal', status: 'degraded', code: 'AUTH_FAILED' }));
    expect(JSON.stringify(e)).not.toContain('wrong-key-0000');
  });
});
