import { RE2JS } from 're2js';
import { RuleRefusal } from './errors.js';

/**
 * Sigma `|re` values run on RE2 (re2js, a pure-JS port): matching time is linear in the length of
 * the line whatever the pattern, so an attacker-written line cannot make a rule backtrack for
 * seconds (`^(a+)+$` on forty `a` and a `!` takes microseconds). V8's RegExp is never used for
 * rule patterns: no cheap test can prove a backtracking pattern safe for every 64 KB line
 * (`\s*\s*x` is already quadratic), and RE2 measured fast enough (see docs/detection.md).
 *
 * Semantics follow PCRE, which Sigma's regular expressions are written for:
 * - `.` matches everything but `\n` (`\r` included); `(?s)` or `|re|s` makes it match `\n` too.
 * - `^`/`$` anchor the whole value; `(?m)` or `|re|m` makes them anchor lines.
 * - inline flags `(?i)`, `(?s)`, `(?m)`, scoped `(?i:…)`, and the `|re|i|m|s` sub-modifiers.
 * - lookbehind `(?<=…)`/`(?<!…)` without capture groups inside, in linear time (re2js LOOKBEHINDS).
 * - `\uXXXX` (accepted by Python and JavaScript) is read as the code point `\x{XXXX}`.
 * What RE2 cannot evaluate in linear time (lookahead, backreferences, atomic groups, possessive
 * quantifiers, conditionals) is refused when the rule loads, naming the construct.
 */
export type SigmaRegex = RE2JS;

export interface RegexFlags {
  /** `|re|i`: case-insensitive. */
  i?: boolean;
  /** `|re|m`: `^` and `$` match at line breaks. */
  m?: boolean;
  /** `|re|s`: `.` matches `\n`. */
  s?: boolean;
}

/** Constructs RE2 refuses, by the start of the text it stopped at: [test, feature, what to say]. */
const UNSUPPORTED: [RegExp, string, string][] = [
  [/^\(\?=/, 'lookahead', 'a lookahead (?=…)'],
  [/^\(\?!/, 'lookahead', 'a negative lookahead (?!…)'],
  [/^\(\?<[=!]/, 'capture in lookbehind', 'a capture group inside a lookbehind (write (?:…) inside it)'],
  [/^\(\?>/, 'atomic group', 'an atomic group (?>…)'],
  [/^\(\?\(/, 'conditional group', 'a conditional group (?(…)…)'],
  [/^\(\?#/, 'comment group', 'a comment group (?#…)'],
  [/^\(\?P[=>]/, 'backreference', 'a named backreference or recursion (?P=…)'],
  [/^\(\?[a-zA-Z-]*x/, 'extended mode', 'extended mode (?x)'],
  [/^\(\?[a-zA-Z-]*[^imsU:)-]/, 'inline flag', 'an inline flag other than i, m, s, U'],
  [/^\\[1-9]/, 'backreference', 'a backreference \\N'],
  [/^\\[kg]/, 'backreference', 'a named or relative backreference (\\k, \\g)'],
  [/^(?:[*+?]|\{\d*,?\d*\})\+$/, 'possessive quantifier', 'a possessive quantifier (++, *+, ?+)'],
  [/^\\[GZ]/, 'anchor', 'the anchor \\G or \\Z (write \\z or $)'],
];

/** The construct RE2 refused, from the fragment its error message quotes: [feature, description]. */
export function unsupportedFeature(message: string): [string, string] | undefined {
  if (/invalid capture in lookbehind/.test(message)) return [UNSUPPORTED[2]![1], UNSUPPORTED[2]![2]];
  const m = /`([^`]*)`/.exec(message);
  if (m) {
    for (const [re, feature, text] of UNSUPPORTED) if (re.test(m[1]!)) return [feature, text];
  }
  return undefined;
}

/** `\uXXXX` → `\x{XXXX}`; every other escape is left as written. */
function translate(pattern: string): string {
  if (!pattern.includes('\\u')) return pattern;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const hex = /^u([0-9a-fA-F]{4})/.exec(pattern.slice(i + 1, i + 6));
    if (hex) {
      out += `\\x{${hex[1]}}`;
      i += 5;
    } else {
      out += c + (pattern[i + 1] ?? '');
      i++;
    }
  }
  return out;
}

/**
 * Compile one Sigma regular expression. Throws RuleRefusal naming the field and the unsupported
 * construct; `at` is the rule path (for the line number) and `field` the Sigma field, if any.
 */
export function compileSigmaRegex(pattern: string, flags: RegexFlags = {}, field?: string, at: (string | number)[] = []): SigmaRegex {
  let f = RE2JS.LOOKBEHINDS;
  if (flags.i) f |= RE2JS.CASE_INSENSITIVE;
  if (flags.m) f |= RE2JS.MULTILINE;
  if (flags.s) f |= RE2JS.DOTALL;
  try {
    return RE2JS.compile(translate(pattern), f);
  } catch (e) {
    const msg = (e as Error).message;
    const found = unsupportedFeature(msg);
    const where = field === undefined ? 'keyword regular expression' : `regular expression on field "${field}"`;
    if (found) {
      throw new RuleRefusal(
        `regex ${found[0]}`,
        `${where} ${JSON.stringify(pattern)} uses ${found[1]}, which needs backtracking: rules run on RE2 (linear time, so a crafted line cannot stall detection); rewrite the pattern without it`,
        at,
      );
    }
    throw new RuleRefusal('modifier re', `${where} ${JSON.stringify(pattern)} is not valid RE2 syntax: ${msg.replace(/^error parsing regexp: /, '')}`, at);
  }
}
