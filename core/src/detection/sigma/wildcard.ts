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
  return globMatcher(tokens);
}

/** A run of literal characters and `?` between two `*`: fixed length, `?` at the marked positions. */
interface Segment {
  text: string;
  /** Positions of `?` (any one UTF-16 unit), or undefined when the segment is a plain literal. */
  any: Uint8Array | undefined;
}

function segmentAt(seg: Segment, s: string, p: number): boolean {
  const t = seg.text;
  const any = seg.any!;
  for (let i = 0; i < t.length; i++) if (any[i] === 0 && s.charCodeAt(p + i) !== t.charCodeAt(i)) return false;
  return true;
}

/** Leftmost position >= from where `seg` fits entirely before `limit`, or -1. */
function findSegment(seg: Segment, s: string, from: number, limit: number): number {
  const last = limit - seg.text.length;
  if (seg.any === undefined) {
    const p = s.indexOf(seg.text, from);
    return p !== -1 && p <= last ? p : -1;
  }
  for (let p = from; p <= last; p++) if (segmentAt(seg, s, p)) return p;
  return -1;
}

/**
 * General `*`/`?` pattern. Not a RegExp: `[\s\S]*a[\s\S]*a…` backtracks polynomially in the
 * number of stars on a crafted 64 KB line. Matching each star-separated segment at its leftmost
 * place is exact for glob patterns (a later fit never helps the segments after it) and costs at most
 * line length × segment length per segment.
 */
function globMatcher(tokens: Token[]): StringTest {
  const segs: Segment[] = [];
  let text = '';
  let any: number[] = [];
  const flush = () => {
    segs.push({ text, any: any.length ? Uint8Array.from(Array.from(text, (_, i) => (any.includes(i) ? 1 : 0))) : undefined });
    text = '';
    any = [];
  };
  for (const t of tokens) {
    if ('star' in t) flush();
    else if ('one' in t) {
      any.push(text.length);
      text += '?';
    } else text += t.lit;
  }
  flush();
  const at = (seg: Segment, s: string, p: number) => (seg.any === undefined ? s.startsWith(seg.text, p) : segmentAt(seg, s, p));
  if (segs.length === 1) {
    const only = segs[0]!;
    return (s) => s.length === only.text.length && at(only, s, 0);
  }
  const head = segs[0]!;
  const tail = segs[segs.length - 1]!;
  const middle = segs.slice(1, -1).filter((g) => g.text.length > 0);
  const fixed = head.text.length + tail.text.length;
  return (s) => {
    if (s.length < fixed) return false;
    if (head.text.length && !at(head, s, 0)) return false;
    const limit = s.length - tail.text.length;
    if (tail.text.length && !at(tail, s, limit)) return false;
    let pos = head.text.length;
    for (let i = 0; i < middle.length; i++) {
      const p = findSegment(middle[i]!, s, pos, limit);
      if (p === -1) return false;
      pos = p + middle[i]!.text.length;
    }
    return true;
  };
}
