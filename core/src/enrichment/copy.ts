/*
 * Copies of what one lookup produced, for every event that carries the same indicators: events
 * are mutated downstream, so they must not share objects (the strings inside can be shared).
 */

// Each shape has its own copy function rather than one generic recursive copy: the copies were
// the largest part of a cached enrichment in the profile, and a function that sees one shape keeps
// its property reads monomorphic. Measured only together with the rest of the cached-path rework
// (docs/enrichment.md), not on its own.

type Obj = Record<string, unknown>;

/** A fresh copy of a threat.enrichments entry (threatEnrichments' shape) for another event; the evidence object is shared, as before. */
export function copyEnrichment(e: Obj, field: string | undefined): Obj {
  const matched = e.matched as { atomic: unknown; type: unknown };
  const source = e.source as { enricher: unknown; plugin: unknown };
  return {
    indicator: copyEcsIndicator(e.indicator as Obj),
    matched: { atomic: matched.atomic, field, type: matched.type },
    verdict: copyVerdict(e.verdict as Obj),
    source: { enricher: source.enricher, plugin: source.plugin },
  };
}

/** ecsIndicator's shape: scalars, plus url.{domain|full,original} or file.hash.<type>. */
function copyEcsIndicator(i: Obj): Obj {
  const out = { ...i };
  const url = out.url;
  if (url !== null && typeof url === 'object') out.url = { ...(url as Obj) };
  const file = out.file as { hash?: unknown } | undefined;
  if (file !== null && typeof file === 'object') out.file = { hash: { ...(file.hash as Obj) } };
  return out;
}

/** status, score?, confidence?, evidence? (evidence shared). */
function copyVerdict(v: Obj): Obj {
  return { ...v };
}

/** A copy of a fabric.reputation object as finish() builds it (same key order; strings shared: they cannot change). */
export function copyReputation(r: Obj): Obj {
  const out: Obj = {};
  if (r.score !== undefined) out.score = r.score;
  out.confidence = r.confidence;
  out.verdict = r.verdict;
  out.sources_answered = (r.sources_answered as unknown[]).slice();
  out.sources_unanswered = (r.sources_unanswered as Obj[]).map(copyUnanswered);
  out.indicators = (r.indicators as Obj[]).map(copyIndicatorSummary);
  out.skipped = (r.skipped as Obj[]).map(copySkip);
  if (r.skipped_total !== undefined) out.skipped_total = r.skipped_total;
  const p = r.priority as { from: unknown; to: unknown; reason: unknown };
  out.priority = { from: p.from, to: p.to, reason: p.reason };
  out.explanation = r.explanation;
  return out;
}

function copyUnanswered(u: Obj): Obj {
  return { ...u };
}

function copyIndicatorSummary(i: Obj): Obj {
  return { ...i };
}

function copySkip(s: Obj): Obj {
  return { ...s };
}

/**
 * What a memo keeps of an event's enrichment: a deep copy by the structured-clone algorithm, not by
 * the per-event copy functions above. Measured, not explained: bench/enrichment's warm / baseline
 * ratio was 0.104 on average with this against 0.085 with the memo built by those functions (four
 * alternating runs each, 0.095–0.117 against 0.075–0.101). The suspect is V8's per-allocation-site
 * feedback, which would otherwise see long-lived memo entries and short-lived event copies come
 * from the same sites; --trace-pretenuring-statistics shows tenuring decisions either way.
 */
export function keepForMemo<T>(v: T): T {
  return structuredClone(v);
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
