import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync as mkdtemp, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint, PollResult, SourceInstance } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { hostConfig } from './config.js';
import { parseSyslog } from '../src/syslog.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function mkdtempSync(prefix: string): string {
  const d = mkdtemp(prefix);
  dirs.push(d);
  return d;
}

const ctx = (dir: string) => ({ collectorId: 't', logger: console, stateDir: dir, signal: new AbortController().signal, configDir: dir });

async function instance(dir: string, config: Record<string, unknown>): Promise<SourceInstance> {
  return (await plugin.create(hostConfig(config), ctx(dir))) as SourceInstance;
}

async function drain(src: SourceInstance, checkpoint: Checkpoint | undefined, maxEvents = 1000): Promise<{ messages: string[]; checkpoint: Checkpoint; results: PollResult[] }> {
  const messages: string[] = [];
  const results: PollResult[] = [];
  let cp = checkpoint;
  for (let i = 0; i < 100; i++) {
    const r = await src.poll({ checkpoint: cp, signal: new AbortController().signal, maxEvents });
    results.push(r);
    messages.push(...r.events.map((e) => String(e.message)));
    cp = r.checkpoint;
    if (!r.hasMore) break;
  }
  return { messages, checkpoint: cp as Checkpoint, results };
}

const line = (i: number) => `Dec 10 06:55:${String(i % 60).padStart(2, '0')} LabSZ sshd[${24200 + i}]: Failed password for root from 10.0.0.${i % 250} port 22 ssh2`;

describe('log-file source', () => {
  it('parses BSD syslog lines into ECS fields and keeps the original', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    writeFileSync(join(dir, 'auth.log'), `${line(1)}\n`);
    const src = await instance(dir, { paths: ['auth.log'], syslog_year: 2025, syslog_timezone: 'UTC' });
    const r = await src.poll({ checkpoint: undefined, signal: new AbortController().signal, maxEvents: 10 });
    expect(r.events[0]).toMatchObject({
      '@timestamp': '2025-12-10T06:55:01.000Z',
      message: 'Failed password for root from 10.0.0.1 port 22 ssh2',
      host: { name: 'LabSZ' },
      process: { name: 'sshd', pid: 24201 },
      event: { original: line(1) },
      log: { file: { path: join(dir, 'auth.log') }, offset: 0 },
    });
  });

  it('reads in batches, then only what was appended, and never a half-written line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    const file = join(dir, 'auth.log');
    writeFileSync(file, Array.from({ length: 250 }, (_, i) => line(i)).join('\n') + '\n');
    const src = await instance(dir, { paths: ['auth.log'] });
    const first = await drain(src, undefined, 100);
    expect(first.results.map((r) => r.events.length)).toEqual([100, 100, 50]);
    appendFileSync(file, `${line(250)}\n${line(251).slice(0, 20)}`);
    const second = await drain(src, first.checkpoint);
    expect(second.messages).toHaveLength(1);
    appendFileSync(file, `${line(251).slice(20)}\n`);
    const third = await drain(src, second.checkpoint);
    expect(third.messages).toEqual([parseSyslog(line(251))!.message]);
  });

  it('follows rotation: finishes the rotated file, then reads the new one from the start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    const file = join(dir, 'auth.log');
    writeFileSync(file, `${line(1)}\n${line(2)}\n`);
    const src = await instance(dir, { paths: ['auth.log'] });
    const a = await drain(src, undefined);
    appendFileSync(file, `${line(3)}\n`); // written just before rotation, not yet read
    renameSync(file, `${file}.1`);
    writeFileSync(file, `${line(4)}\n`);
    const b = await drain(src, a.checkpoint);
    expect(b.messages.map((m) => m.match(/10\.0\.0\.(\d+)/)![1])).toEqual(['3', '4']);
  });

  it('restarts from a copytruncate at the beginning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    const file = join(dir, 'auth.log');
    writeFileSync(file, `${line(1)}\n${line(2)}\n`);
    const src = await instance(dir, { paths: ['auth.log'] });
    const a = await drain(src, undefined);
    truncateSync(file, 0);
    appendFileSync(file, `${line(9)}\n`);
    expect((await drain(src, a.checkpoint)).messages).toHaveLength(1);
  });

  it('a new instance resumes from the checkpoint (restart) without repeating or missing lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    const file = join(dir, 'auth.log');
    writeFileSync(file, Array.from({ length: 30 }, (_, i) => line(i)).join('\n') + '\n');
    const first = await drain(await instance(dir, { paths: ['auth.log'] }), undefined, 7);
    appendFileSync(file, Array.from({ length: 5 }, (_, i) => line(30 + i)).join('\n') + '\n');
    const saved = JSON.parse(JSON.stringify(first.checkpoint)) as Checkpoint;
    const second = await drain(await instance(dir, { paths: ['auth.log'] }), saved);
    expect(first.messages).toHaveLength(30);
    expect(second.messages).toHaveLength(5);
  });

  it('reads JSON lines, keeps their fields and timestamp', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    writeFileSync(join(dir, 'app.json'), `{"@timestamp":"2026-02-03T04:05:06Z","message":"login","user":{"name":"bob"}}\n{"time":1700000000,"msg":"x"}\n`);
    const r = await drain(await instance(dir, { paths: ['app.json'] }), undefined);
    const events = r.results[0]!.events;
    expect(events[0]).toMatchObject({ '@timestamp': '2026-02-03T04:05:06.000Z', message: 'login', user: { name: 'bob' } });
    expect(events[1]!['@timestamp']).toBe('2023-11-14T22:13:20.000Z');
  });

  it('cuts a runaway line at max_line_bytes, flags it, and goes on with the next line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    writeFileSync(join(dir, 'big.log'), `${'A'.repeat(3 * 1024 * 1024)}\nafter\n`);
    const r = await drain(await instance(dir, { paths: ['big.log'], max_line_bytes: 1024, format: 'plain' }), undefined);
    const events = r.results.flatMap((x) => x.events);
    expect(events).toHaveLength(2);
    expect(String(events[0]!.message)).toHaveLength(1024);
    expect(events[0]!.log).toMatchObject({ flags: ['truncated'] });
    expect(events[1]!.message).toBe('after');
  });

  it('expands * in file names and skips files that do not exist yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    writeFileSync(join(dir, 'a.log'), `${line(1)}\n`);
    writeFileSync(join(dir, 'b.log'), `${line(2)}\n`);
    const r = await drain(await instance(dir, { paths: ['*.log', 'missing.log'] }), undefined);
    expect(r.messages).toHaveLength(2);
  });
});

describe('web access logs', () => {
  it('takes the time, client and request from common/combined format lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-'));
    writeFileSync(join(dir, 'access.log'), '198.51.100.66 - - [27/Nov/2026:10:08:21 +0200] "GET /../../etc/passwd HTTP/1.1" 400 0 "-" "curl/8.0"\nnot an access line\n');
    const r = await drain(await instance(dir, { paths: ['access.log'], format: 'access' }), undefined);
    const [hit, other] = r.results[0]!.events;
    expect(hit).toMatchObject({
      '@timestamp': '2026-11-27T08:08:21.000Z',
      source: { ip: '198.51.100.66' },
      url: { original: '/../../etc/passwd' },
      http: { request: { method: 'GET' }, response: { status_code: 400, body: { bytes: 0 } } },
      user_agent: { original: 'curl/8.0' },
      event: { category: ['web'], type: ['access'] },
    });
    expect(other!.message).toBe('not an access line');
  });
});
