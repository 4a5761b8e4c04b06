import { RuleRefusal } from './errors.js';

/**
 * Sigma condition grammar, lowest to highest precedence:
 *   or  := and ("or" and)*
 *   and := not ("and" not)*
 *   not := "not" not | primary
 *   primary := "(" or ")" | ("1" | "any" | "all") "of" (pattern | "them") | identifier
 */
export type ConditionNode = { op: 'or' | 'and'; args: ConditionNode[] } | { op: 'not'; arg: ConditionNode } | { op: 'id'; name: string };

const AT = ['detection', 'condition'];

function tokenizeCondition(src: string): string[] {
  if (src.includes('|')) {
    throw new RuleRefusal('aggregation', `aggregation expressions ("| count() ..." in the condition) are not supported; use a correlation rule`, AT);
  }
  const tokens: string[] = [];
  const re = /\s*(\(|\)|[^\s()]+)/gy;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(src)) !== null) {
    tokens.push(m[1]!);
    last = re.lastIndex;
  }
  if (src.slice(last).trim() !== '') throw new RuleRefusal('condition syntax', `cannot read condition near "${src.slice(last)}"`, AT);
  return tokens;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  );
}

/** Parse a condition against the rule's search identifiers (for `x of` patterns and unknown names). */
export function parseCondition(src: string, identifiers: string[]): ConditionNode {
  const tokens = tokenizeCondition(src);
  let pos = 0;
  const peek = () => tokens[pos]?.toLowerCase();
  const fail = (msg: string): never => {
    throw new RuleRefusal('condition syntax', `condition "${src}": ${msg}`, AT);
  };

  function parseOr(): ConditionNode {
    const args = [parseAnd()];
    while (peek() === 'or') {
      pos++;
      args.push(parseAnd());
    }
    return args.length === 1 ? args[0]! : { op: 'or', args };
  }
  function parseAnd(): ConditionNode {
    const args = [parseNot()];
    while (peek() === 'and') {
      pos++;
      args.push(parseNot());
    }
    return args.length === 1 ? args[0]! : { op: 'and', args };
  }
  function parseNot(): ConditionNode {
    if (peek() === 'not') {
      pos++;
      return { op: 'not', arg: parseNot() };
    }
    return parsePrimary();
  }
  function parsePrimary(): ConditionNode {
    const t = tokens[pos];
    if (t === undefined) return fail('ends too early');
    const lower = t.toLowerCase();
    if (t === '(') {
      pos++;
      const inner = parseOr();
      if (tokens[pos] !== ')') fail('missing ")"');
      pos++;
      return inner;
    }
    if (t === ')' || lower === 'and' || lower === 'or') return fail(`unexpected "${t}"`);
    if (tokens[pos + 1]?.toLowerCase() === 'of') {
      const quant = lower;
      if (quant !== '1' && quant !== 'any' && quant !== 'all') {
        throw new RuleRefusal('condition quantifier', `"${t} of" is not supported: Sigma defines only "1 of" and "all of"`, AT);
      }
      const target = tokens[pos + 2];
      if (target === undefined || target === '(' || target === ')') return fail(`"${t} of" needs a pattern or "them"`);
      pos += 3;
      const names = target.toLowerCase() === 'them' ? identifiers.filter((n) => !n.startsWith('_')) : identifiers.filter((n) => globToRegExp(target).test(n));
      if (names.length === 0) return fail(`"${t} of ${target}" matches no search identifier`);
      const args: ConditionNode[] = names.map((name) => ({ op: 'id', name }));
      if (args.length === 1) return args[0]!;
      return { op: quant === 'all' ? 'and' : 'or', args };
    }
    pos++;
    if (!identifiers.includes(t)) return fail(`"${t}" is not a search identifier of this rule (known: ${identifiers.join(', ')})`);
    return { op: 'id', name: t };
  }

  if (tokens.length === 0) fail('is empty');
  const node = parseOr();
  if (pos !== tokens.length) fail(`unexpected "${tokens[pos]}"`);
  return node;
}

export function compileCondition<C>(node: ConditionNode, searches: Map<string, (ctx: C) => boolean>): (ctx: C) => boolean {
  switch (node.op) {
    case 'id': {
      const f = searches.get(node.name);
      if (!f) throw new RuleRefusal('condition syntax', `unknown search identifier "${node.name}"`, AT);
      return f;
    }
    case 'not': {
      const f = compileCondition(node.arg, searches);
      return (ctx) => !f(ctx);
    }
    case 'and': {
      const fs = node.args.map((a) => compileCondition(a, searches));
      if (fs.length === 2) {
        const [a, b] = fs as [(c: C) => boolean, (c: C) => boolean];
        return (ctx) => a(ctx) && b(ctx);
      }
      return (ctx) => {
        for (const f of fs) if (!f(ctx)) return false;
        return true;
      };
    }
    case 'or': {
      const fs = node.args.map((a) => compileCondition(a, searches));
      return (ctx) => {
        for (const f of fs) if (f(ctx)) return true;
        return false;
      };
    }
  }
}
