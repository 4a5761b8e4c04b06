import type { ExtractorConfig, LogsourceMapping } from './config.js';
import { BUILTIN_EXTRACTORS, FAST_PARSERS, POST_PROCESSORS } from './extract/builtin.js';
import { compileExtractor, type CompiledExtractor, type ExtractionTarget } from './extract/extractor.js';
import { auditText, planAuditJoin, type JoinedFields } from './extract/auditd-join.js';
import { CompileSession, EvalContext, KEYWORD_VALUE, KEYWORDS, WHOLE_EVENT, type FlatRecord } from './sigma/context.js';
import { LogsourceResolver } from './sigma/logsource.js';
import { compileRule, type CompiledRule, type SigmaRule } from './sigma/rule.js';
import type { Predicate } from './sigma/values.js';
import type { RecordBatchResult, TextScanResult } from './protocol.js';

export type { TextScanResult } from './protocol.js';

/** Everything needed to build an engine; plain data, so it can be sent to workers. */
export interface EngineSpec {
  rules: SigmaRule[];
  logsources?: LogsourceMapping[];
  /** The shipped mappings as parsed on the main thread, so workers need not parse core/logsources again. */
  builtinLogsources?: LogsourceMapping[];
  extractors?: ExtractorConfig[];
  builtinExtractors?: boolean;
  keywordFields?: string[];
  maxLineBytes?: number;
}

/** What the main thread needs to annotate a detection (no closures). */
export interface RuleInfo {
  index: number;
  id: string;
  name: string;
  title: string;
  description: string;
  author: string | undefined;
  references: string[];
  level: CompiledRule['level'];
  techniques: string[];
  tactics: string[];
}

export function ruleInfo(r: CompiledRule): RuleInfo {
  return {
    index: r.index,
    id: r.id,
    name: r.name,
    title: r.title,
    description: r.description,
    author: r.author,
    references: r.references,
    level: r.level,
    techniques: r.techniques,
    tactics: r.tactics,
  };
}

interface RuleGroup {
  gate: Predicate | undefined;
  rules: CompiledRule[];
  /** Rules evaluated on every record of the group (no prefilter, or one over other fields). */
  plain: CompiledRule[];
  /** Rules with a prefilter: reached through the literals found in the fields it names. */
  byLiteral: (CompiledRule[] | undefined)[] | undefined;
  /** The fields (automata) those prefilters scan; an array value makes all its rules candidates. */
  scans: { a: number; path: string; slot: number; rules: CompiledRule[] }[];
}

export class DetectionEngine {
  readonly rules: CompiledRule[];
  readonly extractors: CompiledExtractor[];
  private readonly groups: RuleGroup[];
  private readonly ctx: EvalContext;
  private readonly maxLine: number;
  /** Paths written by extractors for the current record; the object is built only when asked for. */
  private extractedKeys: string[] = [];
  private readonly target: ExtractionTarget;
  private readonly processSlot: number;
  /** Per rule: the record number it was last considered for, so a rule reached by two literals runs once. */
  private readonly candidate: Int32Array;
  private record = 0;
  /** Extractors whose fields rules (or other eager extractors) read: run before matching. */
  private readonly eager: CompiledExtractor[];
  /** The rest: run only when their fields are wanted (a match with fields requested, or pipeline events). */
  private readonly deferred: CompiledExtractor[];
  private readonly eagerIdx: Int32Array;
  private readonly deferredIdx: Int32Array;
  /**
   * Where evaluation is, for a watchdog on another thread (see `watch`): [0] = 1 + record index
   * (records.length + 1 when done), [1] = rule index, or -2 - extractor index while an extractor runs.
   */
  private probe: Int32Array<ArrayBufferLike> = new Int32Array(2);

  constructor(spec: EngineSpec) {
    // Keywords search the whole event by default (Sigma specification); keyword_fields narrows it.
    const keywordFields = spec.keywordFields ?? [WHOLE_EVENT];
    const session = new CompileSession();
    session.recording = new Set(keywordFields.filter((f) => f !== WHOLE_EVENT));
    const resolver = new LogsourceResolver(session, spec.logsources ?? [], spec.builtinLogsources);
    this.rules = spec.rules.map((r, i) => compileRule(r, i, resolver, session));
    const ruleReads = session.recording;
    session.recording = undefined;
    // Keywords over the whole event read every field, extracted ones too (decoded auditd arguments).
    if (keywordFields.includes(WHOLE_EVENT) && (session.automata.has(KEYWORDS) || session.slots.has(KEYWORD_VALUE))) ruleReads.add(WHOLE_EVENT);
    const byGate = new Map<string, RuleGroup>();
    for (const r of this.rules) {
      let g = byGate.get(r.gateKey);
      if (!g) byGate.set(r.gateKey, (g = { gate: r.gate, rules: [], plain: [], byLiteral: undefined, scans: [] }));
      g.rules.push(r);
    }
    this.groups = [...byGate.values()];
    this.candidate = new Int32Array(this.rules.length);
    const builtins = spec.builtinExtractors === false ? [] : BUILTIN_EXTRACTORS;
    this.extractors = [...builtins, ...(spec.extractors ?? [])].map((e) =>
      compileExtractor(
        e,
        session,
        'post' in e && typeof e.post === 'string' ? POST_PROCESSORS[e.post] : undefined,
        'fast' in e && typeof e.fast === 'string' ? FAST_PARSERS[e.fast] : undefined,
      ),
    );
    this.processSlot = session.slot('process.name');
    [this.eager, this.deferred] = splitExtractors(this.extractors, ruleReads);
    this.eagerIdx = Int32Array.from(this.eager, (e) => this.extractors.indexOf(e));
    this.deferredIdx = Int32Array.from(this.deferred, (e) => this.extractors.indexOf(e));
    this.ctx = new EvalContext(session, keywordFields);
    // Index after the session is final: literal id → rules whose prefilter names it.
    for (const g of this.groups) {
      for (const r of g.rules) {
        const pf = r.prefilter;
        if (pf === undefined) {
          g.plain.push(r);
          continue;
        }
        g.byLiteral ??= [];
        for (const x of pf.groups) {
          let scan = g.scans.find((s) => s.a === x.a && s.path === x.path);
          if (!scan) g.scans.push((scan = { a: x.a, path: x.path, slot: x.path === KEYWORDS ? -1 : session.slot(x.path), rules: [] }));
          if (!scan.rules.includes(r)) scan.rules.push(r);
          for (const id of x.ids) if (!(g.byLiteral[id] ??= []).includes(r)) g.byLiteral[id]!.push(r);
        }
      }
    }
    this.maxLine = spec.maxLineBytes ?? 65536;
    const self = this;
    this.target = {
      ctx: this.ctx,
      set(path, value) {
        self.ctx.rec[path] = value;
        self.ctx.forget(path);
        self.extractedKeys.push(path);
      },
    };
  }

  info(): RuleInfo[] {
    return this.rules.map(ruleInfo);
  }

  /** Report progress into `probe` (a SharedArrayBuffer view) so a stalled record can be named from outside. */
  watch(probe: Int32Array | undefined): void {
    this.probe = probe ?? new Int32Array(2);
  }

  /**
   * Extract fields into `rec` (mutated) and return the indexes of matching rules. Extracted
   * fields are available from `lastExtracted()` until the next call.
   */
  evaluate(rec: FlatRecord, fields: 'all' | 'matches' | 'none' = 'all', joined?: JoinedFields): number[] | undefined {
    const ctx = this.ctx.reset(rec);
    this.extractedKeys.length = 0;
    // Fields of the other records of the same audit event (auditd-join.ts), as if extracted.
    if (joined) for (const [path, value] of joined) if (rec[path] === undefined) this.target.set(path, value);
    this.runExtractors(this.eager, this.eagerIdx, rec);
    let out: number[] | undefined;
    if (++this.record > 0x3fffffff) {
      this.candidate.fill(0);
      this.record = 1;
    }
    const stamp = this.record;
    for (const g of this.groups) {
      if (g.gate && !g.gate(ctx)) continue;
      for (const r of g.plain) {
        this.probe[1] = r.index;
        if ((r.prefilter === undefined || r.prefilter(ctx)) && r.match(ctx)) (out ??= []).push(r.index);
      }
      const byLit = g.byLiteral;
      if (byLit === undefined) continue;
      for (let s = 0; s < g.scans.length; s++) {
        const sc = g.scans[s]!;
        let text: string | undefined;
        if (sc.slot === -1) text = ctx.keywordText();
        else {
          const v = rec[sc.path];
          if (v === undefined || v === null) continue;
          if (typeof v === 'object') {
            // Array values are matched element by element; the scan cannot rule their rules out.
            for (const r of sc.rules) out = this.consider(r, stamp, out);
            continue;
          }
          text = ctx.lower(sc.slot, sc.path);
          if (text === '') continue;
        }
        if (text === undefined) continue;
        const found = ctx.foundIn(sc.a, text);
        for (let i = 0; i < found.length; i++) {
          const rs = byLit[found[i]!];
          if (rs !== undefined) for (let j = 0; j < rs.length; j++) out = this.consider(rs[j]!, stamp, out);
        }
      }
    }
    if (out && out.length > 1) out.sort((x, y) => x - y);
    if (this.deferred.length && (fields === 'all' || (fields === 'matches' && out))) this.runExtractors(this.deferred, this.deferredIdx, rec);
    return out;
  }

  private consider(r: CompiledRule, stamp: number, out: number[] | undefined): number[] | undefined {
    if (this.candidate[r.index] === stamp) return out;
    this.candidate[r.index] = stamp;
    this.probe[1] = r.index;
    if (r.prefilter!(this.ctx) && r.match(this.ctx)) (out ??= []).push(r.index);
    return out;
  }

  private runExtractors(exs: CompiledExtractor[], idx: Int32Array, rec: FlatRecord): void {
    const ctx = this.ctx;
    for (let i = 0; i < exs.length; i++) {
      const ex = exs[i]!;
      this.probe[1] = -2 - idx[i]!;
      if (ex.programs) {
        const p = rec['process.name'];
        if (typeof p !== 'string' || !ex.programs.has(ctx.lower(this.processSlot, 'process.name')!)) continue;
      } else if (ex.when && !ex.when(ctx)) continue;
      let text: unknown;
      for (const s of ex.source) {
        text = rec[s];
        if (text !== undefined && text !== null) break;
      }
      if (typeof text !== 'string') continue;
      ex.apply(text.length > this.maxLine ? text.slice(0, this.maxLine) : text, this.target);
    }
  }

  /** Evaluate pipeline events (flattened); long string fields are cut to the line cap first. */
  evaluateBatch(records: FlatRecord[]): RecordBatchResult {
    const matches: (number[] | 0)[] = new Array(records.length);
    const extracted: (FlatRecord | 0)[] = new Array(records.length);
    let truncated = 0;
    const probe = this.probe;
    const joins = planAuditJoin(records.map(auditText));
    for (let i = 0; i < records.length; i++) {
      Atomics.store(probe, 0, i + 1);
      const rec = records[i]!;
      for (const k in rec) {
        const v = rec[k];
        if (typeof v === 'string' && v.length > this.maxLine) {
          rec[k] = v.slice(0, this.maxLine);
          truncated++;
        }
      }
      matches[i] = this.evaluate(rec, 'all', joins.get(i)) ?? 0;
      extracted[i] = this.lastExtracted() ?? 0;
    }
    Atomics.store(probe, 0, records.length + 1);
    return { matches, extracted, truncated };
  }

  lastExtracted(): FlatRecord | undefined {
    const keys = this.extractedKeys;
    if (keys.length === 0) return undefined;
    const rec = this.ctx.rec;
    const out: FlatRecord = {};
    for (const k of keys) out[k] = rec[k];
    return out;
  }

  /** Evaluate raw log lines (newline-separated), as the offline scan and the benchmark do. */
  scanText(text: string, withFields = false): TextScanResult {
    const hits: number[] = [];
    const fields: Record<number, FlatRecord> | undefined = withFields ? {} : undefined;
    let truncated = 0;
    let line = 0;
    let start = 0;
    const len = text.length;
    // Audit records of one event are joined before matching; the plan needs the lines up front.
    const joins = text.includes('msg=audit(') ? planAuditJoin(text.split('\n').map((l) => auditText({ message: l.endsWith('\r') ? l.slice(0, -1) : l }))) : undefined;
    while (start < len) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = len;
      let l = text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
      start = end + 1;
      if (l.length > this.maxLine) {
        l = l.slice(0, this.maxLine);
        truncated++;
      }
      if (l.length !== 0) {
        const rec: FlatRecord = { 'event.original': l, message: l };
        const m = this.evaluate(rec, withFields ? 'matches' : 'none', joins?.get(line));
        if (m) {
          for (const r of m) hits.push(line, r);
          if (fields) fields[line] = this.lastExtracted() ?? {};
        }
      }
      line++;
    }
    return { lines: line, hits: Int32Array.from(hits), ...(fields ? { fields } : {}), truncated };
  }
}

/**
 * Split extractors into those that must run before matching and those that can wait. An extractor
 * is eager when a rule reads one of its fields, or a later eager extractor's `when` or source does.
 */
function splitExtractors(all: CompiledExtractor[], ruleReads: Set<string>): [CompiledExtractor[], CompiledExtractor[]] {
  const feeds = (out: string, reads: Set<string>) => (out.endsWith('.') || out === '' ? [...reads].some((w) => w.startsWith(out)) : reads.has(out));
  // Walk backwards: an extractor only feeds the rules and the eager extractors that run after it.
  const wanted = new Set(ruleReads);
  const eager = new Set<CompiledExtractor>();
  for (let i = all.length - 1; i >= 0; i--) {
    const ex = all[i]!;
    // Keywords over the whole event need the text only decoding extractors add (auditd hex, JSON).
    if (!(ex.derives && wanted.has(WHOLE_EVENT)) && !ex.outputs.some((o) => feeds(o, wanted))) continue;
    eager.add(ex);
    for (const r of ex.reads) wanted.add(r);
  }
  return [all.filter((e) => eager.has(e)), all.filter((e) => !eager.has(e))];
}
