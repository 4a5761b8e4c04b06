/*
 * What enrichment adds to an event (`fabric.reputation`, its `threat.enrichments` entries) is frozen,
 * so events enriched alike can share it: nothing after the enrichment stage changes these objects,
 * and freezing turns a change that would reach other events into a TypeError at the line that
 * tried it. Copying them per event instead was the largest cost of a cached enrichment
 * (bench/enrichment; the figures are in docs/enrichment.md).
 */

type Obj = Record<string, unknown>;

/**
 * Freeze `root` and everything it holds, and return it. Iterative: plugin `evidence` comes from code
 * we do not trust and may be nested deeper than the stack. An object already frozen is taken as
 * done (everything this freezes, it freezes whole). Typed arrays cannot be frozen and stay as they
 * are. Plugin `evidence` is frozen with the rest: the verdict cache keeps it and never changes it.
 */
export function freezeDeep<T>(root: T): T {
  const todo: unknown[] = [root];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v === null || typeof v !== 'object' || Object.isFrozen(v) || ArrayBuffer.isView(v)) continue;
    Object.freeze(v);
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) todo.push(v[i]);
    else for (const k in v) if (Object.hasOwn(v, k)) todo.push((v as Obj)[k]);
  }
  return root;
}

/**
 * A frozen threat.enrichments entry (threatEnrichments' shape) matched in `field`: the entry itself
 * when it already says so, else a new entry sharing its indicator, verdict and source.
 */
export function enrichmentForField(e: Obj, field: string | undefined): Obj {
  const matched = e.matched as { atomic: unknown; field?: string; type: unknown };
  if (matched.field === field) return e;
  return Object.freeze({
    indicator: e.indicator,
    matched: Object.freeze({ atomic: matched.atomic, field, type: matched.type }),
    verdict: e.verdict,
    source: e.source,
  });
}
