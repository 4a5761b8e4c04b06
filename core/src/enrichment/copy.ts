/*
 * Copies of what one lookup produced, for every event that carries the same indicators: events
 * are mutated downstream, so they must not share objects (the strings inside can be shared).
 */

/** A fresh copy of a threat.enrichments entry for another event (the evidence object is shared, as before). */
export function copyEnrichment(e: Record<string, unknown>, field: string | undefined): Record<string, unknown> {
  const matched = e.matched as { atomic: unknown; type: unknown };
  const source = e.source as { enricher: unknown; plugin: unknown };
  return {
    indicator: copyPlain(e.indicator),
    matched: { atomic: matched.atomic, field, type: matched.type },
    verdict: copyShallow(e.verdict as Record<string, unknown>),
    source: { enricher: source.enricher, plugin: source.plugin },
  };
}

/** A copy of a fabric.reputation object as finish() builds it (its strings are shared: they cannot change). */
export function copyReputation(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in r) {
    const v = r[k];
    if (k === 'priority') out[k] = copyShallow(v as Record<string, unknown>);
    else if (Array.isArray(v)) out[k] = v.map((x) => (x !== null && typeof x === 'object' ? copyShallow(x as Record<string, unknown>) : x));
    else out[k] = v;
  }
  return out;
}

function copyShallow(v: Record<string, unknown>): Record<string, unknown> {
  // A lone spread clones with the source's own shape (V8's fast path).
  return { ...v };
}

function copyPlain<T>(v: T): T {
  if (Array.isArray(v)) return v.map(copyPlain) as T;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k in v) out[k] = copyPlain((v as Record<string, unknown>)[k]);
    return out as T;
  }
  return v;
}

/** Key order must not change the cache key of an unchanged config. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
