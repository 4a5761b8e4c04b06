import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceInstance } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { hostConfig } from './config.js';
import { parseSyslog, syslogZone } from '../src/syslog.js';

/** The BSD lines below are read as UTC whatever the zone of the machine running the test. */
const utc = syslogZone('UTC')!;

const now = new Date('2025-12-31T00:00:00Z');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The RFC lines are the RFCs' own examples (RFC 3164 §5.4, RFC 5424 §6.5). */
describe('syslog headers with <PRI>, RFC 5424 and fractional seconds', () => {
  it('<PRI> before a BSD header: facility and severity read from it', () => {
    expect(parseSyslog("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", now, 2025, utc)).toEqual({
      timestamp: new Date('2025-10-11T22:14:15Z'),
      host: 'mymachine',
      program: 'su',
      message: "'su root' failed for lonvick on /dev/pts/8",
      syslog: { priority: 34, facility: { code: 4 }, severity: { code: 2 } },
    });
  });

  it('<PRI> before an RFC 3339 header, and milliseconds on a BSD header', () => {
    expect(parseSyslog('<86>2024-05-01T10:00:00.123+02:00 web01 sshd[4242]: Failed password for root from 203.0.113.9 port 52144 ssh2', now)).toMatchObject({
      timestamp: new Date('2024-05-01T08:00:00.123Z'),
      host: 'web01',
      program: 'sshd',
      pid: 4242,
      message: 'Failed password for root from 203.0.113.9 port 52144 ssh2',
      syslog: { priority: 86, facility: { code: 10 }, severity: { code: 6 } },
    });
    expect(parseSyslog('Dec 10 06:55:46.512 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186', now, 2025, utc)).toMatchObject({
      timestamp: new Date('2025-12-10T06:55:46.512Z'),
      program: 'sshd',
      message: 'Invalid user webmaster from 173.234.31.186',
    });
  });

  it('RFC 5424: nil fields, BOM, PROCID', () => {
    expect(parseSyslog("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick on /dev/pts/8", now)).toEqual({
      timestamp: new Date('2003-10-11T22:14:15.003Z'),
      host: 'mymachine.example.com',
      program: 'su',
      message: "'su root' failed for lonvick on /dev/pts/8",
      syslog: { priority: 34, facility: { code: 4 }, severity: { code: 2 }, version: '1', msgid: 'ID47' },
    });
    expect(parseSyslog("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.", now)).toMatchObject({
      timestamp: new Date('2003-08-24T12:14:15.000Z'),
      host: '192.0.2.1',
      program: 'myproc',
      pid: 8710,
      message: "%% It's time to make the do-nuts.",
    });
  });

  it('RFC 5424 structured data: several elements, escapes undone, the message after them', () => {
    const s = parseSyslog(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high \\"x\\" \\]"] \ufeffAn application event log entry...',
      now,
    );
    expect(s?.message).toBe('An application event log entry...');
    expect(s?.syslog?.structured_data).toEqual({
      'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' },
      'examplePriority@32473': { class: 'high "x" ]' },
    });
  });

  it('malformed headers are refused, not half-parsed', () => {
    expect(parseSyslog('<999>Oct 11 22:14:15 mymachine su: x', now)).toBeUndefined();
    expect(parseSyslog('<34>1 2003-10-11T22:14:15.003Z host app - ID47 [broken x] msg', now)).toBeUndefined();
    expect(parseSyslog('<34>1 yesterday host app - - - msg', now)).toBeUndefined();
  });

  it('the log-file source turns <PRI> and RFC 5424 lines into events with host, process and message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfile-hdr-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'remote.log'),
      [
        '<38>1 2024-05-01T10:00:00.123456+02:00 web01 sshd 4242 - - Failed password for root from 203.0.113.9 port 52144 ssh2',
        '<86>May  1 10:00:01 web02 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/id',
      ].join('\n') + '\n',
    );
    const src = (await plugin.create(hostConfig({ paths: ['remote.log'], format: 'auto', syslog_year: 2024, syslog_timezone: 'UTC' }), {
      collectorId: 't',
      logger: console,
      stateDir: dir,
      signal: new AbortController().signal,
      configDir: dir,
    } as never)) as SourceInstance;
    const r = await src.poll({ checkpoint: undefined, signal: new AbortController().signal, maxEvents: 10 });
    expect(r.events).toHaveLength(2);
    expect(r.events[0]).toMatchObject({
      '@timestamp': '2024-05-01T08:00:00.123Z',
      host: { name: 'web01' },
      process: { name: 'sshd', pid: 4242 },
      message: 'Failed password for root from 203.0.113.9 port 52144 ssh2',
    });
    expect(r.events[1]).toMatchObject({
      '@timestamp': '2024-05-01T10:00:01.000Z',
      host: { name: 'web02' },
      process: { name: 'sudo' },
      message: 'alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/id',
    });
  });
});
