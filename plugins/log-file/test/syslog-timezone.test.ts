import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluginError, type SourceInstance } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { hostConfig } from './config.js';
import { parseSyslog, syslogZone } from '../src/syslog.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const hostTz = process.env.TZ;
afterEach(() => {
  // Node re-reads TZ when it is assigned; put the machine's zone back for the next test.
  if (hostTz === undefined) delete process.env.TZ;
  else process.env.TZ = hostTz;
});

const now = new Date('2025-12-31T00:00:00Z');
const at = (line: string, zone: string | undefined, year = 2025) => parseSyslog(line, now, year, syslogZone(zone)!)?.timestamp.toISOString();
const sshd = (stamp: string) => `${stamp} web01 sshd[4242]: Failed password for root from 203.0.113.9 port 52144 ssh2`;

async function firstEvent(config: Record<string, unknown>, text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'logfile-tz-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'auth.log'), `${text}\n`);
  const src = (await plugin.create(hostConfig({ paths: ['auth.log'], format: 'syslog', ...config }), {
    collectorId: 'auth',
    logger: console,
    stateDir: dir,
    signal: new AbortController().signal,
    configDir: dir,
  } as never)) as SourceInstance;
  const r = await src.poll({ checkpoint: undefined, signal: new AbortController().signal, maxEvents: 10 });
  return r.events[0]!;
}

describe('BSD syslog time zone (syslog_timezone)', () => {
  it('reads the wall time in the configured IANA zone, with its summer and winter offsets', () => {
    expect(at(sshd('Jul  1 12:00:00'), 'Europe/Berlin')).toBe('2025-07-01T10:00:00.000Z');
    expect(at(sshd('Jan 15 12:00:00'), 'Europe/Berlin')).toBe('2025-01-15T11:00:00.000Z');
    expect(at(sshd('Jan 15 12:00:00'), 'America/New_York')).toBe('2025-01-15T17:00:00.000Z');
    expect(at(sshd('Jan 15 12:00:00'), 'UTC')).toBe('2025-01-15T12:00:00.000Z');
    expect(at(sshd('Jan 15 12:00:00'), 'Asia/Kolkata')).toBe('2025-01-15T06:30:00.000Z');
  });

  it('DST edges: a skipped wall time moves forward by the gap, a repeated one is read once, as the second', () => {
    // Europe/Berlin, 2025-03-30: 02:00 → 03:00. The second before the jump and the first after it.
    expect(at(sshd('Mar 30 01:59:59'), 'Europe/Berlin')).toBe('2025-03-30T00:59:59.000Z');
    expect(at(sshd('Mar 30 03:00:00'), 'Europe/Berlin')).toBe('2025-03-30T01:00:00.000Z');
    expect(at(sshd('Mar 30 02:30:00'), 'Europe/Berlin')).toBe('2025-03-30T01:30:00.000Z');
    // 2025-10-26: 03:00 → 02:00; 02:30 happens twice (00:30Z and 01:30Z).
    expect(at(sshd('Oct 26 02:30:00'), 'Europe/Berlin')).toBe('2025-10-26T01:30:00.000Z');
    expect(at(sshd('Oct 26 03:30:00'), 'Europe/Berlin')).toBe('2025-10-26T02:30:00.000Z');
  });

  it('without a year, "this year" and the step back to last year are counted in the configured zone', () => {
    // 2025-12-31T23:30Z is already 2026-01-01 in Berlin: a "Jan  1 00:10" line is 10 minutes old, not a year ahead.
    const newYear = new Date('2025-12-31T23:30:00Z');
    expect(parseSyslog(sshd('Jan  1 00:10:00'), newYear, undefined, syslogZone('Europe/Berlin')!)?.timestamp.toISOString()).toBe('2025-12-31T23:10:00.000Z');
    // And a December line read in January belongs to the year before.
    expect(parseSyslog(sshd('Dec 31 23:50:00'), newYear, undefined, syslogZone('Europe/Berlin')!)?.timestamp.toISOString()).toBe('2025-12-31T22:50:00.000Z');
  });

  it("defaults to the host's zone (TZ), not UTC", async () => {
    process.env.TZ = 'Australia/Sydney';
    const e = await firstEvent({ syslog_year: 2025 }, sshd('Jan 15 12:00:00'));
    expect(e['@timestamp']).toBe('2025-01-15T01:00:00.000Z');
    process.env.TZ = 'America/Los_Angeles';
    const w = await firstEvent({ syslog_year: 2025 }, sshd('Jan 15 12:00:00'));
    expect(w['@timestamp']).toBe('2025-01-15T20:00:00.000Z');
  });

  it('the configured zone wins over the host zone; timestamps with their own offset ignore both', async () => {
    process.env.TZ = 'Asia/Tokyo';
    expect((await firstEvent({ syslog_year: 2025, syslog_timezone: 'Europe/Berlin' }, sshd('Jul  1 12:00:00')))['@timestamp']).toBe('2025-07-01T10:00:00.000Z');
    expect((await firstEvent({ syslog_timezone: 'Europe/Berlin' }, sshd('2025-07-01T12:00:00+05:30')))['@timestamp']).toBe('2025-07-01T06:30:00.000Z');
  });

  it('an unknown zone name is a config error naming the collector, the field and the value', async () => {
    for (const bad of ['Mars/Olympus_Mons', 'CEST+1', 'Europe/Berlin\n\u001b[31mforged log line', '../../etc/passwd', 'x'.repeat(5000)]) {
      const err = await firstEvent({ syslog_timezone: bad }, sshd('Jan 15 12:00:00')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PluginError);
      expect(err).toMatchObject({ code: 'BAD_CONFIG', retriable: false });
      const message = (err as Error).message;
      expect(message).toContain('collector "auth": config.syslog_timezone');
      expect(message).toContain('IANA time zone');
      expect(message).toContain(JSON.stringify(bad.slice(0, 80)));
      expect(message).not.toMatch(/[\n\u001b]/);
      expect(message.length).toBeLessThan(400);
    }
  });

  it('the config schema refuses an empty zone name before create()', () => {
    expect(() => hostConfig({ paths: ['auth.log'], syslog_timezone: '' })).toThrow(/syslog_timezone/);
  });
});

describe('BSD syslog dates that do not exist', () => {
  it('a day the month does not have is no syslog header: the line is kept whole, stamped at ingest, never moved to another day', () => {
    for (const stamp of ['Feb 30 10:00:00', 'Feb 29 10:00:00', 'Apr 31 10:00:00', 'Jan  0 10:00:00', 'Jan 32 10:00:00', 'Jan 15 24:00:00', 'Jan 15 23:60:00']) {
      expect(parseSyslog(sshd(stamp), now, 2025, syslogZone('Europe/Berlin')!)).toBeUndefined();
    }
    expect(at(sshd('Feb 29 10:00:00'), 'UTC', 2024)).toBe('2024-02-29T10:00:00.000Z');
  });
});

describe('several zones in one process', () => {
  it('collectors with different zones reading the same minute in turn each get their own offset', () => {
    const line = sshd('Jul  1 12:00:30');
    const expected = { 'Europe/Berlin': '2025-07-01T10:00:30.000Z', 'America/New_York': '2025-07-01T16:00:30.000Z', UTC: '2025-07-01T12:00:30.000Z' };
    for (let round = 0; round < 3; round++) {
      for (const [zone, iso] of Object.entries(expected)) expect(at(line, zone)).toBe(iso);
    }
    // Asked for again by name, the zone still gives its own offset after the others.
    expect(parseSyslog(line, now, 2025, syslogZone('Europe/Berlin')!)?.timestamp.toISOString()).toBe(expected['Europe/Berlin']);
  });
});
