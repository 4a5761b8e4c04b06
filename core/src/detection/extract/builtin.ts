import type { ExtractorConfig } from '../config.js';
import type { ExtractionTarget, PostProcess } from './extractor.js';
import { SYSLOG_OUTPUTS, syslogExtract } from './syslog.js';

/**
 * Extractors shipped with the engine. Each is gated by a cheap `when` (program name or a literal
 * start of the message) so a line only meets the regexes that can apply to it.
 */
export const BUILTIN_EXTRACTORS: (ExtractorConfig & { post?: string; fast?: string })[] = [
  {
    // Raw syslog lines (offline scan, or sources that did not parse the header).
    name: 'syslog',
    type: 'regex',
    when: { 'process.name': null },
    source: ['event.original'],
    fast: 'syslog',
    patterns: [
      {
        regex:
          '^(?:[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d|\\d{4}-\\d\\d-\\d\\dT[\\d:.]+(?:Z|[+-]\\d\\d:?\\d\\d)?) (?<host__name>\\S+) (?<process__name>[^\\s\\[:]+)(?:\\[(?<process__pid>\\d+)\\])?: (?<message>[\\s\\S]*)$',
      },
    ],
  },
  {
    name: 'sshd',
    type: 'regex',
    when: { 'process.name': ['sshd'] },
    source: ['message'],
    patterns: [
      {
        regex: '^Failed (?<_method>\\S+) for (?:invalid user )?(?<user__name>.*?) from (?<source__ip>\\S+) port (?<source__port>\\d+)',
        set: { 'event.outcome': 'failure', 'event.category': 'authentication' },
      },
      {
        regex: '^message repeated \\d+ times: \\[ ?Failed (?<_method>\\S+) for (?:invalid user )?(?<user__name>.*?) from (?<source__ip>\\S+) port (?<source__port>\\d+)',
        set: { 'event.outcome': 'failure', 'event.category': 'authentication' },
      },
      {
        regex: '^Accepted (?<_method>\\S+) for (?<user__name>\\S+) from (?<source__ip>\\S+) port (?<source__port>\\d+)',
        set: { 'event.outcome': 'success', 'event.category': 'authentication' },
      },
      {
        regex: '^Invalid user (?<user__name>.*?) from (?<source__ip>\\S+)(?: port (?<source__port>\\d+))?\\s*$',
        set: { 'event.outcome': 'failure', 'event.category': 'authentication' },
      },
      { regex: '^input_userauth_request: invalid user (?<user__name>.*?) \\[preauth\\]' },
      { regex: '^reverse mapping checking getaddrinfo for (?<source__domain>\\S+) \\[(?<source__ip>[^\\]]+)\\]' },
      { regex: '^Received disconnect from (?<source__ip>\\S+?)(?: port (?<source__port>\\d+))?: ' },
      { regex: '^Connection closed by (?:(?:invalid |authenticating )?user (?<user__name>\\S+) )?(?<source__ip>\\S+)(?: port (?<source__port>\\d+))?' },
      { regex: '^Did not receive identification string from (?<source__ip>\\S+)' },
      { regex: '^Disconnecting: Too many authentication failures for (?<user__name>\\S+)' },
      { regex: '^PAM \\d+ more authentication failures?; .*?rhost=(?<source__ip>\\S+)(?:\\s+user=(?<user__name>\\S+))?' },
      { regex: '^error: Received disconnect from (?<source__ip>\\S+?)(?: port (?<source__port>\\d+))?: ' },
      { regex: '^Connection from (?<source__ip>\\S+) port (?<source__port>\\d+) on (?<destination__ip>\\S+) port (?<destination__port>\\d+)' },
    ],
  },
  {
    name: 'pam_unix',
    type: 'regex',
    when: [{ 'message|startswith': 'pam_unix(' }, { 'process.name|endswith': 'pam_unix)' }],
    source: ['message'],
    patterns: [
      {
        regex: '^(?:pam_unix\\([^)]*\\): )?authentication failure; logname=\\S* uid=\\d* euid=\\d* tty=\\S* ruser=\\S* rhost=(?<source__ip>\\S*)(?:\\s+user=(?<user__name>\\S+))?',
        set: { 'event.outcome': 'failure', 'event.category': 'authentication' },
      },
      { regex: '^(?:pam_unix\\([^)]*\\): )?session opened for user (?<user__name>\\S+?)(?:\\(uid=\\d+\\))?(?: by (?<_by>.*))?$', set: { 'event.action': 'session-opened' } },
      { regex: '^(?:pam_unix\\([^)]*\\): )?session closed for user (?<user__name>\\S+?)(?:\\(uid=\\d+\\))?$', set: { 'event.action': 'session-closed' } },
    ],
  },
  {
    name: 'sudo',
    type: 'regex',
    when: { 'process.name': ['sudo'] },
    source: ['message'],
    patterns: [
      {
        regex:
          '^\\s*(?<user__name>\\S+) : (?:(?<_fails>\\d+) incorrect password attempts? ; |user NOT in sudoers ; )TTY=\\S+ ; PWD=(?<process__working_directory>.*?) ; USER=(?<user__target__name>\\S+) ; COMMAND=(?<process__command_line>.*)$',
        set: { 'event.outcome': 'failure', 'event.category': 'authentication' },
      },
      {
        regex: '^\\s*(?<user__name>\\S+) : TTY=\\S+ ; PWD=(?<process__working_directory>.*?) ; USER=(?<user__target__name>\\S+) ; COMMAND=(?<process__command_line>.*)$',
        set: { 'event.outcome': 'success', 'event.action': 'sudo' },
      },
    ],
  },
  {
    name: 'su',
    type: 'regex',
    when: { 'process.name': ['su'] },
    source: ['message'],
    patterns: [
      { regex: '^FAILED SU \\(to (?<user__target__name>\\S+)\\) (?<user__name>\\S+) on ', set: { 'event.outcome': 'failure', 'event.category': 'authentication' } },
      { regex: '^FAILED su for (?<user__target__name>\\S+) by (?<user__name>\\S+)', set: { 'event.outcome': 'failure', 'event.category': 'authentication' } },
      { regex: '^\\(to (?<user__target__name>\\S+)\\) (?<user__name>\\S+) on ', set: { 'event.outcome': 'success', 'event.action': 'su' } },
      { regex: '^Successful su for (?<user__target__name>\\S+) by (?<user__name>\\S+)', set: { 'event.outcome': 'success', 'event.action': 'su' } },
    ],
  },
  {
    name: 'auditd',
    type: 'kv',
    when: { 'message|startswith': ['type=', 'node='], 'message|contains': 'msg=audit(' },
    source: ['message'],
    prefix: 'auditd.',
    post: 'auditd',
  },
  {
    name: 'netfilter',
    type: 'kv',
    when: { 'message|contains|all': [' SRC=', ' DST='] },
    source: ['message'],
    prefix: 'netfilter.',
    fields: { SRC: 'source.ip', DST: 'destination.ip', SPT: 'source.port', DPT: 'destination.port', PROTO: 'network.transport', IN: 'observer.ingress.interface.name' },
  },
  {
    name: 'web_access',
    type: 'regex',
    when: { 'message|contains': '] "' },
    source: ['message'],
    null_values: ['-'],
    patterns: [
      {
        regex:
          '^(?<source__ip>\\S+) \\S+ (?<user__name>\\S+) \\[[^\\]]+\\] "(?<http__request__method>[A-Za-z]+) (?<url__original>\\S+)(?: (?<http__version>HTTP/[\\d.]+))?" (?<http__response__status_code>\\d{3}) (?<http__response__body__bytes>\\d+|-)(?: "(?<http__request__referrer>[^"]*)" "(?<user_agent__original>[^"]*)")?',
        set: { 'event.category': 'web' },
      },
    ],
  },
  {
    name: 'file_hashes',
    type: 'regex',
    when: { 'message|contains': ['md5', 'sha1', 'sha256', 'sha512'] },
    source: ['message'],
    match: 'all',
    patterns: [
      { regex: '\\b(?:md5|MD5)[=: ]+(?<file__hash__md5>[a-fA-F0-9]{32})\\b' },
      { regex: '\\b(?:sha1|SHA1)[=: ]+(?<file__hash__sha1>[a-fA-F0-9]{40})\\b' },
      { regex: '\\b(?:sha256|SHA256)[=: ]+(?<file__hash__sha256>[a-fA-F0-9]{64})\\b' },
      { regex: '\\b(?:sha512|SHA512)[=: ]+(?<file__hash__sha512>[a-fA-F0-9]{128})\\b' },
    ],
  },
];

const HEX = /^(?:[0-9A-F]{2})+$/;

function decodeArg(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') return undefined;
  // auditd hex-encodes arguments containing spaces or quotes; quoted ones arrive already unquoted.
  if (v.length >= 2 && HEX.test(v)) {
    const s = Buffer.from(v, 'hex').toString('utf8');
    if (/^[\x20-\x7e\t]*$/.test(s)) return s;
  }
  return v;
}

const auditdPost: PostProcess = (out: ExtractionTarget) => {
  const rec = out.ctx.rec;
  out.set('event.module', 'auditd');
  const type = rec['auditd.type'];
  if (type === 'EXECVE') {
    const argc = Number(rec['auditd.argc'] ?? 0);
    const args: string[] = [];
    for (let i = 0; i < Math.min(argc || 64, 256); i++) {
      const k = `auditd.a${i}`;
      const a = decodeArg(rec[k]);
      if (a === undefined) break;
      if (a !== rec[k]) out.set(k, a);
      args.push(a);
    }
    if (args.length) {
      out.set('process.args', args);
      out.set('process.command_line', args.join(' '));
      out.set('process.name', args[0]!.split('/').pop()!);
    }
    out.set('event.category', 'process');
  } else if (type === 'SYSCALL') {
    if (rec['auditd.exe'] !== undefined) out.set('process.executable', rec['auditd.exe']);
    if (rec['auditd.comm'] !== undefined) out.set('process.name', rec['auditd.comm']);
    if (rec['auditd.pid'] !== undefined) out.set('process.pid', Number(rec['auditd.pid']));
    if (rec['auditd.success'] !== undefined) out.set('event.outcome', rec['auditd.success'] === 'yes' ? 'success' : 'failure');
  } else if (type === 'PATH' && typeof rec['auditd.name'] === 'string') {
    out.set('file.path', rec['auditd.name']);
  }
};

export const POST_PROCESSORS: Record<string, PostProcess & { outputs?: string[] }> = {
  auditd: Object.assign(auditdPost, {
    outputs: ['event.module', 'event.category', 'event.outcome', 'process.args', 'process.command_line', 'process.name', 'process.executable', 'process.pid', 'file.path'],
  }),
};

export const FAST_PARSERS: Record<string, ((text: string, out: ExtractionTarget) => boolean) & { outputs?: string[] }> = {
  syslog: Object.assign(syslogExtract, { outputs: SYSLOG_OUTPUTS }),
};
