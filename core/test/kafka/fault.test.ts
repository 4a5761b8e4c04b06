import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import type { SinkHealth } from '../../src/sinks/sink.js';
import { createKafkaSink, resolveKafkaSinkConfig } from '../../src/sinks/kafka/index.js';
import { brokerCommand, consumeAll, detection, repoRoot, runId, sinkContext } from './helpers.js';
import { seqsIn, syslogLine, topicCount } from './stream.js';

// Its own broker instance: stopping the shared one would break test files running alongside.
const NAME = 'fault';
const PORT = 29192;
const BOOTSTRAP = `127.0.0.1:${PORT}`;
const TOTAL = 60_000;
const BATCH = 500;
const RATE_PER_SECOND = 2_000;
const SINK_BOUND = 10_000;
/** Writes the caller keeps outstanding, like the pipeline's max_buffered_events: more than the sink holds. */
const CALLER_OUTSTANDING = 40;
const OUTAGE_MS = 20_000;

beforeAll(async () => {
  await brokerCommand('start', '--name', NAME, '--port', String(PORT), '--no-kcat');
}, 240_000);

afterAll(async () => {
  await brokerCommand('stop', '--name', NAME);
}, 60_000);

describe('Kafka broker outage in the middle of a stream', () => {
  it(`loses nothing when the broker stops for ${OUTAGE_MS / 1000}s during ${TOTAL} events, with memory bounded and health recovering`, async () => {
    const run = runId();
    const topic = `rf-fault-${run}.threat_detected`;
    const ctx = sinkContext();
    const sink = createKafkaSink(
      resolveKafkaSinkConfig({
        type: 'kafka',
        brokers: [BOOTSTRAP],
        topics: { detections: topic, status: `rf-fault-${run}.honeypot_status` },
        max_buffered_events: SINK_BOUND,
        retry: { initial_backoff_ms: 100, max_backoff_ms: 2000, down_after_seconds: 5 },
      }),
      ctx,
    );
    await sink.start();

    let produced = 0;
    let acknowledged = 0;
    const states = new Set<SinkHealth['state']>();
    let maxPending = 0;
    const heapBase = process.memoryUsage().heapUsed;
    let maxHeap = heapBase;
    const sampler = setInterval(() => {
      const h = sink.health();
      states.add(h.state);
      maxPending = Math.max(maxPending, h.pending);
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    }, 50);

    const timeline: Record<string, number> = {};
    const t0 = Date.now();
    const mark = (what: string) => (timeline[what] = (Date.now() - t0) / 1000);
    const outage = (async () => {
      while (acknowledged < 15_000) await new Promise((r) => setTimeout(r, 50));
      mark('broker_stop_requested');
      await brokerCommand('stop', '--name', NAME);
      mark('broker_stopped');
      const producedAtStop = produced;
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      timeline.produced_during_outage = produced - producedAtStop;
      mark('broker_start_requested');
      await brokerCommand('start', '--name', NAME, '--port', String(PORT), '--no-kcat');
      mark('broker_serving');
    })();

    const outstanding = new Set<Promise<void>>();
    while (produced < TOTAL) {
      while (outstanding.size >= CALLER_OUTSTANDING) await Promise.race(outstanding);
      const events: FabricEvent[] = [];
      for (let i = 0; i < BATCH && produced < TOTAL; i++) events.push(detection(run, produced++, { fingerprints: 1000 }));
      const p: Promise<void> = sink.write(events).then(() => {
        acknowledged += events.length;
        outstanding.delete(p);
      });
      outstanding.add(p);
      await new Promise((r) => setTimeout(r, (BATCH / RATE_PER_SECOND) * 1000));
    }
    await Promise.all(outstanding);
    mark('all_acknowledged');
    await outage;
    clearInterval(sampler);
    const healthAfter = sink.health();
    await sink.close(5000);

    const records = await consumeAll(BOOTSTRAP, topic, 120_000);
    const counts = new Map<string, number>();
    for (const r of records) {
      const id = (JSON.parse(r.value) as FabricEvent).event.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    let lost = 0;
    for (let i = 0; i < TOTAL; i++) if (!counts.has(`${run}-${i}`)) lost++;
    const duplicated = records.length - counts.size;
    const summary = {
      produced: TOTAL,
      received: records.length,
      unique: counts.size,
      lost,
      duplicated,
      max_pending_events: maxPending,
      max_buffered_events: SINK_BOUND,
      heap_growth_mb: Math.round((maxHeap - heapBase) / 1048576),
      health_states_seen: [...states],
      health_after: healthAfter.state,
      timeline_seconds: timeline,
    };
    console.log(`[kafka fault test] produced=${summary.produced} received=${summary.received} lost=${lost} duplicated=${duplicated} max_pending=${maxPending}/${SINK_BOUND} heap_growth=${summary.heap_growth_mb}MB states=${summary.health_states_seen.join(',')}`);
    console.log(`[kafka fault test] timeline (s): ${JSON.stringify(timeline)}`);
    mkdirSync(join(repoRoot, '.fabric-test'), { recursive: true });
    writeFileSync(join(repoRoot, '.fabric-test/kafka-fault-result.json'), JSON.stringify(summary, null, 2));

    expect(lost).toBe(0);
    expect(counts.size).toBe(TOTAL);
    // The outage really happened mid-stream: writes continued into it and the sink noticed.
    expect(timeline.produced_during_outage).toBeGreaterThan(0);
    expect(acknowledged).toBe(TOTAL);
    expect(states.has('degraded') || states.has('down')).toBe(true);
    expect(maxPending).toBeLessThanOrEqual(SINK_BOUND);
    // The caller could have queued 20,000; the sink held at most its bound and made the rest wait.
    expect(maxPending).toBeGreaterThan(SINK_BOUND / 2);
    expect(summary.heap_growth_mb).toBeLessThan(300);
    expect(healthAfter).toEqual({ state: 'ok', pending: 0 });
    expect(ctx.logs.text()).toContain('Kafka delivery resumed');
  }, 300_000);
});

describe('Kafka broker outage under the running orchestrator (fabric start)', () => {
  it('stops polling while the broker is away, keeps memory bounded, resumes by itself, loses nothing, and collectors stay running', async () => {
    const fabricBin = join(repoRoot, 'core/bin/fabric.js');
    if (!existsSync(join(repoRoot, 'core/dist/orchestrator.js'))) throw new Error('core/dist is missing: build first (npx tsc -b); the CLI runs from dist/');
    const work = mkdtempSync(join(tmpdir(), 'rf-kafka-outage-'));
    const run = runId();
    const topic = `rf-outage-${run}.threat_detected`;
    const LINES = 50_000;
    const BOUND = 5_000;
    const token = `outage-test-token-${run}`;
    writeFileSync(join(work, 'auth.log'), '');
    const cfg = join(work, 'fabric.yaml');
    writeFileSync(
      cfg,
      `state_dir: ./state
log_level: warn
orchestrator:
  collection_interval_seconds: 0.2
  event_batch_size: 500
pipeline:
  publish: all
admin:
  enabled: true
  port: 0
  metrics_public: true
collectors:
  - id: honeypot-auth
    plugin: "@reactive-fabric/plugin-log-file"
    config: { base_dir: ., paths: [auth.log], format: syslog }
sink:
  type: kafka
  brokers: ["${BOOTSTRAP}"]
  topics: { detections: ${topic}, status: rf-outage-${run}.honeypot_status }
  max_buffered_events: ${BOUND}
  retry: { max_backoff_ms: 2000, down_after_seconds: 5 }
`,
    );
    const stderr: string[] = [];
    const fabric: ChildProcess = spawn(process.execPath, [fabricBin, 'start', '-c', cfg], { cwd: repoRoot, env: { ...process.env, FABRIC_ADMIN_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] });
    fabric.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    const exited = new Promise<number | string | null>((r) => fabric.once('exit', (code, sig) => r(code ?? sig)));
    try {
      const urlFile = join(work, 'state/admin-url');
      for (let i = 0; i < 300 && !existsSync(urlFile); i++) await new Promise((r) => setTimeout(r, 100));
      if (!existsSync(urlFile)) throw new Error(`fabric start did not come up:\n${stderr.join('')}`);
      const admin = readFileSync(urlFile, 'utf8').trim();
      const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);

      let written = 0;
      const writer = (async () => {
        while (written < LINES) {
          let chunk = '';
          for (let i = 0; i < 200 && written < LINES; i++) chunk += syslogLine(written++);
          appendFileSync(join(work, 'auth.log'), chunk);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      const samples: Array<{ t: number; pending: number; health: number; rss: number; collected: number }> = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const text = await fetch(`${admin}/metrics`).then((r) => r.text()).catch(() => '');
          if (text) {
            samples.push({
              t: Date.now(),
              pending: metric(text, 'fabric_kafka_sink_pending_events'),
              health: metric(text, 'fabric_kafka_sink_health'),
              rss: Number(/^\w*process_resident_memory_bytes ([0-9.e+]+)$/m.exec(text)?.[1] ?? NaN),
              collected: [...text.matchAll(/^fabric_events_collected_total\{[^}]*\} ([0-9.e+]+)$/gm)].reduce((n, m) => n + Number(m[1]), 0),
            });
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      })();

      while ((await topicCount(BOOTSTRAP, topic)) < 10_000) await new Promise((r) => setTimeout(r, 200));
      await brokerCommand('stop', '--name', NAME);
      const downAt = Date.now();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      const upRequestedAt = Date.now();
      await brokerCommand('start', '--name', NAME, '--port', String(PORT), '--no-kcat');
      await writer;

      let records = await consumeAll(BOOTSTRAP, topic, 120_000);
      const until = Date.now() + 120_000;
      while (seqsIn(records).size < LINES && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 1000));
        records = await consumeAll(BOOTSTRAP, topic, 120_000);
      }
      await new Promise((r) => setTimeout(r, 500));
      sampling = false;
      await sampler;
      const collectors = (await fetch(`${admin}/collectors`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json())) as { collectors: Array<{ id: string; state: string }> };

      const counts = seqsIn(records);
      let lost = 0;
      for (let s = 0; s < LINES; s++) if (!counts.has(s)) lost++;
      // Correlation alerts are published too (publish: all) but are not lines: count line records only.
      const lineRecords = [...counts.values()].reduce((n, c) => n + c, 0);
      const duplicated = lineRecords - counts.size;
      const during = samples.filter((x) => x.t > downAt + 5000 && x.t < upRequestedAt);
      const maxPending = Math.max(...samples.map((x) => x.pending).filter(Number.isFinite));
      const maxRssMb = Math.round(Math.max(...samples.map((x) => x.rss).filter(Number.isFinite)) / 1048576);
      // Sources stop polling once the sink's buffer is full: collection stalls during the outage.
      const collectedDuring = during.length > 1 ? during[during.length - 1]!.collected - during[0]!.collected : NaN;
      console.log(
        `[kafka outage via fabric start] produced=${LINES} received=${lineRecords} (+${records.length - lineRecords} correlation alerts) lost=${lost} duplicated=${duplicated} ` +
          `max_pending=${maxPending}/${BOUND} max_rss=${maxRssMb}MB collected_while_down=${collectedDuring} health_during=${[...new Set(during.map((x) => x.health))].join(',')} collectors_after=${collectors.collectors.map((c) => `${c.id}:${c.state}`).join(',')}`,
      );

      expect(lost).toBe(0);
      expect(maxPending).toBeLessThanOrEqual(BOUND);
      expect(maxRssMb).toBeLessThan(2048);
      expect(during.length).toBeGreaterThan(5);
      expect(during.every((x) => x.health >= 1)).toBe(true);
      expect(collectedDuring).toBeLessThanOrEqual(BOUND);
      expect(samples[samples.length - 1]!.health).toBe(0);
      expect(collectors.collectors.find((c) => c.id === 'honeypot-auth')?.state).toBe('running');
    } finally {
      fabric.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
      if (code === 'timeout') fabric.kill('SIGKILL');
      rmSync(work, { recursive: true, force: true });
    }
  }, 400_000);
});
