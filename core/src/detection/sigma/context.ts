import { LiteralAutomaton } from './literals.js';

/**
 * What a compiled rule reads: a flat record keyed by dotted ECS path. Per-record caches (lower-
 * cased values, literal scans) are stamped with a generation number, so starting the next record
 * costs one increment instead of clearing anything.
 */
export type FlatRecord = Record<string, unknown>;

/** The field Sigma keywords search (resolved per record from keyword_fields). */
export const KEYWORDS = '\u0000keywords';

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
  /**
   * Keywords search the first keyword field (message) whenever it is present, so keyword literals
   * share that field's automaton: one scan of the message serves both.
   */
  constructor(private readonly primaryKeywordField = 'message') {}

  containsLiteral(field: string, lit: string): [number, number] {
    const path = field === KEYWORDS ? this.primaryKeywordField : field;
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
  private readonly keywordFields: readonly string[];
  private readonly autoByPath: Map<string, number>;

  private readonly kwSlots: number[];

  constructor(session: CompileSession, keywordFields: readonly string[] = ['message', 'event.original']) {
    this.kwSlots = keywordFields.map((f) => session.slot(f));
    session.finalize();
    this.keywordFields = keywordFields;
    this.slots = session.slots;
    this.lcGen = new Int32Array(session.slots.size + 1);
    this.lcVal = new Array(session.slots.size + 1);
    this.found = new Int32Array(session.literalCount + 1);
    this.autos = [...session.automata.entries()].sort((a, b) => a[1].index - b[1].index).map(([path, a]) => ({ path, auto: a.auto }));
    this.scanned = new Int32Array(this.autos.length + 1);
    this.scanStamp = new Int32Array(this.autos.length + 1);
    this.foundLists = this.autos.map(() => []);
    this.autoByPath = new Map(this.autos.map((a, i) => [a.path, i]));
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
    }
    return this;
  }

  private readonly invalidation = new Map<string, { slot: number; autos: number[] }>();

  /** An extractor rewrote `path`: drop what was cached from its old value. */
  forget(path: string): void {
    let inv = this.invalidation.get(path);
    if (inv === undefined) {
      const autos: number[] = [];
      const a = this.autoByPath.get(path);
      if (a !== undefined) autos.push(a);
      // Keywords read message/event.original: a rewrite of either changes them too.
      const k = this.autoByPath.get(KEYWORDS);
      if (k !== undefined && this.keywordFields.includes(path)) autos.push(k);
      this.invalidation.set(path, (inv = { slot: this.slots.get(path) ?? -1, autos }));
    }
    if (inv.slot !== -1) this.lcGen[inv.slot] = 0;
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

  /** The field Sigma `keywords` search: the first present of the configured keyword fields. */
  keywordPath(): string | undefined {
    for (const f of this.keywordFields) {
      const v = this.rec[f];
      if (v !== undefined && v !== null && v !== '') return f;
    }
    return undefined;
  }

  /** Lower-cased text that keywords search. */
  keywordText(): string | undefined {
    const f = this.keywordFields;
    for (let i = 0; i < f.length; i++) {
      const v = this.rec[f[i]!];
      if (v !== undefined && v !== null && v !== '') return this.lower(this.kwSlots[i]!, f[i]!);
    }
    return undefined;
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
