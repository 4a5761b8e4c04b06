import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestHost } from '@reactive-fabric/test-kit';
import type { TestHost } from '@reactive-fabric/test-kit';
import plugin from '../src/index.js';
import { COWRIE_LOG, COWRIE_RECORDS } from './sample.js';

let dir: string;
let log: string;
let host: TestHost | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-cowrie-'));
  log = join(dir, 'cowrie.json');
});
afterEach(async () => {
  await host?.dispose();
  host = undefined;
  await rm(dir, { recursive: true, force: true });
});

const start = async (config: Record<string, unknown>, maxEvents = 100) => {
  host = await createTestHost(plugin, { path: log, ...config }, { maxEvents });
  await host.start();
  return host;
};

describe('Cowrie source', () => {
  it('reads the whole log, then only what Cowrie appends, including a line it finished writing later', async () => {
    await writeFile(log, COWRIE_LOG);
    const h = await start({});
    const first = await h.poll();
    expect(first.events).toHaveLength(COWRIE_RECORDS.length);
    expect(first.events.map((e) => e.event?.action)).toEqual(COWRIE_RECORDS.map((r) => r.eventid));
    expect((await h.poll()).events).toEqual([]);

    const next = JSON.stringify({
      eventid: 'cowrie.login.failed',
      session: 'beef',
      src_ip: '198.51.100.9',
      username: 'pi',
      password: 'raspberry',
      timestamp: '2024-05-01T13:00:00Z',
    });
    await appendFile(log, next.slice(0, 40));
    expect((await h.poll()).events).toEqual([]);
    await appendFile(log, `${next.slice(40)}\n`);
    const later = await h.poll();
    expect(later.events.map((e) => e.user)).toEqual([{ name: 'pi' }]);
  });

  it('delivers in maxEvents batches with hasMore, and a new instance resumes from the checkpoint', async () => {
    await writeFile(log, COWRIE_LOG);
    const h = await start({}, 5);
    const a = await h.poll();
    expect(a.events).toHaveLength(5);
    expect(a.hasMore).toBe(true);
    const checkpoint = h.checkpoint;
    await h.dispose();

    host = await createTestHost(plugin, { path: log }, { checkpoint, maxEvents: 100 });
    await host.start();
    const rest = await host.poll();
    expect(rest.events.map((e) => e.event?.action)).toEqual(COWRIE_RECORDS.slice(5).map((r) => r.eventid));
    expect(rest.hasMore).toBe(false);
  });

  it('starts over on a rotated log (new file at the same path) and on a truncated one', async () => {
    await writeFile(log, COWRIE_LOG);
    const h = await start({});
    await h.poll();
    await rename(log, `${log}.1`);
    await writeFile(log, `${JSON.stringify(COWRIE_RECORDS[2])}\n`);
    expect((await h.poll()).events.map((e) => e.event?.action)).toEqual(['cowrie.login.failed']);
    await writeFile(log, `${JSON.stringify(COWRIE_RECORDS[4])}\n`);
    expect((await h.poll()).events.map((e) => e.event?.action)).toEqual(['cowrie.login.success']);
  });

  it('start_at: end skips what is already in the file', async () => {
    await writeFile(log, COWRIE_LOG);
    const h = await start({ start_at: 'end' });
    expect((await h.poll()).events).toEqual([]);
    await appendFile(log, `${JSON.stringify(COWRIE_RECORDS[3])}\n`);
    expect((await h.poll()).events.map((e) => e.user)).toEqual([{ name: 'admin' }]);
  });

  it('skips non-Cowrie lines with a warning naming the offset and problem, and keeps going', async () => {
    await writeFile(log, `not json at all\n${JSON.stringify(COWRIE_RECORDS[2])}\n{"eventid":"cowrie.login.failed"}\n`);
    const h = await start({});
    const r = await h.poll();
    expect(r.events).toHaveLength(1);
    const warnings = h.logger.records.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.obj).toMatchObject({ offset: 0, problem: expect.stringMatching(/not JSON/) });
    expect(warnings[1]!.obj).toMatchObject({ problem: expect.stringMatching(/timestamp/) });
  });

  it('a missing log is UNAVAILABLE (retriable) naming the path; a folder is BAD_CONFIG', async () => {
    const h = await start({});
    await expect(h.poll()).rejects.toMatchObject({ code: 'UNAVAILABLE', retriable: true, message: expect.stringContaining(log) });
    expect(await h.healthCheck()).toMatchObject({ status: 'degraded' });
    await h.dispose();
    await mkdir(join(dir, 'logs'));
    host = await createTestHost(plugin, { path: join(dir, 'logs') });
    await expect(host.poll()).rejects.toMatchObject({ code: 'BAD_CONFIG', retriable: false });
  });

  it('sensor overrides observer.name; keep_original copies the raw line', async () => {
    await writeFile(log, `${JSON.stringify(COWRIE_RECORDS[0])}\n`);
    const h = await start({ sensor: 'dmz-ssh', keep_original: true });
    const [e] = (await h.poll()).events;
    expect(e!.observer).toMatchObject({ name: 'dmz-ssh', type: 'honeypot' });
    expect(e!.event?.original).toBe(JSON.stringify(COWRIE_RECORDS[0]));
  });
});
