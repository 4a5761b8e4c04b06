import { LiteralAutomaton } from './literals.js';

/**
 * What a compiled rule reads: a flat record keyed by dotted ECS path. Per-record caches (lower-
 * cased values, literal scans) are stamped with a generation number, so starting the next record
 * costs one increment instead of clearing anything.
 */
export type FlatRecord = Record<string, unknown>;

/** The pseudo-field Sigma keywords search: the whole event (or the configured keyword_fields). */
export const KEYWORDS = '\u0000keywords';

/**
 * Where a keyword that is not a plain literal (wildcards, `cased`, `re`, …) sees one value of the
 * event at a time: such a pattern must match inside one value, never across two.
 */
export const KEYWORD_VALUE = '\u0000keyword-value';

/** Collection metadata the pipeline and sources add; keywords do not search it. */
const NOT_CONTENT = new Set(['@timestamp', 'event.ingested', 'event.id', 'event.kind', 'log.file.path', 'log.offset', 'log.flags']);

/** keyword_fields entry meaning "every value of the event" (the Sigma specification). */
export const WHOLE_EVENT = '*';

/**
 * Joins the values keyword literals are searched in: no Sigma literal contains NUL, so a literal
 * found in the joined text lies inside one value.
 */
const SEP = '\u0000';

/** Compile-time registry shared by every rule and extractor of one engine. */
export class CompileSession {
  readonly slots = new Map<string, number>();
  readonly automata = new Map<string, { index: number; auto: LiteralAutomaton; lits: Map<string, number> }>();
  literalCount = 0;
  finalized = false;

  /** While set, every field path a compiled predicate reads is added here. */
  recording: Set<string> | undefined;

  slot(path: string): number {
    this.recording?.add(path);
    let s = this.slots.get(path);
    if (s === undefined) this.slots.set(path, (s = this.slots.size));
    return s;
  }

  /** Register a lower-cased literal searched in `path` (or KEYWORDS); returns [automaton, literal id]. */
  containsLiteral(path: string, lit: string): [number, number] {
    let a = this.automata.get(path);
    if (!a) this.automata.set(path, (a = { index: this.automata.size, auto: new LiteralAutomaton(), lits: new Map() }));
    let id = a.lits.get(lit);
    if (id === undefined) {
      id = this.literalCount++;
      a.lits.set(lit, id);
      a.auto.add(lit, id);
    }
    return [a.index, id];
  }

  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    for (const a of this.automata.values()) a.auto.build();
  }
}

/** `text` with `v` appended (NUL-separated) unless `v` is empty or already inside `original`. */
function withValue(text: string | undefined, v: unknown, original: string | undefined): string | undefined {
  let s: string;
  if (typeof v === 'string') {
    if (v === '') return text;
    s = v;
  } else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else return text;
  if (original !== undefined && s.length <= original.length && original.includes(s)) return text;
  return text === undefined ? s : text + SEP + s;
}

export class EvalContext {
  rec: FlatRecord = {};
  private gen = 1;
  private readonly lcGen: Int32Array;
  private readonly lcVal: (string | undefined)[];
  private readonly found: Int32Array;
  private readonly scanned: Int32Array;
  /** Stamp of the latest scan per automaton: a rescan after a rewrite must not see the old text's hits. */
  private readonly scanStamp: Int32Array;
  private stamp = 0;
  private readonly foundLists: number[][];
  private readonly autos: { path: string; auto: LiteralAutomaton }[];
  private readonly slots: Map<string, number>;
  /** undefined: keywords search every value of the event; else only these fields. */
  private readonly keywordFields: readonly string[] | undefined;
  private readonly autoByPath: Map<string, number>;
  private kwGen = 0;
  private kwText: string | undefined;
  private readonly kwAuto: number;

  constructor(session: CompileSession, keywordFields: readonly string[] = [WHOLE_EVENT]) {
    session.finalize();
    this.keywordFields = keywordFields.includes(WHOLE_EVENT) ? undefined : keywordFields;
    this.slots = session.slots;
    this.lcGen = new Int32Array(session.slots.size + 1);
    this.lcVal = new Array(session.slots.size + 1);
    this.found = new Int32Array(session.literalCount + 1);
    this.autos = [...session.automata.entries()].sort((a, b) => a[1].index - b[1].index).map(([path, a]) => ({ path, auto: a.auto }));
    this.scanned = new Int32Array(this.autos.length + 1);
    this.scanStamp = new Int32Array(this.autos.length + 1);
    this.foundLists = this.autos.map(() => []);
    this.autoByPath = new Map(this.autos.map((a, i) => [a.path, i]));
    this.kwAuto = this.autoByPath.get(KEYWORDS) ?? -1;
  }

  reset(rec: FlatRecord): this {
    this.rec = rec;
    if (++this.gen > 0x3fffffff || this.stamp > 0x3fffffff) {
      this.gen = 1;
      this.lcGen.fill(0);
      this.found.fill(0);
      this.scanned.fill(0);
      this.scanStamp.fill(0);
      this.stamp = 0;
      this.kwGen = 0;
    }
    return this;
  }

  private readonly invalidation = new Map<string, { slot: number; autos: number[]; kw: boolean }>();

  /** An extractor rewrote `path`: drop what was cached from its old value. */
  forget(path: string): void {
    let inv = this.invalidation.get(path);
    if (inv === undefined) {
      const autos: number[] = [];
      const a = this.autoByPath.get(path);
      if (a !== undefined) autos.push(a);
      // Keywords read the event's values: a write to one they search changes their text too.
      const kw = path !== KEYWORD_VALUE && (this.keywordFields === undefined || this.keywordFields.includes(path));
      if (kw && this.kwAuto !== -1) autos.push(this.kwAuto);
      this.invalidation.set(path, (inv = { slot: this.slots.get(path) ?? -1, autos, kw }));
    }
    if (inv.slot !== -1) this.lcGen[inv.slot] = 0;
    if (inv.kw) this.kwGen = 0;
    for (let i = 0; i < inv.autos.length; i++) this.scanned[inv.autos[i]!] = 0;
  }

  get(path: string): unknown {
    return this.rec[path];
  }

  /** Lower-cased string form of a scalar field, cached for this record. */
  lower(slot: number, path: string): string | undefined {
    if (this.lcGen[slot] === this.gen) return this.lcVal[slot];
    const v = this.rec[path];
    const s = v === undefined || v === null || typeof v === 'object' ? undefined : String(v).toLowerCase();
    this.lcGen[slot] = this.gen;
    this.lcVal[slot] = s;
    return s;
  }

  /** Whether keywords search `key` (a field of the record). */
  private searched(key: string): boolean {
    if (this.keywordFields !== undefined) return this.keywordFields.includes(key);
    // Where and when the event was collected is bookkeeping, not what the event says: a hex event
    // id or a log file's path must not satisfy a keyword.
    return key !== KEYWORD_VALUE && !NOT_CONTENT.has(key) && !key.startsWith('fabric.');
  }

  /**
   * Every value keywords search, as strings (arrays element by element): the whole event as the
   * Sigma specification says — the original line with its header, the source's own fields and
   * what extractors found (decoded auditd arguments, …).
   */
  keywordValues(): string[] {
    const out: string[] = [];
    const rec = this.rec;
    const add = (v: unknown) => {
      if (typeof v === 'string') {
        if (v !== '') out.push(v);
      } else if (typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
    };
    for (const k in rec) {
      if (!this.searched(k)) continue;
      const v = rec[k];
      if (Array.isArray(v)) for (const x of v) add(x);
      else add(v);
    }
    return out;
  }

  /**
   * Lower-cased text keyword literals are searched in: the event's values joined by NUL, once per
   * record. Values found inside event.original (the message, the host and program of its header,
   * most extracted fields) are left out: a literal inside them is inside the original already.
   */
  keywordText(): string | undefined {
    if (this.kwGen === this.gen) return this.kwText;
    const rec = this.rec;
    const orig = rec['event.original'];
    const o = typeof orig === 'string' && orig !== '' && this.searched('event.original') ? orig : undefined;
    let text = o;
    for (const k in rec) {
      if (k === 'event.original' || !this.searched(k)) continue;
      const v = rec[k];
      if (Array.isArray(v)) for (const x of v) text = withValue(text, x, o);
      else text = withValue(text, v, o);
    }
    this.kwGen = this.gen;
    return (this.kwText = text?.toLowerCase());
  }

  /**
   * A single field keywords can be read from, for evaluators that test one string: selection.ts
   * routes every non-literal keyword through anyKeywordValue instead, so this only serves callers
   * outside the rule compiler.
   */
  keywordPath(): string | undefined {
    for (const f of this.keywordFields ?? ['event.original', 'message']) {
      const v = this.rec[f];
      if (v !== undefined && v !== null && v !== '') return f;
    }
    return undefined;
  }

  /** Whether `test` holds for one of the values keywords search (each seen through KEYWORD_VALUE). */
  anyKeywordValue(test: (ctx: this) => boolean): boolean {
    const rec = this.rec;
    try {
      for (const v of this.keywordValues()) {
        rec[KEYWORD_VALUE] = v;
        this.forget(KEYWORD_VALUE);
        if (test(this)) return true;
      }
      return false;
    } finally {
      delete rec[KEYWORD_VALUE];
      this.forget(KEYWORD_VALUE);
    }
  }

  private scan(a: number, text: string): void {
    this.scanned[a] = this.gen;
    const stamp = ++this.stamp;
    this.scanStamp[a] = stamp;
    const list = this.foundLists[a]!;
    list.length = 0;
    this.autos[a]!.auto.scan(text, this.found, stamp, list);
  }

  /** Literal ids of automaton `a` found in `text` (scanned once per record). */
  foundIn(a: number, text: string): readonly number[] {
    if (this.scanned[a] !== this.gen) this.scan(a, text);
    return this.foundLists[a]!;
  }

  /** Whether any of the literals `ids` (all of automaton `a`) occurs in `text`. */
  hasAny(a: number, ids: Int32Array, text: string): boolean {
    if (this.scanned[a] !== this.gen) this.scan(a, text);
    const st = this.scanStamp[a]!;
    const found = this.found;
    for (let i = 0; i < ids.length; i++) if (found[ids[i]!] === st) return true;
    return false;
  }

  /** Whether literal `id` occurs in the lower-cased text of automaton `a` (scanned once per record). */
  has(a: number, id: number, text: string): boolean {
    if (this.scanned[a] !== this.gen) this.scan(a, text);
    return this.found[id] === this.scanStamp[a];
  }
}
