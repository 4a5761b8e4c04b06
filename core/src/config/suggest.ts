import { distance } from 'fastest-levenshtein';

/**
 * The allowed value a mistyped one most likely meant ("jsnl" → "jsonl"), or undefined when none is
 * close: a suggestion that is far off misleads more than it helps.
 */
export function closestMatch(input: string, candidates: readonly string[]): string | undefined {
  // Bounded: a hostile value must not make us compare megabytes of text.
  if (input.length === 0 || input.length > 200) return undefined;
  let best: { value: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(input.toLowerCase(), c.toLowerCase());
    // Two edits (a swapped pair) or a third of the word, and never all of it.
    if (d <= Math.max(2, Math.floor(c.length / 3)) && d < Math.min(c.length, input.length) && (!best || d < best.d)) best = { value: c, d };
  }
  return best?.value;
}

/** "must be one of: a, b, c" with a "did you mean" when the value is a near miss of one of them. */
export function allowedValues(allowed: readonly unknown[], got: unknown): string {
  const shown = allowed.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  const near =
    typeof got === 'string'
      ? closestMatch(
          got,
          allowed.filter((v): v is string => typeof v === 'string'),
        )
      : undefined;
  return `must be one of: ${shown}${near !== undefined && near !== got ? ` (did you mean ${near}?)` : ''}`;
}
