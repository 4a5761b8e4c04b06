// Enrichment state shared by a cluster (docs/cluster.md, "Enrichment across instances"): three
// `fabric start` instances on a real broker against the VirusTotal fake (public API: 4 requests a
// minute, 500 a day). The quota is the vendor's, so the cluster as a whole must stay within it;
// an answer one instance received serves the others, and a false positive marked through one
// instance's API holds on every instance.
import { VirusTotalFake, VT_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runId } from '../kafka/helpers.js';
import { type Instance, type SshSetup, startCluster, TopicEvents, until, useClusterHarness, writeSshSetup } from './harness.js';

useClusterHarness(['core/dist/cluster/index.js', 'plugins/log-file/dist/index.js', 'plugins/ti-virustotal/dist/index.js']);

const INSTANCES = ['node-a', 'node-b', 'node-c'] as const;
const MINUTE = 60_000;

/** Most requests in any window of `ms`. */
function maxInWindow(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('enrichment across three instances (real broker, VirusTotal fake at 4/min, 500/day)', () => {
  const vt = new VirusTotalFake();
  let setup: SshSetup;
  let instances: Instance[] = [];
  const topic = new TopicEvents();
  const lookupsOf = (ip: string) => vt.requests.filter((r) => r.path.endsWith(`/ip_addresses/${ip}`)).length;
  /** Published detections read by `collector` that name `ip`. */
  const detectionsOf = (collector: string, ip: string) => topic.events.filter((e) => e?.fabric?.collector === collector && e.source?.ip === ip);

  beforeAll(async () => {
    await vt.start();
    setup = writeSshSetup(
      runId(),
      INSTANCES,
      `correlation: { enabled: false }
enrichment:
  # The addresses below are documentation ranges, which the stage never looks up by default.
  lookup_documentation_ranges: true
  deadline_ms: 300
enrichers:
  - id: virustotal
    plugin: "@reactive-fabric/plugin-ti-virustotal"
    config: { api_key: "${VT_FAKE_API_KEY}", base_url: "${vt.url}", requests_per_minute: 4, requests_per_day: 500 }
`,
    );
    instances = await startCluster(INSTANCES, setup.config);
    await topic.start(setup.topic);
  }, 150_000);

  afterAll(async () => {
    await topic.stop();
    await vt.stop();
  });

  it('an answer one instance received serves the others: one lookup per indicator, not one per instance', async () => {
    const ip = '198.51.100.77';
    setup.fail('node-a', ip, 1);
    await until(
      `node-a's lookup of ${ip}`,
      () => lookupsOf(ip),
      (n) => n >= 1,
      60_000,
    );
    // The answer reaches the others through the verdicts topic within a moment.
    await new Promise((r) => setTimeout(r, 2000));
    setup.fail('node-b', ip, 1);
    setup.fail('node-c', ip, 1);
    for (const c of ['ssh-b', 'ssh-c'])
      await until(
        `${c}'s detection of ${ip} answered by virustotal`,
        () => detectionsOf(c, ip),
        (es) => es.some((e) => e.fabric?.reputation?.sources_answered?.includes('virustotal')),
        30_000,
      );
    expect(lookupsOf(ip)).toBe(1);
  }, 120_000);

  it('a false positive marked through node-a holds on node-c within seconds', async () => {
    const ip = '198.51.100.99';
    await instances[0]!.api('/false-positives', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ indicator: { type: 'ipv4', value: ip }, reason: 'our own scanner' }),
    });
    const listed = await until(
      'node-c lists the false positive',
      () => instances[2]!.api<{ falsePositives: Array<{ indicator: { value: string } }> }>('/false-positives'),
      (r) => r.falsePositives.some((f) => f.indicator.value === ip),
      10_000,
    );
    expect(listed.falsePositives.some((f) => f.indicator.value === ip)).toBe(true);
    setup.fail('node-c', ip, 1);
    const [e] = await until(
      `node-c's detection of ${ip}`,
      () => detectionsOf('ssh-c', ip),
      (es) => es.length > 0,
      30_000,
    );
    expect(JSON.stringify(e)).toContain('false_positive');
    expect(lookupsOf(ip)).toBe(0);
  }, 60_000);

  it('three instances together never send more than 4 requests in any 60 s', async () => {
    const started = Date.now();
    const before = vt.requests.length;
    // Fresh addresses on every instance, faster than the quota allows: each instance alone would spend 4 a minute.
    let k = 0;
    while (Date.now() - started < 75_000) {
      for (const id of INSTANCES) {
        setup.fail(id, `198.51.${110 + (k % 100)}.${1 + Math.floor(k / 100)}`, 1);
        k++;
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
    await new Promise((r) => setTimeout(r, 5000));
    const times = vt.requests.map((r) => r.at);
    const during = vt.requests.slice(before);
    // The cluster did spend its budget (a cluster that looked nothing up would pass the bound).
    expect(during.length).toBeGreaterThanOrEqual(4);
    expect(
      maxInWindow(times, MINUTE),
      `request times: ${vt.requests.map((r) => `${r.path.split('/').pop()}@${new Date(r.at).toISOString().slice(14, 23)}`).join(' ')}`,
    ).toBeLessThanOrEqual(4);
    expect(during.every((r) => r.path.includes('/ip_addresses/'))).toBe(true);
  }, 120_000);
});
