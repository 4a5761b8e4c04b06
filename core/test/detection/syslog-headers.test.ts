import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../../src/detection/engine.js';
import { loadRules } from '../../src/detection/sigma/loader.js';

const engine = new DetectionEngine({ rules: [] });
function extract(line: string): Record<string, unknown> {
  engine.evaluate({ 'event.original': line, message: line });
  return engine.lastExtracted() ?? {};
}

/**
 * Syslog headers the core extractor reads when a source hands over a raw line (offline scan,
 * log stores that keep only the line). The RFC lines are the RFC's own examples.
 */
describe('syslog header extraction', () => {
  it('<PRI> in front of a BSD header (RFC 3164 §5.4 example)', () => {
    expect(extract("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")).toMatchObject({
      'host.name': 'mymachine',
      'process.name': 'su',
      message: "'su root' failed for lonvick on /dev/pts/8",
      'log.syslog.priority': 34,
      'log.syslog.facility.code': 4,
      'log.syslog.severity.code': 2,
    });
  });

  it('<PRI> in front of an RFC 3339 header, and fractional seconds on a BSD header', () => {
    expect(extract('<86>2024-05-01T10:00:00.123+02:00 web01 sshd[4242]: Failed password for root from 203.0.113.9 port 52144 ssh2')).toMatchObject({
      'host.name': 'web01',
      'process.name': 'sshd',
      'process.pid': 4242,
      'user.name': 'root',
      'source.ip': '203.0.113.9',
      'event.outcome': 'failure',
      'log.syslog.facility.code': 10,
    });
    expect(extract('Dec 10 06:55:46.512 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186')).toMatchObject({
      'process.name': 'sshd',
      'user.name': 'webmaster',
    });
  });

  it('RFC 5424 without structured data, nil PROCID/MSGID (RFC 5424 §6.5 examples)', () => {
    const f = extract("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick on /dev/pts/8");
    expect(f).toMatchObject({
      'host.name': 'mymachine.example.com',
      'process.name': 'su',
      'log.syslog.msgid': 'ID47',
      'log.syslog.version': '1',
      message: "'su root' failed for lonvick on /dev/pts/8",
    });
    expect(f['process.pid']).toBeUndefined();
    expect(extract("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.")).toMatchObject({
      'host.name': '192.0.2.1',
      'process.name': 'myproc',
      'process.pid': 8710,
      message: "%% It's time to make the do-nuts.",
      'log.syslog.severity.code': 5,
    });
  });

  it('RFC 5424 with structured data (two elements, an escaped quote and bracket)', () => {
    const f = extract(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high \\"x\\" \\]"] An application event log entry',
    );
    expect(f).toMatchObject({
      'process.name': 'evntslog',
      message: 'An application event log entry',
      'log.syslog.structured_data.exampleSDID@32473.iut': '3',
      'log.syslog.structured_data.exampleSDID@32473.eventID': '1011',
      'log.syslog.structured_data.examplePriority@32473.class': 'high "x" ]',
    });
    // No MSG at all after the structured data.
    expect(extract('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"]')).toMatchObject({ message: '' });
  });

  it('malformed headers are not half-parsed: the line stays the message', () => {
    for (const line of [
      '<999>Oct 11 22:14:15 mymachine su: x', // PRI above 191
      '<34>1 2003-10-11T22:14:15.003Z host app - ID47 [broken x] msg', // SD param without a quoted value
      '<34>1 yesterday host app - - - msg',
      'Dec 10 06:55:46 host 10.0.0.1:22 refused', // a colon inside a word is no tag
    ]) {
      const f = extract(line);
      expect(f['process.name'], line).toBeUndefined();
      expect(f.message, line).toBeUndefined();
    }
  });

  it('a Sigma rule on an RFC 5424 sshd line fires (the built-in failed-authentication rule)', async () => {
    const { rules } = await loadRules([], { builtin: true });
    const e = new DetectionEngine({ rules });
    const line = '<38>1 2024-05-01T10:00:00.123456+02:00 web01 sshd 4242 - - Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2';
    const hit = e.evaluate({ 'event.original': line, message: line });
    expect(hit?.map((i) => e.rules[i]!.name)).toEqual(['rf_failed_authentication']);
  });
});
