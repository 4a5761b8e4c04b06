/**
 * Sigma string values: `*` any run of characters, `?` one character, `\*` `\?` `\\` literals,
 * any other backslash is itself. Matching is case-insensitive unless `cased`; callers pass the
 * already lower-cased field value in that case, so patterns are lower-cased once here.
 */
export type StringTest = (s: string) => boolean;
export type MatchMode = 'equals' | 'contains' | 'startswith' | 'endswith';

type Token = { lit: string } | { star: true } | { one: true };

export function tokenize(pattern: string): Token[] {
  const out: Token[] = [];
  let lit = '';
  const flush = () => {
    if (lit) out.push({ lit });
    lit = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === '*' || n === '?' || n === '\\') {
        lit += n;
        i++;
      } else lit += '\\';
    } else if (c === '*') {
      flush();
      if (!(out.length && 'star' in out[out.length - 1]!)) out.push({ star: true });
    } else if (c === '?') {
      flush();
      out.push({ one: true });
    } else lit += c;
  }
  flush();
  return out;
}

/** Sigma escaping for a plain string that should match literally. */
export function escapeWildcards(s: string): string {
  return s.replace(/[\\*?]/g, (c) => '\\' + c);
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

export function compileWildcard(pattern: string, mode: MatchMode, cased: boolean): StringTest {
  let tokens = tokenize(cased ? pattern : pattern.toLowerCase());
  const isStar = (t: Token | undefined) => t !== undefined && 'star' in t;
  if ((mode === 'contains' || mode === 'endswith') && !isStar(tokens[0])) tokens = [{ star: true }, ...tokens];
  if ((mode === 'contains' || mode === 'startswith') && !isStar(tokens[tokens.length - 1])) tokens = [...tokens, { star: true }];

  const lits = tokens.filter((t): t is { lit: string } => 'lit' in t);
  const hasOne = tokens.some((t) => 'one' in t);
  const starCount = tokens.length - lits.length;
  if (!hasOne) {
    if (tokens.length === 0) return (s) => s === '';
    if (starCount === tokens.length) return () => true;
    if (tokens.length === 1) {
      const l = lits[0]!.lit;
      return (s) => s === l;
    }
    if (tokens.length === 3 && isStar(tokens[0]) && isStar(tokens[2])) {
      const l = lits[0]!.lit;
      return (s) => s.includes(l);
    }
    if (tokens.length === 2 && isStar(tokens[1])) {
      const l = lits[0]!.lit;
      return (s) => s.startsWith(l);
    }
    if (tokens.length === 2 && isStar(tokens[0])) {
      const l = lits[0]!.lit;
      return (s) => s.endsWith(l);
    }
  }
  // General case: an anchored regex; the longest literal is a cheap necessary pre-check.
  const src = tokens.map((t) => ('lit' in t ? reEscape(t.lit) : 'star' in t ? '[\\s\\S]*' : '[\\s\\S]')).join('');
  const re = new RegExp(`^${src}$`);
  const longest = lits.reduce((a, t) => (t.lit.length > a.length ? t.lit : a), '');
  if (longest.length >= 2) return (s) => s.includes(longest) && re.test(s);
  return (s) => re.test(s);
}
