import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { composeFabric } from '../../src/compose/index.js';
import { repoRoot, silentLogger, tempDir, until, writePlugin } from '../helpers.js';
import { isDetection } from '../../src/events/ecs.js';

/**
 * A third-party enricher is owned by its collector: its create() and start() run under the
 * collector's deadline and supervision, so one that throws or hangs costs its own verdicts, never
 * the start of the pipeline or the collection of events.
 */

const enricher = (create: string, start: string) => `
  configSchema: { type: 'object', properties: {} },
  async create() {
    ${create}
    return {
      supports: ['ipv4'],
      async start() { ${start} },
      async lookup(indicators) { return indicators.map((indicator) => ({ indicator, status: 'malicious', score: 0.9, confidence: 0.9 })); },
    };
  },`;

const cases = [
  { name: 'start() throws', body: enricher('', `throw new Error('cannot reach the intel API');`), code: 'PLUGIN_CRASHED', message: /cannot reach the intel API/ },
  { name: 'start() never resolves', body: enricher('', 'await new Promise(() => {});'), code: 'TIMEOUT', message: /start\(\) did not finish/ },
  { name: 'create() throws', body: enricher(`throw new Error('bad key file');`, ''), code: 'PLUGIN_CRASHED', message: /bad key file/ },
];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('an enricher that cannot start', () => {
  for (const c of cases) {
    it(`${c.name}: the sources start and deliver, the enricher's collector fails on its own with ${c.code}`, async () => {
      const dir = tempDir('fabric-enricher-sup-');
      dirs.push(dir);
      writePlugin(dir, 'plugin-intel', { kind: 'enricher', body: c.body });
      writeFileSync(
        join(dir, 'auth.log'),
        Array.from(
          { length: 20 },
          (_, i) => `Dec 10 06:55:${String(i).padStart(2, '0')} web-01 sshd[${100 + i}]: Failed password for root from 45.33.10.${i} port ${40000 + i} ssh2`,
        ).join('\n') + '\n',
      );
      const yaml = `state_dir: ./state
orchestrator: { collection_interval_seconds: 0.1, health_check_interval_seconds: 60, poll_timeout_seconds: 3 }
supervisor: { backoff_min_seconds: 0.05, backoff_max_seconds: 0.1, restart_intensity: 1, restart_period_seconds: 60 }
enrichment: { deadline_ms: 500 }
collectors:
  - id: auth
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [auth.log], format: syslog, syslog_year: 2025 }
enrichers:
  - id: intel
    plugin: plugin-intel
`;
      writeFileSync(join(dir, 'fabric.yaml'), yaml);
      const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: repoRoot, logger: silentLogger(), env: process.env });
      await orch.start();
      try {
        await until(() => orch.getCollector('intel')?.state === 'failed', 20_000);
        const intel = orch.getCollector('intel')!;
        expect(intel.lastError?.code).toBe(c.code);
        expect(intel.lastError?.message).toMatch(c.message);
        expect(orch.transitions('intel')!.map((t) => t.to)).toContain('restarting');
        // The failed logins were still detected and published, saying the enricher did not answer.
        await until(() => orch.getCollector('auth')!.metrics.eventsPublished >= 1, 20_000);
        expect(orch.getCollector('auth')!.state).toBe('running');
      } finally {
        await orch.stop();
      }
      const published = readFileSync(join(dir, 'state', 'events.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event?: { kind?: string } });
      expect(published.some((e) => isDetection(e))).toBe(true);
    }, 60_000);
  }
});

describe('an enricher in its worker', () => {
  const yaml = (unresponsiveSeconds = 10) => `state_dir: ./state
orchestrator: { collection_interval_seconds: 0.1, health_check_interval_seconds: 60, unresponsive_after_seconds: ${unresponsiveSeconds} }
supervisor: { backoff_min_seconds: 0.05, backoff_max_seconds: 0.1, restart_intensity: 1, restart_period_seconds: 60 }
enrichment: { deadline_ms: 500, lookup_documentation_ranges: true }
collectors:
  - id: auth
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [auth.log], format: syslog, syslog_year: 2025 }
enrichers:
  - id: intel
    plugin: plugin-intel
`;
  const logLines =
    Array.from(
      { length: 20 },
      (_, i) => `Dec 10 06:55:${String(i).padStart(2, '0')} web-01 sshd[${100 + i}]: Failed password for root from 45.33.10.${i} port ${40000 + i} ssh2`,
    ).join('\n') + '\n';

  it('looks indicators up in its own thread (evidence says which), and its verdicts reach the events', async () => {
    const dir = tempDir('fabric-enricher-worker-');
    dirs.push(dir);
    writePlugin(dir, 'plugin-intel', {
      kind: 'enricher',
      body: `
  configSchema: { type: 'object', properties: {} },
  async create() {
    const { threadId } = await import('node:worker_threads');
    return {
      supports: ['ipv4'],
      limits: { requestsPerMinute: 600, maxBatchSize: 10 },
      async lookup(indicators) { return indicators.map((indicator) => ({ indicator, status: 'malicious', score: 0.9, confidence: 0.9, evidence: { thread: threadId } })); },
    };
  },`,
    });
    writeFileSync(join(dir, 'auth.log'), '');
    writeFileSync(join(dir, 'fabric.yaml'), yaml());
    const orch = await composeFabric(parseConfig(yaml(), join(dir, 'fabric.yaml'), process.env), { cwd: repoRoot, logger: silentLogger(), env: process.env });
    await orch.start();
    const events = join(dir, 'state', 'events.jsonl');
    try {
      // The lines arrive once the enricher is started, so every detection can be looked up.
      await until(() => orch.getCollector('intel')?.state === 'running', 20_000);
      expect(orch.getCollector('intel')!.resources).toMatchObject({ isolation: 'worker' });
      appendFileSync(join(dir, 'auth.log'), logLines);
      await until(() => existsSync(events) && readFileSync(events, 'utf8').includes('"thread":'), 20_000);
    } finally {
      await orch.stop();
    }
    const text = readFileSync(events, 'utf8');
    const threads = [...text.matchAll(/"thread":(\d+)/g)].map((m) => Number(m[1]));
    expect(threads.length).toBeGreaterThan(0);
    // Thread 0 is the main thread: the lookups ran elsewhere.
    expect(threads.every((t) => t > 0)).toBe(true);
  }, 60_000);

  it('a lookup stuck in a synchronous loop ends its worker (UNRESPONSIVE); events are still published, saying it did not answer', async () => {
    const dir = tempDir('fabric-enricher-worker-');
    dirs.push(dir);
    writePlugin(dir, 'plugin-intel', { kind: 'enricher', body: enricher('', '').replace('async lookup(indicators) {', 'async lookup(indicators) { for (;;) {}') });
    writeFileSync(join(dir, 'auth.log'), logLines);
    writeFileSync(join(dir, 'fabric.yaml'), yaml(2));
    const orch = await composeFabric(parseConfig(yaml(2), join(dir, 'fabric.yaml'), process.env), { cwd: repoRoot, logger: silentLogger(), env: process.env });
    await orch.start();
    try {
      await until(() => orch.getCollector('intel')?.lastError?.code === 'UNRESPONSIVE', 20_000);
      await until(() => orch.getCollector('auth')!.metrics.eventsPublished >= 20, 20_000);
      expect(orch.getCollector('auth')!.state).toBe('running');
      expect(orch.transitions('intel')!.map((t) => t.to)).toContain('restarting');
    } finally {
      await orch.stop();
    }
    const published = readFileSync(join(dir, 'state', 'events.jsonl'), 'utf8');
    expect(published).toContain('sources_unanswered');
  }, 60_000);
});
