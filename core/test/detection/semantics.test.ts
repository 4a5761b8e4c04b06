import fc from 'fast-check';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import { compileSigmaRegex } from '../../src/detection/sigma/regex.js';
import { compileWildcard, tokenize, type MatchMode } from '../../src/detection/sigma/wildcard.js';
import { matcher, parse } from './helpers.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('Sigma spec semantics: null and empty string', () => {
  it('null matches only a missing or null field; an empty string is a value', () => {
    const nul = matcher(`sel:\n    user.name: null\ncondition: sel`);
    expect([nul({}), nul({ 'user.name': null }), nul({ 'user.name': '' }), nul({ 'user.name': 'x' })]).toEqual([true, true, false, false]);
  });

  it("'' matches only an empty string, not a missing or null field", () => {
    const empty = matcher(`sel:\n    user.name: ''\ncondition: sel`);
    expect([empty({ 'user.name': '' }), empty({}), empty({ 'user.name': null }), empty({ 'user.name': 'x' })]).toEqual([true, false, false, false]);
  });

  it('a list with both null and empty string matches either, and "not null" keeps empty values', () => {
    const both = matcher(`sel:\n    f:\n        - null\n        - ''\ncondition: sel`);
    expect([both({}), both({ f: '' }), both({ f: 'x' })]).toEqual([true, true, false]);
    const present = matcher(`sel:\n    f: null\ncondition: not sel`);
    expect([present({ f: '' }), present({})]).toEqual([true, false]);
  });
});

describe('Sigma spec semantics: regular expressions (PCRE-like, on RE2)', () => {
  it('"." matches \\r and every character but \\n; (?s) and |re|s let it match \\n', () => {
    const dot = matcher(`sel:\n    f|re: '^a.b$'\ncondition: sel`);
    expect([dot({ f: 'a\rb' }), dot({ f: 'a\u2028b' }), dot({ f: 'a\nb' })]).toEqual([true, true, false]);
    expect(matcher(`sel:\n    f|re: '(?s)^a.b$'\ncondition: sel`)({ f: 'a\nb' })).toBe(true);
    expect(matcher(`sel:\n    f|re|s: '^a.b$'\ncondition: sel`)({ f: 'a\nb' })).toBe(true);
  });

  it('inline flags (?i), (?m), (?s) and scoped (?i:…) are supported', () => {
    const i = matcher(`sel:\n    CommandLine|re: '(?i)invoke-expression'\ncondition: sel`);
    expect([i({ CommandLine: 'IEX; Invoke-Expression $x' }), i({ CommandLine: 'invoke-command' })]).toEqual([true, false]);
    const m = matcher(`sel:\n    f|re: '(?m)^root$'\ncondition: sel`);
    expect([m({ f: 'user\nroot\nx' }), m({ f: 'user root' })]).toEqual([true, false]);
    const scoped = matcher(`sel:\n    f|re: '(?i:echo) CLIP'\ncondition: sel`);
    expect([scoped({ f: 'ECHO CLIP' }), scoped({ f: 'ECHO clip' })]).toEqual([true, false]);
    // A SigmaHQ rule as written (proc_creation_win_hktl_invoke_obfuscation_via_use_clip).
    const clip = matcher(`sel:\n    CommandLine|re: '(?i)echo.*clip.*&&.*(?:Clipboard|i\`?n\`?v\`?o\`?k\`?e\`?)'\ncondition: sel`);
    expect(clip({ CommandLine: 'cmd /c ECHO Invoke-Expression | CLIP && powershell [Windows.Clipboard]::GetText()' })).toBe(true);
    expect(clip({ CommandLine: 'echo hello' })).toBe(false);
  });

  it('|re|i|m combine, and the sub-modifiers only follow re', () => {
    const im = matcher(`sel:\n    f|re|i|m: '^ROOT$'\ncondition: sel`);
    expect([im({ f: 'x\nroot' }), im({ f: 'xroot' })]).toEqual([true, false]);
    expect(parse(`title: t\nid: x\nlogsource:\n    product: linux\ndetection:\n    sel:\n        f|i: x\n    condition: sel\n`).refusals[0]).toMatchObject({
      feature: 'modifier i',
    });
  });

  it('lookbehind without capture groups is evaluated (linear in RE2JS)', () => {
    const lb = matcher(`sel:\n    f|re: '(?<=user=)root'\ncondition: sel`);
    expect([lb({ f: 'user=root' }), lb({ f: 'name=root' })]).toEqual([true, false]);
    const nlb = matcher(`sel:\n    f|re: '(?<!/usr)/bin/sh'\ncondition: sel`);
    expect([nlb({ f: 'exec /bin/sh' }), nlb({ f: 'exec /usr/bin/sh' })]).toEqual([true, false]);
  });

  it('constructs that need backtracking are refused at load, naming the file, line, field and construct', () => {
    const rule = (value: string) =>
      `title: Needs backtracking\nid: x\nlogsource:\n    product: linux\ndetection:\n    sel:\n        CommandLine|re: '${value}'\n    condition: sel\n`;
    const cases: [string, RegExp][] = [
      ['foo(?=bar)', /lookahead/],
      ['foo(?!bar)', /lookahead/],
      ['(a)\\1', /backreference/],
      ['(?<n>a)\\k<n>', /backreference/],
      ['(?>ab|a)c', /atomic group/],
      ['a++b', /possessive quantifier/],
      ['(?<=(a))b', /capture/],
    ];
    for (const [value, feature] of cases) {
      const r = parse(rule(value), '/rules/needs-backtracking.yml');
      expect(r.rules, value).toHaveLength(0);
      expect(r.refusals[0], value).toMatchObject({ file: '/rules/needs-backtracking.yml', line: 7, rule: 'Needs backtracking' });
      expect(r.refusals[0]!.feature, value).toMatch(feature);
      expect(r.refusals[0]!.message, value).toContain('field "CommandLine"');
      expect(r.refusals[0]!.message, value).toMatch(feature);
      expect(r.refusals[0]!.message, value).toContain(JSON.stringify(value));
    }
    // Plain syntax errors still say what is wrong.
    expect(parse(rule('(unclosed')).refusals[0]).toMatchObject({ feature: 'modifier re', message: expect.stringContaining('missing closing )') });
  });

  it('a catastrophic pattern on forty a and a "!" is decided at once by a linear-time engine', () => {
    const re = compileSigmaRegex('^(a+)+$');
    // The compiled matcher is RE2 (automaton, no backtracking), not V8's RegExp.
    expect(re).toBeInstanceOf(RE2JS);
    expect(re).not.toBeInstanceOf(RegExp);
    expect(re.test('a'.repeat(40) + '!')).toBe(false);
    expect(re.test('a'.repeat(40))).toBe(true);
    // Through a rule, on a line as long as the default line cap allows (V8 would need ~2^65536 steps).
    const m = matcher(`sel:\n    message|re: '^(a+)+$'\ncondition: sel`);
    expect(m({ message: 'a'.repeat(65_535) + '!' })).toBe(false);
    expect(m({ message: 'a'.repeat(40) })).toBe(true);
    // A regex keyword takes the same engine.
    const kw = matcher(`kw:\n    '|re': '(x+x+)+y'\ncondition: kw`);
    expect(kw({ message: 'x'.repeat(5000) })).toBe(false);
    expect(kw({ message: 'xxy' })).toBe(true);
  });

  it('\\uXXXX escapes (Python/JavaScript syntax) are read as code points', () => {
    expect(matcher(`sel:\n    f|re: '\\u0041\\u00e9'\ncondition: sel`)({ f: 'xAé' })).toBe(true);
    expect(matcher(`sel:\n    f|re: '\\\\u0041'\ncondition: sel`)({ f: '\\u0041' })).toBe(true);
  });
});

describe('Sigma spec semantics: base64 and base64offset are case-sensitive', () => {
  it('the encoded form is matched exactly: a value differing in case, or an upper-cased encoding, does not match', () => {
    const o = matcher(`sel:\n    f|base64offset|contains: 'http://'\ncondition: sel`);
    for (const prefix of ['', 'x', 'xy']) expect(o({ f: `powershell -enc ${b64(prefix + 'http://evil.example/')}` }), prefix).toBe(true);
    // "HTTP://" encodes to other base64 text: the rule value's case matters.
    expect(o({ f: b64('HTTP://evil.example/') })).toBe(false);
    // Case-insensitive matching would be wrong on base64: an upper-cased encoding decodes to other bytes.
    expect(o({ f: b64('http://evil.example/').toUpperCase() })).toBe(false);
    expect(o({ f: b64('http://evil.example/').toLowerCase() })).toBe(false);

    const b = matcher(`sel:\n    f|base64|contains: 'IEX'\ncondition: sel`);
    expect([b({ f: `x ${b64('IEX')} y` }), b({ f: b64('iex') }), b({ f: b64('IEX').toLowerCase() })]).toEqual([true, false, false]);
    // |cased changes nothing: base64 is always compared as written.
    const c = matcher(`sel:\n    f|base64|contains|cased: 'IEX'\ncondition: sel`);
    expect([c({ f: b64('IEX') }), c({ f: b64('iex') })]).toEqual([true, false]);
  });
});

describe('wildcards: linear-time glob matching', () => {
  /** Reference: the pattern as an anchored JS regex (fine on short strings). */
  function reference(pattern: string, mode: MatchMode, cased: boolean): (s: string) => boolean {
    let src = tokenize(cased ? pattern : pattern.toLowerCase())
      .map((t) => ('lit' in t ? t.lit.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&') : 'star' in t ? '[\\s\\S]*' : '[\\s\\S]'))
      .join('');
    if (mode === 'contains' || mode === 'endswith') src = '[\\s\\S]*' + src;
    if (mode === 'contains' || mode === 'startswith') src = src + '[\\s\\S]*';
    const re = new RegExp(`^${src}$`);
    return (s) => re.test(s);
  }

  it('agrees with a regex reference on generated patterns and values', () => {
    const alphabet = fc.constantFrom('a', 'b', 'A', '*', '?', '\\', 'ab', '\r', '\n');
    const text = fc.array(fc.constantFrom('a', 'b', 'A', '*', '?', '\\', 'c', '\r', '\n'), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 8 }).map((a) => a.join('')),
        fc.array(text, { minLength: 1, maxLength: 6 }),
        fc.constantFrom<MatchMode>('equals', 'contains', 'startswith', 'endswith'),
        fc.boolean(),
        (pattern, values, mode, cased) => {
          const got = compileWildcard(pattern, mode, cased);
          const want = reference(pattern, mode, cased);
          for (const v of values) {
            const s = cased ? v : v.toLowerCase();
            if (got(s) !== want(s)) throw new Error(`pattern ${JSON.stringify(pattern)} ${mode} cased=${cased} on ${JSON.stringify(s)}: got ${got(s)}`);
          }
        },
      ),
      { seed: 1618, numRuns: 3000 },
    );
  });

  it('a many-star pattern on a crafted 64 KB line is decided at once (a backtracking regex is polynomial here)', () => {
    const line = 'a'.repeat(65_536);
    const m = matcher(`sel:\n    f: '*a*a*a*a*a*a*a*b'\ncondition: sel`);
    expect(m({ f: line })).toBe(false);
    expect(m({ f: line + 'b' })).toBe(true);
    const q = matcher(`sel:\n    f|contains: 'a?a*a?a*a?a*c'\ncondition: sel`);
    expect(q({ f: line })).toBe(false);
    expect(q({ f: 'xaxa-a?a-aza-c' })).toBe(true);
  });
});
