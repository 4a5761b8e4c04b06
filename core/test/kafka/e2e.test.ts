import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, pollUntil, repoRoot, runId, schemaErrors, eventSchema, sharedBroker, statusSchema } from './helpers.js';
import { honeypotLog, seqsIn, syslogLine, topicCount as countIn } from './stream.js';

// Through the whole product: `fabric` CLI (dist/), log-file source plugin, pipeline, Kafka sink.
const fabricBin = join(repoRoot, 'core/bin/fabric.js');

let bootstrap: string;
let work: string;
beforeAll(async () => {
  bootstrap = await sharedBroker();
  for (const dist of ['core/dist/orchestrator.js', 'core/dist/sinks/kafka/index.js', 'plugins/log-file/dist/index.js']) {
    if (!existsSync(join(repoRoot, dist))) throw new Error(`${dist} is missing: build first (npx tsc -b); the CLI runs from dist/`);
  }
  work = mkdtempSync(join(tmpdir(), 'rf-kafka-e2e-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Config with the sink section swapped: everything else is byte-for-byte the same. */
function writeConfig(dir: string, name: string, sink: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `state_dir: ./state-${name}
log_level: warn
orchestrator:
  collection_interval_seconds: 0.2
  event_batch_size: 500
pipeline:
  publish: all
collectors:
  - id: honeypot-auth
    plugin: "@reactive-fabric/plugin-log-file"
    config:
      base_dir: .
      paths: [auth-${name}.log]
      format: syslog
${sink}`,
  );
  return file;
}

function kafkaSink(run: string): string {
  return `sink:
  type: kafka
  brokers: ["\${RF_TEST_KAFKA_BROKERS}"]
  topics:
    detections: rf-e2e-${run}.threat_detected
    status: rf-e2e-${run}.honeypot_status
  max_buffered_events: 5000
`;
}

const childEnv = () => ({ ...process.env, RF_TEST_KAFKA_BROKERS: bootstrap });

describe('fabric CLI publishing to Kafka', () => {
  it('runs the same config on the JSON-lines sink and on Kafka by changing only the sink section', async () => {
    const run = runId();
    const lines = Array.from({ length: 2000 }, (_, i) => syslogLine(i)).join('');
    writeFileSync(join(work, 'auth-jsonl.log'), lines);
    writeFileSync(join(work, 'auth-kafka.log'), lines);
    const jsonlCfg = writeConfig(work, 'jsonl', 'sink:\n  type: jsonl\n');
    const kafkaCfg = writeConfig(work, 'kafka', kafkaSink(run));
    expect(readFileSync(jsonlCfg, 'utf8').split('sink:')[0]!.replace(/jsonl/g, 'X')).toBe(readFileSync(kafkaCfg, 'utf8').split('sink:')[0]!.replace(/kafka/g, 'X'));

    const a = spawnSync(process.execPath, [fabricBin, 'run', '--once', '-c', jsonlCfg], { cwd: repoRoot, env: childEnv(), encoding: 'utf8', timeout: 120_000 });
    expect(a.status, a.stderr).toBe(0);
    const b = spawnSync(process.execPath, [fabricBin, 'run', '--once', '-c', kafkaCfg], { cwd: repoRoot, env: childEnv(), encoding: 'utf8', timeout: 120_000 });
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toContain('to kafka');

    const jsonl = readFileSync(join(work, 'state-jsonl/events.jsonl'), 'utf8').trim().split('\n');
    const records = await consumeAll(bootstrap, `rf-e2e-${run}.threat_detected`);
    // Every line once on both sinks, plus whatever the correlation stage raised, the same on both.
    expect(seqsIn(jsonl.map((value) => ({ value }))).size).toBe(2000);
    expect(seqsIn(records).size).toBe(2000);
    const kinds = (values: string[]) =>
      values
        .map((v) => String((JSON.parse(v) as { event: { kind?: string } }).event.kind))
        .sort()
        .join(',');
    expect(records).toHaveLength(jsonl.length);
    expect(kinds(records.map((r) => r.value))).toBe(kinds(jsonl));
    for (const r of records.slice(0, 50)) {
      expect(schemaErrors(eventSchema, JSON.parse(r.value))).toEqual([]);
      expect(r.key).toBe(JSON.parse(r.value).fabric.fingerprint);
      expect(r.headers['fabric-collector']).toBe('honeypot-auth');
    }
  }, 180_000);

  it('loses nothing when the orchestrator is killed with SIGKILL mid-stream and restarted', async () => {
    const run = runId();
    const TOTAL = 40_000;
    const log = join(work, 'auth-crash.log');
    writeFileSync(log, '');
    const cfg = writeConfig(work, 'crash', kafkaSink(run));
    const topic = `rf-e2e-${run}.threat_detected`;
    const stderr: string[] = [];
    const startFabric = (): ChildProcess => {
      const child = spawn(process.execPath, [fabricBin, 'start', '-c', cfg], { cwd: repoRoot, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
      return child;
    };
    const exited = (c: ChildProcess) =>
      new Promise<number | string | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode ?? c.signalCode) : c.once('exit', (code, sig) => r(code ?? sig))));

    // The honeypot keeps logging throughout: 40,000 lines over ~8 s.
    const honeypot = honeypotLog(log, TOTAL, 500, 100);

    let fabric = startFabric();
    await pollUntil(
      () => countIn(bootstrap, topic),
      (n) => n >= 8_000,
      { what: '8,000 records in the topic before the kill', timeoutMs: 60_000 },
    );
    const beforeKill = await countIn(bootstrap, topic);
    fabric.kill('SIGKILL');
    expect(await exited(fabric)).toBe('SIGKILL');
    const writtenAtKill = honeypot.written;

    // Restart once the honeypot has logged more while fabric was down, so the new process starts behind.
    await honeypot.grown();
    fabric = startFabric();
    await honeypot.finished;
    // Wait until every line is in the topic (or give up after 90 s and report what is missing).
    const records = await pollUntil(
      () => consumeAll(bootstrap, topic),
      (r) => seqsIn(r).size >= TOTAL,
      {
        what: 'every line in the topic',
        timeoutMs: 90_000,
        everyMs: 1000,
        onTimeout: 'return-last',
      },
    );
    fabric.kill('SIGTERM');
    expect(await exited(fabric), stderr.join('')).toBe(0);

    const counts = seqsIn(records);
    let lost = 0;
    for (let s = 0; s < TOTAL; s++) if (!counts.has(s)) lost++;
    // Correlation alerts are published too (publish: all) but are not lines: count line records only.
    const lineRecords = [...counts.values()].reduce((n, c) => n + c, 0);
    const duplicated = lineRecords - counts.size;
    console.log(
      `[kafka crash test] produced=${TOTAL} received=${lineRecords} (+${records.length - lineRecords} correlation alerts) lost=${lost} duplicated=${duplicated} (records in topic before SIGKILL: ${beforeKill}; lines written before SIGKILL: ${writtenAtKill})`,
    );

    // The kill really landed mid-stream: the topic had some but not all of the lines.
    expect(beforeKill).toBeGreaterThan(0);
    expect(beforeKill).toBeLessThan(TOTAL);
    expect(lost).toBe(0);
    const status = await consumeAll(bootstrap, `rf-e2e-${run}.honeypot_status`);
    const states = status.map((r) => JSON.parse(r.value) as Record<string, unknown>);
    for (const s of states) expect(schemaErrors(statusSchema, s)).toEqual([]);
    expect(states.filter((s) => s.collector === 'honeypot-auth' && s.state === 'running').length).toBeGreaterThan(0);
  }, 240_000);
});
